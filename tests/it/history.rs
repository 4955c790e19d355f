//! `statusHistory`: the user's last statuses, newest last, filtered by job, at most `limit`.

use crate::support;

use serde_json::{Value as Json, json};
use support::TestServer;

async fn history(server: &TestServer, args: &str) -> Json {
    let body = server
        .graphql(
            &format!("{{ statusHistory({args}) {{ jobId status timestamp }} }}"),
            json!({}),
        )
        .await;
    body["data"]["statusHistory"].clone()
}

fn statuses(list: &Json) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn newest_last_filtered_by_job_at_most_limit() {
    let server = TestServer::start().await;
    for (user, job, status) in [
        ("u1", "j1", "loading_agents"),
        ("u1", "j1", "invoking_geo_agent"),
        ("u2", "j1", "complete"),
        ("u1", "j2", "validating"),
        ("u1", "j1", "complete"),
    ] {
        server.publish(user, job, status).await;
    }
    let all = history(&server, "userId: \"u1\"").await;
    assert_eq!(
        statuses(&all),
        [
            "loading_agents",
            "invoking_geo_agent",
            "validating",
            "complete"
        ]
    );
    assert!(all[0]["timestamp"].as_str().unwrap() <= all[3]["timestamp"].as_str().unwrap());
    assert_eq!(
        statuses(&history(&server, "userId: \"u1\", jobId: \"j1\"").await),
        ["loading_agents", "invoking_geo_agent", "complete"]
    );
    assert_eq!(
        statuses(&history(&server, "userId: \"u1\", limit: 2").await),
        ["validating", "complete"]
    );
    assert_eq!(
        statuses(&history(&server, "userId: \"u1\", jobId: \"j1\", limit: 1").await),
        ["complete"]
    );
    assert!(statuses(&history(&server, "userId: \"nobody\"").await).is_empty());
    assert!(statuses(&history(&server, "userId: \"u1\", limit: 0").await).is_empty());

    let bad = server
        .graphql(
            "{ statusHistory(userId: \"u1\", limit: -1) { status } }",
            json!({}),
        )
        .await;
    assert_eq!(
        bad["errors"][0]["errorType"], "BadRequestException",
        "{bad}"
    );
}

#[tokio::test]
async fn the_ring_keeps_only_the_newest() {
    let server = TestServer::with_args(&["--history-per-topic", "3"]).await;
    for n in 0..5 {
        server.publish("u", "j", &format!("s{n}")).await;
    }
    assert_eq!(
        statuses(&history(&server, "userId: \"u\"").await),
        ["s2", "s3", "s4"]
    );
}

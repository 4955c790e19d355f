//! `/health` says the process serves; `/ready` says the node can do its job, which on a cluster
//! means Redis answers.

use crate::support;

use std::time::{Duration, Instant};

use support::TestServer;
use support::cluster::node;
use support::redis::RedisServer;

async fn get(server: &TestServer, path: &str) -> (u16, serde_json::Value) {
    let response = switchboard::net::http_client::client()
        .unwrap()
        .get(format!("http://{}{path}", server.addr))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Polls `/ready` until it answers `want`, for at most five seconds.
async fn ready_becomes(server: &TestServer, want: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = get(server, "/ready").await;
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "/ready stayed {status}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_standalone_node_is_alive_and_ready() {
    let server = TestServer::start().await;
    assert_eq!(
        get(&server, "/health").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(
        get(&server, "/ready").await,
        (200, serde_json::json!({"status": "ready"}))
    );
}

#[tokio::test]
async fn a_cluster_node_is_ready_only_while_redis_answers() {
    let mut redis = RedisServer::start().await;
    let server = node(&redis.url(), "health-test", "n1", &[]).await;
    assert_eq!(get(&server, "/ready").await.0, 200);

    redis.stop();
    let body = ready_becomes(&server, 503).await;
    assert_eq!(body["status"], "not ready");
    assert!(body["reason"].as_str().unwrap().contains("Redis"), "{body}");
    assert_eq!(get(&server, "/health").await.0, 200, "alive all the same");

    redis.restart().await;
    ready_becomes(&server, 200).await;
}

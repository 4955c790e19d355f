//! `Idempotency-Key` on `POST /graphql`: a retry with the same key gets the first answer and
//! publishes nothing, on one node and across a cluster, including when the first attempt ran
//! in Redis but its answer was lost (a 503 to the publisher).

use crate::support;

use std::net::SocketAddr;

use serde_json::{Value as Json, json};
use support::cluster::{LinkProxy, history_at, node};
use support::redis::RedisServer;
use support::{KEY, Proto, TestServer, WsClient};

const PUBLISH: &str = "mutation P($input: StatusInput!) { publishStatus(input: $input) { jobId userId status timestamp } }";

/// Publishes `status` for `user` through `addr` with `key`; the HTTP status and body.
async fn publish_with_key(addr: SocketAddr, user: &str, status: &str, key: &str) -> (u16, Json) {
    let response = switchboard::net::http_client::client()
        .unwrap()
        .post(format!("http://{addr}/graphql"))
        .header("x-api-key", KEY)
        .header("idempotency-key", key)
        .json(&json!({"query": PUBLISH, "variables": {"input": {"userId": user, "jobId": "j", "status": status}}}))
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    (code, response.json().await.unwrap())
}

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_first_answer_and_publishes_nothing() {
    let server = TestServer::start().await;
    let mut subscriber = WsClient::ready(&server, Proto::TransportWs).await;
    subscriber.subscribe_live("s", "idem").await;

    let (code, first) = publish_with_key(server.addr, "idem", "validating", "k-1").await;
    assert_eq!(code, 200, "{first}");
    let (code, again) = publish_with_key(server.addr, "idem", "validating", "k-1").await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(again, first, "the first answer, timestamp included");
    let (code, other) = publish_with_key(server.addr, "idem", "complete", "k-2").await;
    assert_eq!(code, 200, "{other}");

    let (_, data) = subscriber.next_data().await;
    assert_eq!(data["onStatusUpdate"]["status"], "validating");
    let (_, data) = subscriber.next_data().await;
    assert_eq!(data["onStatusUpdate"]["status"], "complete");
    subscriber
        .expect_silence(std::time::Duration::from_millis(100))
        .await;
    assert_eq!(
        history_at(server.addr, "idem").await,
        ["validating", "complete"]
    );

    for bad in ["", &"k".repeat(256)] {
        let (code, body) = publish_with_key(server.addr, "idem", "x", bad).await;
        assert_eq!(code, 400, "{body}");
        assert_eq!(
            body["errors"][0]["errorType"], "BadRequestException",
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_leaves_the_status_once_across_a_cluster() {
    let redis = RedisServer::start().await;
    let prefix = format!("idem{}", uuid::Uuid::new_v4().simple());
    let proxy = LinkProxy::start(redis.port).await;
    let publisher = node(&proxy.url(), &prefix, "behind-proxy", &[]).await;
    let other = node(&redis.url(), &prefix, "direct", &[]).await;
    let mut subscriber = WsClient::ready(&other, Proto::AppSync).await;
    subscriber.subscribe_live("s", "lost").await;

    // A first publish loads the script, so the muted one below runs (EVALSHA) rather than
    // failing on NOSCRIPT.
    let (code, body) = publish_with_key(publisher.addr, "warm-up", "x", "warm-up").await;
    assert_eq!(code, 200, "{body}");
    // The script runs in Redis, but its answer never reaches the node: a 503.
    proxy.mute();
    let (code, body) = publish_with_key(publisher.addr, "lost", "complete", "retry-me").await;
    assert_eq!(code, 503, "{body}");
    proxy.cut();
    proxy.restore();

    // The publisher retries until the node's link is back; every retry carries the key.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let answer = loop {
        let (code, body) = publish_with_key(publisher.addr, "lost", "complete", "retry-me").await;
        if code == 200 {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{code}: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(answer["data"]["publishStatus"]["status"], "complete");

    let (_, data) = subscriber.next_data().await;
    assert_eq!(data["onStatusUpdate"]["status"], "complete");
    assert_eq!(
        data["onStatusUpdate"]["timestamp"], answer["data"]["publishStatus"]["timestamp"],
        "the retry answered with the event that was published"
    );
    subscriber
        .expect_silence(std::time::Duration::from_millis(200))
        .await;
    assert_eq!(history_at(other.addr, "lost").await, ["complete"]);
    assert_eq!(history_at(publisher.addr, "lost").await, ["complete"]);
}

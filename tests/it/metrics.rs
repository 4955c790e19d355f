//! `/metrics` in Prometheus text: each metric has the value a scripted run implies.

use crate::support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use support::cluster::node;
use support::redis::RedisServer;
use support::{Proto, TestServer, WsClient};

/// `name{labels} value` lines, keyed by everything before the value.
async fn scrape(server: &TestServer) -> HashMap<String, f64> {
    let response = switchboard::net::http_client::client()
        .unwrap()
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(metrics: &HashMap<String, f64>, name: &str) -> f64 {
    *metrics
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing from {metrics:#?}"))
}

#[tokio::test]
async fn each_metric_counts_what_happened() {
    let server = TestServer::start().await;
    let mut clients = Vec::new();
    for (proto, user) in [
        (Proto::TransportWs, "u1"),
        (Proto::TransportWs, "u2"),
        (Proto::Legacy, "u1"),
        (Proto::AppSync, "u1"),
    ] {
        let mut client = WsClient::ready(&server, proto).await;
        client.subscribe_live("s", user).await;
        clients.push(client);
    }
    for status in ["a", "b", "c"] {
        server.publish("u1", "j", status).await;
    }
    for client in clients
        .iter_mut()
        .filter(|c| c.proto != Proto::TransportWs)
        .chain([])
    {
        for _ in 0..3 {
            client.next_data().await;
        }
    }
    for _ in 0..3 {
        clients[0].next_data().await;
    }
    // Two failed authentications: a wrong key, and no credentials at all.
    assert_eq!(
        server
            .post(
                Some("wrong"),
                serde_json::json!({"query": "{ __typename }"})
            )
            .await
            .0,
        401
    );
    assert_eq!(
        server
            .post(None, serde_json::json!({"query": "{ __typename }"}))
            .await
            .0,
        401
    );
    // Two frames that do not decode, on a connection that stays open (the legacy protocol
    // answers them with `error`). The test clients' barriers are undecodable too: count from here.
    let invalid_before = value(&scrape(&server).await, "switchboard_invalid_messages_total");
    for _ in 0..2 {
        clients[2].send_text("not json").await;
        assert_eq!(clients[2].next_json().await["type"], "error");
    }
    // One subscriber leaves.
    let leaving = clients.remove(1);
    leaving.close().await;

    let deadline = Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let metrics = scrape(&server).await;
        if value(&metrics, "switchboard_subscriptions") == 3.0 {
            break metrics;
        }
        assert!(Instant::now() < deadline, "{metrics:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        value(
            &metrics,
            r#"switchboard_connections{protocol="graphql-transport-ws"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            r#"switchboard_connections{protocol="subscriptions-transport-ws"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&metrics, r#"switchboard_connections{protocol="appsync"}"#),
        1.0
    );
    assert_eq!(value(&metrics, "switchboard_statuses_published_total"), 3.0);
    assert_eq!(
        value(&metrics, "switchboard_invalid_messages_total") - invalid_before,
        2.0
    );
    assert_eq!(value(&metrics, "switchboard_oversized_payloads_total"), 0.0);
    assert_eq!(value(&metrics, "switchboard_store_errors_total"), 0.0);
    assert_eq!(value(&metrics, "switchboard_deliveries_total"), 9.0);
    assert_eq!(
        value(&metrics, "switchboard_slow_consumers_dropped_total"),
        0.0
    );
    assert_eq!(
        value(
            &metrics,
            r#"switchboard_auth_failures_total{mode="api-key"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&metrics, r#"switchboard_auth_failures_total{mode="none"}"#),
        1.0
    );
    assert_eq!(
        value(&metrics, r#"switchboard_auth_failures_total{mode="iam"}"#),
        0.0
    );
    let samples = value(&metrics, "switchboard_delivery_latency_seconds_count");
    assert!(
        (1.0..=9.0).contains(&samples),
        "one sample per written batch: {samples}"
    );
    assert!(
        value(
            &metrics,
            r#"switchboard_delivery_latency_seconds_bucket{le="1"}"#
        ) >= 1.0
    );
    assert_eq!(value(&metrics, "switchboard_redis_reconnects_total"), 0.0);
}

#[tokio::test]
async fn redis_reconnects_are_counted() {
    let mut redis = RedisServer::start().await;
    let server = node(&redis.url(), "metrics-test", "n1", &[]).await;
    let mut client = WsClient::ready(&server, Proto::TransportWs).await;
    client.subscribe_live("s", "u1").await;
    redis.stop();
    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while value(&scrape(&server).await, "switchboard_redis_reconnects_total") < 1.0 {
        assert!(Instant::now() < deadline, "no reconnect counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

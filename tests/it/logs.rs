//! `--log-format json` writes one JSON object per line, and every request and connection carries
//! a request id: in the logs (through the spans) and in the `x-request-id` response header.

use crate::support;

use serde_json::Value as Json;
use support::cluster::ProcessNode;
use support::{Proto, WsClient};

#[tokio::test]
async fn json_logs_are_json_lines_with_request_and_connection_ids() {
    let node = ProcessNode::start_logging(&["--log-format".into(), "json".into()], "debug").await;
    let addr = node.addr;
    let http = switchboard::net::http_client::client().unwrap();
    // A request with its own id keeps it; one without gets a fresh one.
    let response = http
        .post(format!("http://{addr}/graphql"))
        .header("x-api-key", "wrong-key")
        .header("x-request-id", "lb-1234")
        .json(&serde_json::json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-request-id"], "lb-1234");
    let fresh = http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.headers()["x-request-id"].len(), 32);

    let mut client = WsClient::ready_at(addr, Proto::TransportWs).await;
    client.subscribe_live("s", "u1").await;
    client.close().await;
    // A clean stop: every session has logged its end before the output is read.
    let (_, logs) = node.stop_and_read().await;
    let printed = &logs;
    let lines: Vec<Json> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    let span_field = |line: &Json, field: &str| -> Option<String> {
        line["spans"]
            .as_array()?
            .iter()
            .find_map(|span| span.get(field).and_then(Json::as_str).map(str::to_owned))
    };
    assert!(
        lines
            .iter()
            .any(|l| span_field(l, "request_id").as_deref() == Some("lb-1234")),
        "the refused request's log line names its request id:\n{printed}"
    );
    assert!(
        lines
            .iter()
            .any(|l| span_field(l, "conn_id").is_some() && span_field(l, "request_id").is_some()),
        "connection logs carry the upgrade's request id and the connection id:\n{printed}"
    );
}

#[tokio::test]
async fn info_logs_say_what_an_operator_needs_once_each() {
    let node = ProcessNode::start_logging(&["--log-format".into(), "json".into()], "info").await;
    let addr = node.addr;
    let http = switchboard::net::http_client::client().unwrap();
    // Three wrong keys from one address: one "credentials refused" line, not three.
    for _ in 0..3 {
        let response = http
            .post(format!("http://{addr}/graphql"))
            .header("x-api-key", "da2-secret-guess")
            .json(&serde_json::json!({"query": "{ __typename }"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let mut client = WsClient::ready_at(addr, Proto::TransportWs).await;
    client.subscribe_live("s", "u1").await;
    client.stop_live("s").await;
    client.close().await;
    let (_, logs) = node.stop_and_read().await;
    assert!(!logs.contains("da2-secret-guess"), "no secret in the logs");
    let lines: Vec<Json> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let with = |message: &str| -> Vec<&Json> {
        lines
            .iter()
            .filter(|l| l["fields"]["message"] == message)
            .collect()
    };
    let one = |message: &str| -> &Json {
        let found = with(message);
        assert_eq!(found.len(), 1, "one {message:?} line:\n{logs}");
        found[0]
    };
    assert_eq!(one("connection opened")["level"], "INFO");
    let started = one("subscription started");
    assert_eq!(started["fields"]["field"], "onStatusUpdate");
    assert_eq!(started["fields"]["id"], "s");
    assert_eq!(one("subscription stopped")["fields"]["id"], "s");
    let refused = one("credentials refused");
    assert_eq!(refused["fields"]["mode"], "api-key");
    assert_eq!(refused["fields"]["client"], "127.0.0.1");
    let closed = one("connection closed");
    assert_eq!(
        closed["fields"]["code"], 1005,
        "a close frame without a code: {closed}"
    );
    assert!(closed["fields"]["duration_ms"].is_u64(), "{closed}");
    assert!(
        closed["fields"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("closed by the client"),
        "{closed}"
    );
    // The open-file notice is information, not a warning.
    assert!(
        lines
            .iter()
            .filter(|l| l["level"] == "WARN")
            .all(|l| !l["fields"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("open-file")),
        "{logs}"
    );
}

/// A client that vanishes (its TCP connection closed without a close frame) is logged as gone,
/// not as a protocol error (1002).
#[tokio::test]
async fn a_client_that_vanishes_is_logged_as_gone_not_as_a_protocol_error() {
    let node = ProcessNode::start_logging(&["--log-format".into(), "json".into()], "info").await;
    let mut client = WsClient::ready_at(node.addr, Proto::TransportWs).await;
    client.subscribe_live("s", "u1").await;
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, logs) = node.stop_and_read().await;
    let closed: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("connection closed"))
        .collect();
    assert!(
        closed
            .iter()
            .any(|l| l.contains("the client went away without a close frame")),
        "{logs}"
    );
    assert!(!closed.iter().any(|l| l.contains("1002")), "{logs}");
}

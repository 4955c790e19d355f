//! `--log-format json` writes one JSON object per line, and every request and connection carries
//! a request id: in the logs (through the spans) and in the `x-request-id` response header.

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value as Json;
use support::{KEY, Proto, WsClient};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn json_logs_are_json_lines_with_request_and_connection_ids() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            KEY,
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: std::net::SocketAddr = loop {
        let line = tokio::time::timeout(Duration::from_secs(10), stdout.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("banner");
        if let Some(url) = line.trim().strip_prefix("HTTP") {
            break url
                .trim()
                .trim_start_matches("http://")
                .trim_end_matches("/graphql")
                .parse()
                .unwrap();
        }
    };
    let http = switchboard::http_client::client().unwrap();
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
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
        "the refused request's log line names its request id:\n{logs}"
    );
    assert!(
        lines
            .iter()
            .any(|l| span_field(l, "conn_id").is_some() && span_field(l, "request_id").is_some()),
        "connection logs carry the upgrade's request id and the connection id:\n{logs}"
    );
}

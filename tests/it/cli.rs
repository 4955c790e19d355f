//! The `switchboard` binary: `serve` prints a working endpoint and key; `publish` and
//! `subscribe` talk to a running server.

use crate::support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value as Json;
use support::{KEY, TestServer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn switchboard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.kill_on_drop(true).stdin(Stdio::null());
    command
}

#[tokio::test]
async fn serve_generates_and_prints_a_key_that_works() {
    let mut child = switchboard()
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut key) = (None, None);
    while url.is_none() || key.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("start-up banner")
            .unwrap()
            .expect("more output");
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("HTTP"), Some(u), _) => url = Some(u.to_owned()),
            (Some("API"), Some("key"), Some(k)) => key = Some(k.to_owned()),
            _ => {}
        }
    }
    let (url, key) = (url.unwrap(), key.unwrap());
    assert!(key.starts_with("da2-"), "{key}");
    let response = switchboard::http_client::client()
        .unwrap()
        .post(&url)
        .header("x-api-key", &key)
        .json(&serde_json::json!({"query": "{ statusHistory(userId: \"u\") { status } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn publish_prints_the_status_and_subscribe_prints_each_one() {
    let server = TestServer::start().await;
    let url = server.http_url();
    let subscriber = switchboard()
        .args([
            "subscribe",
            "--url",
            &url,
            "--api-key",
            KEY,
            "--user-id",
            "u1",
            "--count",
            "2",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    // The subscriber gives no signal when it is live, so publish until it has heard two.
    let publisher = async {
        for n in 0.. {
            let output = switchboard()
                .args([
                    "publish",
                    "--url",
                    &url,
                    "--api-key",
                    KEY,
                    "--user-id",
                    "u1",
                    "--job-id",
                    "j1",
                ])
                .args(["--status", &format!("s{n}"), "--agent-name", "geo_agent"])
                .output()
                .await
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let status: Json = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(status["agentName"], "geo_agent");
            assert!(status["timestamp"].as_str().unwrap().ends_with('Z'));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let output = tokio::select! {
        output = subscriber.wait_with_output() => output.unwrap(),
        _ = publisher => unreachable!(),
        _ = tokio::time::sleep(Duration::from_secs(20)) => panic!("the subscriber did not finish"),
    };
    assert!(output.status.success());
    let lines: Vec<Json> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|s| s["userId"] == "u1" && s["jobId"] == "j1")
    );

    let refused = switchboard()
        .args([
            "publish",
            "--url",
            &url,
            "--api-key",
            "wrong",
            "--user-id",
            "u",
            "--job-id",
            "j",
            "--status",
            "x",
        ])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("UnauthorizedException"));
}

//! The `switchboard` binary: `serve` prints a working endpoint and key; `publish` and
//! `subscribe` talk to a running server.

use crate::support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value as Json;
use support::cli::{run_cli, started, switchboard};
use support::{KEY, TestServer};
use tokio::io::{AsyncBufReadExt, BufReader};

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
    let response = switchboard::net::http_client::client()
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

/// `subscribe --count 2` then two `publish`es against `url`, with `extra` arguments on both;
/// checks the subscriber says when it is live and prints both statuses.
async fn subscribe_then_publish_twice(url: &str, extra: &[&str]) {
    let common = |command: &str| {
        let mut args = vec![command, "--url", url, "--api-key", KEY, "--user-id", "u1"];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let mut command = switchboard();
    command.args(common("subscribe")).args(["--count", "2"]);
    // It says on stderr once the server has the subscription.
    let (subscriber, said, _) = started(command).await;
    assert_eq!(said, "subscribed to onStatusUpdate(userId: \"u1\")");
    for n in 0..2 {
        let output = switchboard()
            .args(common("publish"))
            .args(["--job-id", "j1", "--status", &format!("s{n}")])
            .args(["--agent-name", "geo_agent"])
            .output()
            .await
            .unwrap();
        let errors = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{errors}");
        let status: Json = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(status["agentName"], "geo_agent");
        assert!(status["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    let output = tokio::time::timeout(Duration::from_secs(10), subscriber.wait_with_output())
        .await
        .expect("the subscriber finishes")
        .unwrap();
    assert!(output.status.success());
    let lines: Vec<Json> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let statuses: Vec<&str> = lines
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["s0", "s1"]);
    assert!(
        lines
            .iter()
            .all(|s| s["userId"] == "u1" && s["jobId"] == "j1")
    );
}

#[tokio::test]
async fn publish_prints_the_status_and_subscribe_prints_each_one() {
    let server = TestServer::start().await;
    let url = server.http_url();
    subscribe_then_publish_twice(&url, &[]).await;
    // A refusal is one line on stderr, even with RUST_BACKTRACE set.
    let refused = switchboard()
        .args([
            "publish",
            "--url",
            &url,
            "--api-key",
            "wrong",
            "--user-id",
            "u",
        ])
        .args(["--job-id", "j", "--status", "x"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let errors = String::from_utf8_lossy(&refused.stderr);
    assert!(errors.contains("UnauthorizedException"), "{errors}");
    assert_eq!(errors.trim_end().lines().count(), 1, "{errors}");
    assert!(errors.starts_with("switchboard: "), "{errors}");
}

#[tokio::test]
async fn the_cli_speaks_tls_with_a_ca_file() {
    let dir = std::env::temp_dir().join(format!("switchboard-cli-tls-{}", uuid::Uuid::new_v4()));
    let server = TestServer::with_args(&["--tls-self-signed", dir.to_str().unwrap()]).await;
    let url = format!("https://localhost:{}/graphql", server.addr.port());
    let ca = dir.join("ca.pem");
    subscribe_then_publish_twice(&url, &["--ca-file", ca.to_str().unwrap()]).await;
    // Without the CA the certificate is not trusted: a one-line error.
    let untrusted = switchboard()
        .args(["publish", "--url", &url, "--api-key", KEY, "--user-id", "u"])
        .args(["--job-id", "j", "--status", "x"])
        .output()
        .await
        .unwrap();
    assert!(!untrusted.status.success());
    let errors = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(errors.trim_end().lines().count(), 1, "{errors}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn serve_prints_a_ready_amplify_config_when_asked() {
    let mut child = switchboard()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            "da2-amplify@2099-01-01T00:00:00Z",
        ])
        .arg("--print-amplify-config")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    while !printed.contains("const client") {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("the banner and the config")
            .unwrap()
            .expect("more output");
        printed.push_str(&line);
        printed.push('\n');
    }
    assert!(
        printed.contains("\"api_key\": \"da2-amplify\""),
        "{printed}"
    );
    assert!(
        printed.contains("defaultAuthMode: 'apiKey', apiKey: 'da2-amplify'"),
        "{printed}"
    );
    assert!(printed.contains("endpoint: 'ws://localhost:"), "{printed}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn subscribe_resume_prints_positions_and_starts_from_one_and_publish_retries_safely() {
    let server = TestServer::start().await;
    let url = server.http_url();
    // The arguments every call shares.
    let base = |command: &'static str| -> Vec<String> {
        [command, "--url", &url, "--api-key", KEY, "--user-id", "cli"]
            .map(str::to_owned)
            .to_vec()
    };
    let publish = |status: &'static str, key: &'static str| {
        let mut args = base("publish");
        args.extend(
            [
                "--job-id",
                "j",
                "--status",
                status,
                "--idempotency-key",
                key,
            ]
            .map(str::to_owned),
        );
        async move {
            let (lines, _) = run_cli(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
            lines[0].clone()
        }
    };
    let first = publish("validating", "k1").await;
    assert_eq!(
        publish("validating", "k1").await,
        first,
        "a retry: the first answer"
    );
    publish("synthesizing", "k2").await;
    publish("complete", "k3").await;

    let subscribe = |count: &str, resume: &str| {
        let mut args = base("subscribe");
        args.extend(["--count", count, "--resume"].map(str::to_owned));
        if !resume.is_empty() {
            args.push(resume.to_owned());
        }
        args
    };
    // From now on: each status printed with its position.
    let mut live = switchboard()
        .args(subscribe("1", ""))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(live.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    while !said.iter().any(|l: &String| l.starts_with("stream ")) {
        let line = tokio::time::timeout(Duration::from_secs(10), stderr.next_line())
            .await
            .expect("the subscriber says where the stream stands")
            .unwrap()
            .expect("more output");
        said.push(line);
    }
    assert!(
        said.iter().any(|l| l.ends_with(":3, recovered: false")),
        "{said:?}"
    );
    publish("error", "k4").await;
    let output = tokio::time::timeout(Duration::from_secs(10), live.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let line: Json = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["offset"], 4);
    assert_eq!(line["status"]["status"], "error");
    let epoch = line["epoch"].as_str().unwrap().to_owned();

    // From a position: every kept status after it, then live ones.
    let position = format!("{epoch}:1");
    let args = subscribe("3", &position);
    let (lines, said) = run_cli(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(said.contains("recovered: true"), "{said}");
    let got = positions(&lines, "status", "status");
    assert_eq!(got, [(2, "synthesizing"), (3, "complete"), (4, "error")]);
    assert!(lines.iter().all(|l| l["epoch"] == epoch.as_str()));
}

#[tokio::test]
async fn publish_and_subscribe_speak_appsync_events_with_channel() {
    let server = TestServer::start().await;
    let url = server.http_url();
    let mut command = switchboard();
    command
        .args(["subscribe", "--url", &url, "--api-key", KEY])
        .args(["--channel", "/default/jobs/*", "--count", "2"]);
    let (subscriber, said, _) = started(command).await;
    assert_eq!(said, "subscribed to /default/jobs/*");
    let (answer, _) = run_cli(&[
        "publish",
        "--url",
        &url,
        "--api-key",
        KEY,
        "--channel",
        "/default/jobs/j1",
        "--event",
        r#"{"status":"validating"}"#,
        "--event",
        "not json",
    ])
    .await;
    assert_eq!(answer[0]["successful"][0]["index"], 0, "{answer:?}");
    assert_eq!(answer[0]["failed"][0]["index"], 1, "{answer:?}");
    run_cli(&[
        "publish",
        "--url",
        &url,
        "--api-key",
        KEY,
        "--channel",
        "/default/jobs/j2",
        "--event",
        r#"{"status":"complete"}"#,
    ])
    .await;
    let output = tokio::time::timeout(Duration::from_secs(10), subscriber.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success());
    let lines: Vec<Json> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json_value(r#"{"status":"validating"}"#),
            json_value(r#"{"status":"complete"}"#)
        ]
    );
}

/// Each printed line's offset and its `what`'s `field`.
fn positions<'a>(lines: &'a [Json], what: &str, field: &str) -> Vec<(u64, &'a str)> {
    lines
        .iter()
        .map(|l| {
            (
                l["offset"].as_u64().unwrap(),
                l[what][field].as_str().unwrap(),
            )
        })
        .collect()
}

fn json_value(text: &str) -> Json {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn subscribe_channel_resume_prints_positions_and_starts_from_one() {
    let server = TestServer::start().await;
    let url = server.http_url();
    let channel = "/default/jobs/j1";
    let publish = |step: &'static str| {
        let url = url.clone();
        async move {
            let event = format!(r#"{{"step":"{step}"}}"#);
            let args = [
                "publish",
                "--url",
                &url,
                "--api-key",
                KEY,
                "--channel",
                channel,
            ];
            run_cli(&[&args[..], &["--event", &event]].concat()).await;
        }
    };
    for step in ["loading_agents", "validating", "synthesizing"] {
        publish(step).await;
    }
    let subscribe = [
        "subscribe",
        "--url",
        &url,
        "--api-key",
        KEY,
        "--channel",
        channel,
    ];
    let mut live = switchboard()
        .args(subscribe)
        .args(["--count", "1", "--resume"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(live.stderr.take().unwrap()).lines();
    let stream = loop {
        let line = tokio::time::timeout(Duration::from_secs(10), stderr.next_line())
            .await
            .expect("the subscriber says where the stream stands")
            .unwrap()
            .expect("more output");
        if let Some(stream) = line.strip_prefix("stream ") {
            break stream.to_owned();
        }
    };
    assert!(stream.ends_with(":3, recovered: false"), "{stream}");
    publish("complete").await;
    let output = tokio::time::timeout(Duration::from_secs(10), live.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let line: Json = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (&line["offset"], &line["event"]["step"]),
        (&4.into(), &"complete".into())
    );
    let epoch = line["epoch"].as_str().unwrap();

    let from = format!("{epoch}:1");
    let (lines, said) =
        run_cli(&[&subscribe[..], &["--count", "3", "--resume", &from]].concat()).await;
    assert!(said.contains("recovered: true"), "{said}");
    let got = positions(&lines, "event", "step");
    assert_eq!(
        got,
        [(2, "validating"), (3, "synthesizing"), (4, "complete")]
    );
}

#[tokio::test]
async fn amplify_config_writes_a_ready_amplify_outputs_json() {
    let dir = std::env::temp_dir().join(format!("switchboard-amplify-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("amplify_outputs.json");
    let output = switchboard()
        .args([
            "amplify-config",
            "--url",
            "http://localhost:4123/graphql",
            "--out",
        ])
        .arg(&out)
        .env("SWITCHBOARD_API_KEY", "da2-from-env,da2-second")
        .env_remove("SWITCHBOARD_CLIENT_API_KEY")
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains("ws://localhost:4123/graphql"),
        "the ws:// note: {said}"
    );
    let outputs: Json = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(outputs["data"]["url"], "http://localhost:4123/graphql");
    assert_eq!(outputs["data"]["api_key"], "da2-from-env");
    assert_eq!(outputs["data"]["default_authorization_type"], "API_KEY");
    assert_eq!(
        outputs["custom"]["events"]["url"],
        "http://localhost:4123/event"
    );
    assert_eq!(outputs["custom"]["events"]["api_key"], "da2-from-env");
    std::fs::remove_dir_all(&dir).ok();
}

//! Secrets never reach the logs: the `switchboard` binary, logging at `debug`, serves good and
//! bad API keys, tokens and SigV4 signatures over HTTP and WebSockets, and nothing it printed
//! contains a key, a token, a secret or a signature.

use crate::support;

use std::time::SystemTime;

use serde_json::json;
use support::auth::{HS256_SECRET, ISSUER, claims, hs256, hs256_with, sigv4_headers};
use support::cluster::ProcessNode;
use support::{Proto, WsClient, header_subprotocol};

const KEY: &str = "da2-logcheckkeyvalue00000000001";
const WRONG_KEY: &str = "da2-logcheckwrongguess00000002";
const IAM_KEY: &str = "AKIDLOGCHECKTEST";
const IAM_SECRET: &str = "logcheck-iam-secret/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Signed headers for a POST of `body` to `/graphql` on `host`.
fn sign(host: &str, body: &[u8], secret: &str) -> Vec<(String, String)> {
    let base = [("content-type", "application/json")];
    sigv4_headers(
        host,
        "/graphql",
        &base,
        body,
        (IAM_KEY, secret),
        SystemTime::now(),
    )
}

#[tokio::test]
async fn a_full_run_logs_no_secret() {
    let iam_file = std::env::temp_dir().join(format!(
        "switchboard-logcheck-{}.json",
        uuid::Uuid::new_v4()
    ));
    std::fs::write(
        &iam_file,
        json!([{"accessKeyId": IAM_KEY, "secretAccessKey": IAM_SECRET}]).to_string(),
    )
    .unwrap();
    let args = [
        "--api-key",
        KEY,
        "--auth-additional",
        "oidc,iam",
        "--jwt-hs256-secret",
        HS256_SECRET,
        "--jwt-issuer",
        ISSUER,
        "--iam-credentials",
        iam_file.to_str().unwrap(),
    ]
    .map(str::to_owned);
    let node = ProcessNode::start_logging(&args, "debug").await;
    let addr = node.addr.to_string();

    let http = switchboard::net::http_client::client().unwrap();
    let url = format!("http://{addr}/graphql");
    let body = json!({"query": "{ statusHistory(userId: \"u\") { status } }"}).to_string();
    for key in [KEY, WRONG_KEY] {
        http.post(&url)
            .header("x-api-key", key)
            .body(body.clone())
            .send()
            .await
            .unwrap();
    }
    let good_token = hs256(&claims("u1", json!({})));
    let bad_token = hs256_with(
        "a-guessed-secret-that-is-long-enough",
        &claims("u1", json!({})),
    );
    for token in [&good_token, &bad_token] {
        http.post(&url)
            .header("authorization", format!("Bearer {token}"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let ws = format!("ws://{addr}/graphql");
        let (mut client, _) = WsClient::dial(
            Proto::TransportWs,
            &ws,
            &["graphql-transport-ws".to_owned()],
            &[],
        )
        .await;
        client.init(json!({"Authorization": token})).await;
        let _ = client.try_next().await;
    }
    let realtime = format!("ws://{addr}/graphql/realtime");
    for key in [KEY, WRONG_KEY] {
        let sub = header_subprotocol(&json!({"host": addr, "x-api-key": key}));
        let (mut client, _) = WsClient::dial(
            Proto::AppSync,
            &realtime,
            &["graphql-ws".to_owned(), sub],
            &[],
        )
        .await;
        client.send(json!({"type": "connection_init"})).await;
        let _ = client.try_next().await;
    }
    let mut signatures = Vec::new();
    for secret in [IAM_SECRET, "a-wrong-iam-secret"] {
        let headers = sign(&addr, body.as_bytes(), secret);
        let mut request = http.post(&url).body(body.clone());
        for (name, value) in &headers {
            if name == "authorization" {
                signatures.push(value.rsplit('=').next().unwrap().to_owned());
            }
            request = request.header(name, value);
        }
        request.send().await.unwrap();
    }

    // A clean stop: every session has logged its end before the output is read.
    let (stdout, logs) = node.stop_and_read().await;
    let printed = stdout + &logs;
    std::fs::remove_file(iam_file).ok();

    assert!(
        printed.contains("authentication refused"),
        "the run was logged at debug:\n{printed}"
    );
    let secrets = [
        KEY,
        WRONG_KEY,
        &good_token,
        &bad_token,
        HS256_SECRET,
        IAM_SECRET,
        &signatures[0],
        &signatures[1],
    ];
    for secret in secrets {
        assert!(
            !printed.contains(secret),
            "the log holds a secret ({}...):\n{printed}",
            &secret[..8]
        );
    }
    // Token pieces too (a header or a payload logged alone).
    for part in good_token.split('.') {
        assert!(!printed.contains(part), "the log holds part of a token");
    }
}

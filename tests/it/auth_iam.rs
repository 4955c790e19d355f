//! IAM (SigV4, service `appsync`) over HTTP and every WebSocket protocol: the WebSocket connect is
//! AppSync's signed `POST /graphql/connect` with body `{}` (in the AppSync auth object, or the
//! `connection_init` payload of the standard protocols), each AppSync `start` is signed over its
//! exact `payload.data`. Wrong secret, tampered body and stale dates are refused. (Fixtures from
//! botocore, `@smithy/signature-v4`, Amplify and the AppSync auth link are verified in the
//! module's unit tests.)

use crate::support;

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value as Json, json};
use support::auth::{self, expect_accepted, expect_refused};
use support::{Proto, STATUS_QUERY, TestServer, assert_status};

const ACCESS_KEY: &str = "AKIDSWITCHBOARDTEST";
const SECRET: &str = "test-only-secret/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// AppSync's IAM headers for a POST of `body` to `path` on `host`, signed with `secret` at `at`.
fn signed_headers(
    host: &str,
    path: &str,
    body: &[u8],
    secret: &str,
    at: SystemTime,
) -> Map<String, Json> {
    let base = [
        ("accept", "application/json, text/javascript"),
        ("content-encoding", "amz-1.0"),
        ("content-type", "application/json; charset=UTF-8"),
    ];
    auth::sigv4_headers(host, path, &base, body, (ACCESS_KEY, secret), at)
        .into_iter()
        .map(|(n, v)| (n, json!(v)))
        .collect()
}

async fn iam_server() -> (TestServer, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("switchboard-iam-{}.json", uuid::Uuid::new_v4()));
    let file =
        json!([{"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET, "name": "orchestrator"}]);
    std::fs::write(&path, file.to_string()).unwrap();
    // IAM is the default mode: the publisher of our users' architecture signs with IAM.
    let server = TestServer::with_args(&[
        "--auth-default",
        "iam",
        "--auth-additional",
        "api-key",
        "--iam-credentials",
        path.to_str().unwrap(),
    ])
    .await;
    (server, path)
}

async fn post_signed(server: &TestServer, headers: &Map<String, Json>, body: &[u8]) -> (u16, Json) {
    let mut request = switchboard::net::http_client::client()
        .unwrap()
        .post(server.http_url())
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value.as_str().unwrap());
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn signed_publishes_and_subscriptions_are_accepted() {
    let (server, path) = iam_server().await;
    let host = server.addr.to_string();
    let now = SystemTime::now();

    // Subscribers over every protocol, each connect signed; AppSync's start signed too.
    let connect = Json::Object(signed_headers(
        &host,
        "/graphql/connect",
        b"{}",
        SECRET,
        now,
    ));
    let mut clients = Vec::new();
    for proto in Proto::EVERY {
        let user = format!("iam-{proto:?}");
        let mut client = auth::connect_as(&server, proto, &connect).await;
        expect_accepted(&mut client).await;
        let data = json!({"query": STATUS_QUERY, "variables": {"userId": user}}).to_string();
        match proto {
            Proto::AppSync => {
                let start = signed_headers(&host, "/graphql", data.as_bytes(), SECRET, now);
                client.start("s", &data, Some(Json::Object(start))).await;
                assert_eq!(client.next_json().await["type"], "start_ack");
            }
            _ => client.subscribe_live("s", &user).await,
        }
        clients.push((client, user));
    }

    // The publisher signs POST /graphql.
    for (client, user) in &mut clients {
        let body = auth::publish_body(user, "validating").to_string();
        let headers = signed_headers(
            &host,
            "/graphql",
            body.as_bytes(),
            SECRET,
            SystemTime::now(),
        );
        let (status, answer) = post_signed(&server, &headers, body.as_bytes()).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer.get("errors").is_none(), "{answer}");
        assert_status(&client.next_data().await.1, user, "validating");
    }
    std::fs::remove_file(path).ok();
}

#[tokio::test]
async fn wrong_secret_tampered_body_and_stale_dates_are_refused() {
    let (server, path) = iam_server().await;
    let host = server.addr.to_string();
    let now = SystemTime::now();
    let body = auth::publish_body("u", "validating").to_string();
    let stale = now - Duration::from_secs(10 * 60);
    let future = now + Duration::from_secs(10 * 60);

    let cases = [
        (
            "wrong secret",
            signed_headers(&host, "/graphql", body.as_bytes(), "not-the-secret", now),
            body.clone(),
        ),
        (
            "tampered body",
            signed_headers(&host, "/graphql", body.as_bytes(), SECRET, now),
            body.replace("validating", "complete"),
        ),
        (
            "stale date",
            signed_headers(&host, "/graphql", body.as_bytes(), SECRET, stale),
            body.clone(),
        ),
        (
            "future date",
            signed_headers(&host, "/graphql", body.as_bytes(), SECRET, future),
            body.clone(),
        ),
    ];
    for (what, headers, sent) in &cases {
        let (status, answer) = post_signed(&server, headers, sent.as_bytes()).await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert_eq!(
            answer["errors"][0]["errorType"], "UnauthorizedException",
            "{what}"
        );
    }

    // At the WebSocket connect, every protocol.
    for (what, connect) in [
        (
            "wrong secret",
            signed_headers(&host, "/graphql/connect", b"{}", "not-the-secret", now),
        ),
        (
            "stale date",
            signed_headers(&host, "/graphql/connect", b"{}", SECRET, stale),
        ),
        // A signature for another body (a publish) is not a connect signature.
        (
            "other body",
            signed_headers(&host, "/graphql/connect", body.as_bytes(), SECRET, now),
        ),
    ] {
        for proto in Proto::EVERY {
            eprintln!("{what} over {proto:?}");
            let mut client = auth::connect_as(&server, proto, &Json::Object(connect.clone())).await;
            expect_refused(&mut client).await;
        }
    }

    // An AppSync start whose signature covers another `data` is refused for that id.
    let connect = Json::Object(signed_headers(
        &host,
        "/graphql/connect",
        b"{}",
        SECRET,
        now,
    ));
    let mut client = auth::connect_as(&server, Proto::AppSync, &connect).await;
    expect_accepted(&mut client).await;
    let data = json!({"query": STATUS_QUERY, "variables": {"userId": "a"}}).to_string();
    let other = json!({"query": STATUS_QUERY, "variables": {"userId": "b"}}).to_string();
    let start = signed_headers(&host, "/graphql", other.as_bytes(), SECRET, now);
    client.start("s", &data, Some(Json::Object(start))).await;
    let error = client.next_json().await;
    assert_eq!(
        (error["type"].as_str(), error["id"].as_str()),
        (Some("error"), Some("s")),
        "{error}"
    );
    assert_eq!(
        error["payload"]["errors"][0]["errorType"],
        "UnauthorizedException"
    );
    std::fs::remove_file(path).ok();
}

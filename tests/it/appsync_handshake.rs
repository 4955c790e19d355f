//! AppSync real-time handshake, as transcripts: the endpoints clients dial, the subprotocol the
//! server answers, and the three ways the auth object arrives (`header-` subprotocol, `header`
//! query parameter, HTTP headers), with the leniency real clients need. Every failure is
//! reported in-band after the upgrade, never as an HTTP error.

use crate::support;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value as Json, json};
use support::{KEY, Proto, TestServer, WsClient, assert_status, header_subprotocol};

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// An auth object with the test key whose standard base64 contains `+` (and `/`), the
/// characters that break servers decoding the query string as a form.
fn awkward_auth() -> (Json, String) {
    for pad in 0..3 {
        let auth = json!({"host": "localhost", "x-api-key": KEY, "x-amz-user-agent": format!("{}>>>???", "x".repeat(pad))});
        let encoded = STANDARD.encode(auth.to_string());
        if encoded.contains('+') && encoded.contains('/') {
            return (auth, encoded);
        }
    }
    unreachable!("one of three alignments encodes >>> as Pj4+")
}

/// Sends `connection_init` without a payload and expects the AppSync ack, then a `ka` at once.
async fn expect_ack(client: &mut WsClient) {
    client.send(json!({"type": "connection_init"})).await;
    let ack = client.next_frame_json().await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    assert_eq!(ack["payload"]["connectionTimeoutMs"], 300_000, "{ack}");
    assert!(
        ack.get("id").is_none(),
        "connection-level messages have no id: {ack}"
    );
    let ka = client.next_frame_json().await;
    assert_eq!(ka, json!({"type": "ka"}));
}

/// A full round on an acknowledged AppSync connection: start, start_ack, one status.
async fn receives_a_status(server: &TestServer, client: &mut WsClient, user: &str) {
    client.subscribe_live("s1", user).await;
    server.publish(user, "job", "validating").await;
    let (id, data) = client.next_data().await;
    assert_eq!(id, "s1");
    assert_status(&data, user, "validating");
}

async fn dial(url: &str, subprotocols: &[String], headers: &[(String, String)]) -> WsClient {
    let (client, selected) = WsClient::dial(Proto::AppSync, url, subprotocols, headers).await;
    assert_eq!(
        selected.as_deref(),
        Some("graphql-ws"),
        "exactly graphql-ws, never the header- value"
    );
    client
}

#[tokio::test]
async fn auth_only_in_the_header_subprotocol() {
    let server = TestServer::start().await;
    let auth = json!({"host": server.addr.to_string(), "X-Api-Key": KEY, "x-amz-user-agent": "aws-amplify/6"});
    let url = format!("ws://{}/graphql/realtime", server.addr);
    let mut client = dial(
        &url,
        &["graphql-ws".to_owned(), header_subprotocol(&auth)],
        &[],
    )
    .await;
    expect_ack(&mut client).await;
    receives_a_status(&server, &mut client, "sub-only").await;
}

#[tokio::test]
async fn auth_in_the_query_string_with_raw_plus_spaces_or_url_safe() {
    let server = TestServer::start().await;
    let (auth, standard) = awkward_auth();
    let variants = [
        // Pasted unescaped, as Amplify before 6.5.4, the AppSync link before 4.0.2 and gql do.
        standard.clone(),
        // ... after something turned each `+` into a space.
        standard.replace('+', "%20"),
        // Percent-encoded, as Apollo Kotlin does.
        standard
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D"),
        // URL-safe without padding.
        URL_SAFE_NO_PAD.encode(auth.to_string()),
        // Unpadded standard.
        standard.trim_end_matches('=').to_owned(),
    ];
    for (n, header) in variants.iter().enumerate() {
        let url = format!(
            "ws://{}/graphql/realtime?header={header}&payload=e30=&x-custom=ignored",
            server.addr
        );
        let mut client = dial(&url, &strings(&["graphql-ws"]), &[]).await;
        expect_ack(&mut client).await;
        receives_a_status(&server, &mut client, &format!("query-{n}")).await;
    }
}

#[tokio::test]
async fn auth_only_in_http_headers() {
    let server = TestServer::start().await;
    let url = format!("ws://{}/graphql/realtime", server.addr);
    let headers = [
        ("X-Api-Key".to_owned(), KEY.to_owned()),
        ("x-amz-date".to_owned(), "20261124T101010Z".to_owned()),
    ];
    let mut client = dial(&url, &strings(&["graphql-ws"]), &headers).await;
    expect_ack(&mut client).await;
    receives_a_status(&server, &mut client, "headers-only").await;
}

/// `/graphql` serves AppSync clients that present an auth object and the legacy protocol to the
/// rest; doubled slashes and unknown query parameters change nothing.
#[tokio::test]
async fn endpoints_paths_and_protocol_choice() {
    let server = TestServer::start().await;
    let auth = json!({"host": "localhost", "x-api-key": KEY});
    let header = STANDARD.encode(auth.to_string());
    for path in [
        "/graphql/realtime",
        "//graphql/realtime",
        "/graphql//realtime",
        "/graphql",
        "//graphql",
    ] {
        let url = format!(
            "ws://{}{path}?header={header}&payload=e30=&utm=1",
            server.addr
        );
        let mut client = dial(&url, &strings(&["graphql-ws"]), &[]).await;
        expect_ack(&mut client).await;
        receives_a_status(&server, &mut client, &format!("path{}", path.len())).await;
    }
    // The same subprotocol on /graphql with no auth object is Apollo's legacy protocol: its ack
    // has no payload.
    let url = format!("ws://{}/graphql", server.addr);
    let mut legacy = dial(&url, &strings(&["graphql-ws"]), &[]).await;
    legacy.init(json!({"x-api-key": KEY})).await;
    assert_eq!(
        legacy.next_frame_json().await,
        json!({"type": "connection_ack"})
    );
}

/// A Cognito-sized token (several KB) in the subprotocol and in the query string still fits the
/// request line and headers.
#[tokio::test]
async fn large_auth_blobs_fit() {
    let server = TestServer::start().await;
    let jwt = format!("Bearer eyJ{}", "a".repeat(8 * 1024));
    let auth = json!({"host": "localhost", "x-api-key": KEY, "Authorization": jwt});
    let url = format!("ws://{}/graphql/realtime", server.addr);
    let mut by_subprotocol = dial(
        &url,
        &["graphql-ws".to_owned(), header_subprotocol(&auth)],
        &[],
    )
    .await;
    expect_ack(&mut by_subprotocol).await;
    let url = format!(
        "ws://{}/graphql/realtime?header={}&payload=e30=",
        server.addr,
        STANDARD.encode(auth.to_string())
    );
    let mut by_query = dial(&url, &strings(&["graphql-ws"]), &[]).await;
    expect_ack(&mut by_query).await;
    receives_a_status(&server, &mut by_query, "big").await;
}

async fn expect_connection_error(client: &mut WsClient, code: u64, error_type: &str) -> String {
    client.send(json!({"type": "connection_init"})).await;
    let error = client.next_frame_json().await;
    assert_eq!(error["type"], "connection_error", "{error}");
    assert!(error.get("id").is_none(), "{error}");
    let first = &error["payload"]["errors"][0];
    assert_eq!(first["errorCode"].as_u64(), Some(code), "{error}");
    assert_eq!(first["errorType"], error_type, "{error}");
    let (close, _) = client.expect_close().await;
    assert_eq!(close, 1008);
    first["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn bad_or_missing_credentials_are_a_connection_error_after_the_upgrade() {
    let server = TestServer::start().await;
    let url = format!("ws://{}/graphql/realtime", server.addr);
    let wrong = json!({"host": "localhost", "x-api-key": "da2-wrong"});
    let mut client = dial(
        &url,
        &["graphql-ws".to_owned(), header_subprotocol(&wrong)],
        &[],
    )
    .await;
    let message = expect_connection_error(&mut client, 401, "UnauthorizedException").await;
    assert_eq!(message, "You are not authorized to make this call.");

    // Amplify with no auth mode offers a bare `header-`.
    let mut client = dial(&url, &strings(&["graphql-ws", "header-"]), &[]).await;
    let message = expect_connection_error(&mut client, 401, "UnauthorizedException").await;
    assert_eq!(message, "Valid authorization header not provided.");

    // An auth object that is not base64 JSON is a bad request.
    let mut client = dial(&url, &strings(&["graphql-ws", "header-%%%"]), &[]).await;
    expect_connection_error(&mut client, 400, "BadRequestException").await;
}

#[tokio::test]
async fn no_graphql_ws_subprotocol_is_a_connection_error() {
    let server = TestServer::start().await;
    let url = format!("ws://{}/graphql/realtime", server.addr);
    let (mut client, selected) = WsClient::dial(Proto::AppSync, &url, &[], &[]).await;
    assert_eq!(selected, None);
    let error = client.next_frame_json().await;
    assert_eq!(error["type"], "connection_error", "{error}");
    assert_eq!(error["payload"]["errors"][0]["errorCode"], 400);
    assert!(
        error["payload"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("NoProtocolError")
    );
}

#[tokio::test]
async fn keep_alives_come_on_the_interval() {
    let interval = std::time::Duration::from_millis(150);
    let setting = format!("{}ms", interval.as_millis());
    let server = TestServer::with_args(&["--keepalive", &setting]).await;
    let mut client = WsClient::ready(&server, Proto::AppSync).await;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(client.next_frame_json().await, json!({"type": "ka"}));
    }
    // The first follows the ack at once, the next two one interval apart: about two intervals,
    // and far from what a missed or doubled interval would take.
    let took = started.elapsed();
    assert!(took >= interval * 3 / 2, "{took:?}");
    assert!(took < interval * 10, "{took:?}");
}

#[tokio::test]
async fn a_connection_ends_normally_at_its_maximum_lifetime() {
    let server = TestServer::with_args(&["--max-connection-lifetime", "300ms"]).await;
    for proto in Proto::EVERY {
        let mut client = WsClient::ready(&server, proto).await;
        let (code, reason) = client.expect_close().await;
        assert_eq!(
            (code, reason.as_str()),
            (1000, "connection lifetime reached"),
            "{proto:?}"
        );
    }
}

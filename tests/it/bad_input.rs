//! Bad input gets each protocol's documented answer, and the server keeps serving everyone else.

use crate::support;

use std::time::Duration;

use serde_json::{Value as Json, json};
use support::{Proto, STATUS_QUERY, TestServer, WsClient, assert_status};

/// A bystander subscribed before the abuse, checked after it.
async fn bystander(server: &TestServer) -> WsClient {
    let mut client = WsClient::ready(server, Proto::TransportWs).await;
    client.subscribe_live("watch", "bystander").await;
    client
}

async fn still_served(server: &TestServer, bystander: &mut WsClient) {
    server.publish("bystander", "job", "complete").await;
    let (_, data) = bystander.next_data().await;
    assert_status(&data, "bystander", "complete");
}

/// graphql-transport-ws: a malformed message closes with 4400.
#[tokio::test]
async fn graphql_transport_ws_closes_4400_on_malformed_messages() {
    let server = TestServer::start().await;
    let mut watcher = bystander(&server).await;
    for bad in [
        "this is not json",
        r#"{"type":"unknown_thing"}"#,
        r#"{"type":"subscribe","payload":{"query":"subscription { onStatusUpdate(userId: \"u\") { status } }"}}"#,
        r#"{"type":"subscribe","id":"1"}"#,
        "[1,2,3]",
    ] {
        let mut client = WsClient::ready(&server, Proto::TransportWs).await;
        client.send_text(bad).await;
        let (code, reason) = client.expect_close().await;
        assert_eq!(code, 4400, "{bad}: {reason}");
        assert!(!reason.is_empty());
    }
    still_served(&server, &mut watcher).await;
}

/// Legacy: a malformed message gets an `error` and the connection stays usable.
#[tokio::test]
async fn legacy_answers_malformed_messages_with_error_and_stays_open() {
    let server = TestServer::start().await;
    let mut client = WsClient::ready(&server, Proto::Legacy).await;
    for (bad, id) in [
        ("this is not json", None),
        (r#"{"type":"unknown_thing","id":"7"}"#, Some("7")),
        (
            r#"{"type":"start","payload":{"query":"subscription { x }"}}"#,
            None,
        ),
    ] {
        client.send_text(bad).await;
        let error = client.next_json().await;
        assert_eq!(error["type"], "error", "{bad}: {error}");
        assert_eq!(error["id"].as_str(), id, "{error}");
        assert!(
            error["payload"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    client.subscribe_live("ok", "u").await;
    server.publish("u", "j", "validating").await;
    assert_status(&client.next_data().await.1, "u", "validating");
}

/// Errors in the operation itself are per-operation `error` messages in both protocols.
#[tokio::test]
async fn operation_errors_are_error_messages_with_the_id() {
    let server = TestServer::start().await;
    for proto in Proto::ALL {
        let mut client = WsClient::ready(&server, proto).await;
        let cases: [(&str, &str, Json); 5] = [
            (
                "syntax",
                "subscription { onStatusUpdate(userId: ",
                json!({}),
            ),
            (
                "query",
                "query { statusHistory(userId: \"u\") { status } }",
                json!({}),
            ),
            (
                "mutation",
                "mutation { publishStatus(input: {jobId: 1, userId: \"never\", status: \"x\"}) { status } }",
                json!({}),
            ),
            (
                "unknown-field",
                "subscription { onNothing { status } }",
                json!({}),
            ),
            ("missing-variable", STATUS_QUERY, json!({})),
        ];
        for (id, query, variables) in cases {
            client.subscribe(id, query, variables).await;
            let error = client.next_json().await;
            assert_eq!(error["type"], "error", "{proto:?} {id}: {error}");
            assert_eq!(error["id"], id);
            let first = &error["payload"][0];
            assert!(
                first["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{error}"
            );
            if id == "query" || id == "mutation" {
                assert_eq!(
                    first["extensions"]["errorType"], "UnsupportedOperation",
                    "{error}"
                );
            }
            if id == "unknown-field" {
                assert!(
                    first["message"].as_str().unwrap().contains("onNothing"),
                    "{error}"
                );
            }
        }
        // The mutation was refused, not run: nothing was published.
        let history = server
            .graphql("{ statusHistory(userId: \"never\") { status } }", json!({}))
            .await;
        assert_eq!(history["data"]["statusHistory"], json!([]));
        // And the connection still works.
        client.subscribe_live("fine", "u").await;
        server.publish("u", "j", "complete").await;
        assert_status(&client.next_data().await.1, "u", "complete");
        server.publish("other", "j", "complete").await;
    }
}

#[tokio::test]
async fn duplicate_ids() {
    let server = TestServer::start().await;
    // graphql-transport-ws refuses a second subscriber with the same id: 4409.
    let mut client = WsClient::ready(&server, Proto::TransportWs).await;
    client.subscribe_live("same", "u").await;
    client.subscribe_user("same", "u").await;
    let (code, reason) = client.expect_close().await;
    assert_eq!(code, 4409);
    assert_eq!(reason, "Subscriber for same already exists");

    // The legacy protocol's reference server replaces the subscription; so must AppSync's, since
    // Amplify re-sends its `start`s with the same ids on the same socket (and AppSync acknowledges
    // the new one again).
    for proto in [Proto::Legacy, Proto::AppSync] {
        let mut client = WsClient::ready(&server, proto).await;
        client.subscribe_live("same", "old").await;
        client.subscribe_live("same", "new").await;
        server.publish("old", "j", "validating").await;
        server.publish("new", "j", "complete").await;
        let (id, data) = client.next_data().await;
        assert_eq!(id, "same");
        assert_status(&data, "new", "complete");
        client
            .expect_silence(std::time::Duration::from_millis(200))
            .await;
    }
}

#[tokio::test]
async fn frames_over_the_limit_close_with_1009() {
    let server = TestServer::with_args(&["--max-frame-bytes", "4096"]).await;
    let mut watcher = bystander(&server).await;
    for proto in Proto::ALL {
        let mut client = WsClient::ready(&server, proto).await;
        let huge = json!({"type": "connection_init", "payload": {"pad": "x".repeat(10_000)}});
        client.send(huge).await;
        assert_eq!(client.expect_close().await.0, 1009, "{proto:?}");
    }
    still_served(&server, &mut watcher).await;
}

#[tokio::test]
async fn subscriptions_beyond_the_per_connection_limit_are_refused() {
    let server = TestServer::with_args(&["--max-subscriptions-per-connection", "2"]).await;
    for proto in Proto::ALL {
        let mut client = WsClient::ready(&server, proto).await;
        client.subscribe_live("1", "u").await;
        client.subscribe_live("2", "u").await;
        client.subscribe_user("3", "u").await;
        let error = client.next_json().await;
        assert_eq!(
            (error["type"].as_str(), error["id"].as_str()),
            (Some("error"), Some("3")),
            "{error}"
        );
        assert_eq!(
            error["payload"][0]["message"],
            "Max number of 2 subscriptions reached"
        );
        assert_eq!(
            error["payload"][0]["extensions"]["errorType"],
            "MaxSubscriptionsReachedError"
        );
        // Stopping one makes room again.
        client.stop_live("1").await;
        client.subscribe_live("3", "u").await;
    }
}

#[tokio::test]
async fn init_rules() {
    let server = TestServer::with_args(&["--connection-init-timeout", "200ms"]).await;
    // No connection_init in time.
    let mut client = WsClient::connect(&server, Proto::TransportWs).await;
    assert_eq!(
        client.expect_close().await,
        (4408, "Connection initialisation timeout".to_owned())
    );
    let mut client = WsClient::connect(&server, Proto::Legacy).await;
    assert_eq!(client.next_json().await["type"], "connection_error");
    assert_eq!(client.expect_close().await.0, 4408);
    // A second connection_init.
    let mut client = WsClient::ready(&server, Proto::TransportWs).await;
    client.init(json!({"x-api-key": support::KEY})).await;
    assert_eq!(client.expect_close().await.0, 4429);
    // An acknowledged connection is not timed out.
    let mut client = WsClient::ready(&server, Proto::TransportWs).await;
    client.expect_silence(Duration::from_millis(400)).await;
}

#[tokio::test]
async fn an_unknown_subprotocol_is_closed_with_4406() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::start().await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
    // The strict client refuses a handshake that selects none of its offers, as browsers do.
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
    let request = server.ws_url().into_client_request().unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    use futures_util::StreamExt;
    let close = ws.next().await.unwrap().unwrap();
    assert!(
        matches!(close, tokio_tungstenite::tungstenite::Message::Close(Some(f)) if u16::from(f.code) == 4406)
    );
}

/// A plain `GET` of a WebSocket endpoint (curl, a mistyped client) is told what the endpoint
/// is and where the request belongs, in AppSync's error shape.
#[tokio::test]
async fn a_plain_get_of_a_websocket_endpoint_says_what_to_do() {
    let server = TestServer::start().await;
    let http = switchboard::net::http_client::client().unwrap();
    for (path, offer, instead) in [
        (
            "/graphql",
            "graphql-transport-ws or graphql-ws",
            "POST queries and mutations to /graphql",
        ),
        (
            "/graphql/realtime",
            "graphql-transport-ws or graphql-ws",
            "GraphiQL",
        ),
        (
            "/event/realtime",
            "aws-appsync-event-ws",
            "POST events to /event",
        ),
    ] {
        let response = http
            .get(format!(
                "{}{path}",
                server.http_url().trim_end_matches("/graphql")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["errorType"], "BadRequestException",
            "{body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{path} is a WebSocket endpoint"))
                && message.contains(offer)
                && message.contains(instead),
            "{message}"
        );
    }
}

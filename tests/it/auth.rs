//! API keys: HTTP answers 401 in AppSync's shape; each WebSocket protocol rejects in its own way.

use crate::support;

use serde_json::json;
use support::{KEY, Proto, TestServer, WsClient};

#[tokio::test]
async fn http_without_or_with_a_wrong_key_is_401_in_appsync_shape() {
    let server = TestServer::start().await;
    let body = json!({"query": "{ statusHistory(userId: \"u\") { status } }"});
    for (key, message) in [
        (None, "Valid authorization header not provided."),
        (Some("wrong"), "You are not authorized to make this call."),
    ] {
        let (status, response) = server.post(key, body.clone()).await;
        assert_eq!(status, 401);
        assert_eq!(
            response,
            json!({"errors": [{"errorType": "UnauthorizedException", "message": message}]})
        );
    }
    let (status, _) = server.post(Some(KEY), body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn graphql_transport_ws_closes_4403_on_a_wrong_key() {
    let server = TestServer::start().await;
    let mut client = WsClient::connect(&server, Proto::TransportWs).await;
    client.init(json!({"x-api-key": "wrong"})).await;
    assert_eq!(client.expect_close().await, (4403, "Forbidden".to_owned()));

    let mut client = WsClient::connect(&server, Proto::TransportWs).await;
    client.init(json!({})).await;
    assert_eq!(client.expect_close().await.0, 4403);
}

#[tokio::test]
async fn legacy_answers_connection_error_on_a_wrong_key() {
    let server = TestServer::start().await;
    let mut client = WsClient::connect(&server, Proto::Legacy).await;
    client.init(json!({"apiKey": "wrong"})).await;
    let error = client.next_json().await;
    assert_eq!(error["type"], "connection_error", "{error}");
    assert_eq!(
        error["payload"]["message"],
        "You are not authorized to make this call."
    );
    assert_eq!(client.expect_close().await.0, 4403);
}

#[tokio::test]
async fn the_key_may_come_from_the_upgrade_header_or_any_init_spelling() {
    let server = TestServer::start().await;
    for proto in Proto::ALL {
        let mut client = WsClient::connect_with(&server, proto, Some(KEY)).await;
        client.init(json!({})).await;
        assert_eq!(client.next_json().await["type"], "connection_ack");

        for payload in [
            json!({"x-api-key": KEY}),
            json!({"apiKey": KEY}),
            json!({"headers": {"X-Api-Key": KEY}}),
        ] {
            let mut client = WsClient::connect(&server, proto).await;
            client.init(payload.clone()).await;
            assert_eq!(
                client.next_json().await["type"],
                "connection_ack",
                "{payload}"
            );
        }
    }
}

#[tokio::test]
async fn subscribing_before_init_is_refused() {
    let server = TestServer::start().await;
    let mut client = WsClient::connect(&server, Proto::TransportWs).await;
    client.subscribe_user("1", "u").await;
    assert_eq!(
        client.expect_close().await,
        (4401, "Unauthorized".to_owned())
    );

    let mut client = WsClient::connect(&server, Proto::Legacy).await;
    client.subscribe_user("1", "u").await;
    let error = client.next_json().await;
    assert_eq!(
        (error["type"].as_str(), error["id"].as_str()),
        (Some("error"), Some("1")),
        "{error}"
    );
}

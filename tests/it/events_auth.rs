//! Who may do what with AppSync Events: owner-bound channels, auth modes per namespace and
//! action and for connecting, the Lambda authorizer asked in the Events shape, and IAM
//! signatures over HTTP and over the socket (where the server rebuilds the bodies the client
//! signed).

use crate::support;

use std::time::SystemTime;

use serde_json::{Map, Value as Json, json};
use support::auth::TestAuthorizer;
use support::{KEY, Proto, TestServer, WsClient};

use super::events::{
    SUBPROTOCOL, events_socket, events_socket_as, next_event, post_event, subscribe,
};

#[tokio::test]
async fn channels_bound_to_their_owner() {
    use support::auth::{OIDC_ARGS, claims, hs256};
    let mut args = OIDC_ARGS.to_vec();
    args.extend([
        "--event-namespaces",
        "default,status",
        "--event-owner-segment",
        "status=1",
        "--admin-group",
        "admins",
    ]);
    let server = TestServer::with_args(&args).await;
    let u1 = hs256(&claims("u1", json!({})));
    let admin = hs256(&claims("ops", json!({"cognito:groups": ["admins"]})));
    let mut client = events_socket_as(server.addr, &u1).await;
    assert_eq!(
        subscribe(&mut client, "own", "/status/u1/*").await["type"],
        "subscribe_success"
    );
    for channel in ["/status/u2/*", "/status/*", "/status/u2/j1"] {
        let refused = subscribe(&mut client, "other", channel).await;
        assert_eq!(refused["type"], "subscribe_error", "{channel}: {refused}");
        assert_eq!(
            refused["errors"][0]["errorType"], "BadRequestException",
            "not an auth type"
        );
    }
    client
        .send(json!({"type": "publish", "id": "p", "channel": "/status/u2/j1", "events": ["1"]}))
        .await;
    assert_eq!(client.next_json().await["type"], "publish_error");
    client
        .send(json!({"type": "publish", "id": "p", "channel": "/status/u1/j1", "events": ["1"]}))
        .await;
    assert_eq!(client.next_json().await["type"], "publish_success");
    assert_eq!(next_event(&mut client).await.0, "own");
    // Other namespaces are not bound.
    assert_eq!(
        subscribe(&mut client, "free", "/default/anything").await["type"],
        "subscribe_success"
    );
    // The admin group is exempt.
    let mut ops = events_socket_as(server.addr, &admin).await;
    assert_eq!(
        subscribe(&mut ops, "any", "/status/*").await["type"],
        "subscribe_success"
    );
    // Over HTTP too: u1 may not publish to u2's channel.
    let response = switchboard::net::http_client::client()
        .unwrap()
        .post(format!("http://{}/event", server.addr))
        .header("authorization", &u1)
        .json(&json!({"channel": "/status/u2/j1", "events": ["1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_namespace_admits_only_its_auth_modes() {
    use support::auth::{OIDC_ARGS, claims, hs256};
    let mut args = OIDC_ARGS.to_vec();
    args.extend([
        "--event-namespaces",
        "default,private",
        "--event-namespace-modes",
        "private=oidc",
    ]);
    let server = TestServer::with_args(&args).await;
    let mut by_key = events_socket(server.addr, KEY).await;
    let refused = subscribe(&mut by_key, "p", "/private/x").await;
    assert_eq!(refused["type"], "subscribe_error", "{refused}");
    assert_eq!(
        subscribe(&mut by_key, "d", "/default/x").await["type"],
        "subscribe_success",
        "other namespaces take every mode"
    );
    let (code, _) = post_event(
        server.addr,
        json!({"channel": "/private/x", "events": ["1"]}),
    )
    .await;
    assert_eq!(code, 403, "an API key may not publish there either");
    let mut by_token = events_socket_as(server.addr, &hs256(&claims("u1", json!({})))).await;
    assert_eq!(
        subscribe(&mut by_token, "p", "/private/x").await["type"],
        "subscribe_success"
    );
}

#[tokio::test]
async fn publish_and_subscribe_modes_apart_and_connect_modes() {
    use support::auth::{OIDC_ARGS, claims, hs256};
    let mut args = OIDC_ARGS.to_vec();
    args.extend([
        "--event-namespaces",
        "default,feed,jobs",
        // In `feed` an API key reads and only a token writes; elsewhere (`*`) only a token
        // writes, and anyone reads.
        "--event-namespace-modes",
        "feed:subscribe=api-key,feed:publish=oidc,*:publish=oidc",
    ]);
    let server = TestServer::with_args(&args).await;
    let token = hs256(&claims("u1", json!({})));
    let mut by_key = events_socket(server.addr, KEY).await;
    let mut by_token = events_socket_as(server.addr, &token).await;
    assert_eq!(
        subscribe(&mut by_key, "f", "/feed/x").await["type"],
        "subscribe_success"
    );
    let refused = subscribe(&mut by_token, "f", "/feed/x").await;
    assert_eq!(
        refused["type"], "subscribe_error",
        "a token may not read feed: {refused}"
    );
    assert_eq!(
        subscribe(&mut by_token, "j", "/jobs/x").await["type"],
        "subscribe_success"
    );

    let publish =
        |channel: &str| json!({"type": "publish", "id": "p", "channel": channel, "events": ["1"]});
    by_key.send(publish("/feed/x")).await;
    assert_eq!(
        by_key.next_json().await["type"],
        "publish_error",
        "an API key may not write feed"
    );
    by_key.send(publish("/jobs/x")).await;
    assert_eq!(
        by_key.next_json().await["type"],
        "publish_error",
        "`*:publish` binds jobs too"
    );
    let (code, _) = post_event(server.addr, json!({"channel": "/jobs/x", "events": ["1"]})).await;
    assert_eq!(code, 403, "over HTTP as well");
    by_token.send(publish("/feed/x")).await;
    assert_eq!(by_token.next_json().await["type"], "publish_success");
    assert_eq!(
        next_event(&mut by_key).await.0,
        "f",
        "the key's reader got the token's event"
    );

    // Connect modes: only tokens may open a socket.
    let mut args = OIDC_ARGS.to_vec();
    args.extend(["--event-connect-modes", "oidc"]);
    let server = TestServer::with_args(&args).await;
    let mut by_key = events_socket(server.addr, KEY).await;
    let refused = by_key.next_json().await;
    assert_eq!(refused["type"], "connection_error", "{refused}");
    assert_eq!(refused["errors"][0]["errorType"], "UnauthorizedException");
    let mut by_token = events_socket_as(server.addr, &token).await;
    assert_eq!(
        subscribe(&mut by_token, "d", "/default/x").await["type"],
        "subscribe_success"
    );
}

#[tokio::test]
async fn the_lambda_authorizer_is_asked_in_the_events_shape() {
    let authorizer = TestAuthorizer::start(60).await;
    let server = TestServer::with_args(&[
        "--auth-default",
        "lambda",
        "--auth-additional",
        "api-key",
        "--authorizer-url",
        &authorizer.url,
        "--api-id",
        "events-api",
        "--event-namespaces",
        "default,status",
        "--event-owner-segment",
        "status=1",
    ])
    .await;
    let last = || authorizer.last.lock().unwrap().clone();

    // Connect: EVENT_CONNECT, no channel, the upgrade's headers.
    let mut client = events_socket_as(server.addr, "allow-u1").await;
    assert_eq!(
        subscribe(&mut client, "s", "/default/jobs").await["type"],
        "subscribe_success"
    );
    // (the subscribe was asked after the connect; the connect is checked below by its token)
    let request = last();
    assert_eq!(
        request["requestContext"]["operation"], "EVENT_SUBSCRIBE",
        "{request}"
    );
    assert_eq!(request["requestContext"]["channelNamespaceName"], "default");
    assert_eq!(request["requestContext"]["channel"], "/default/jobs");
    assert_eq!(request["requestContext"]["apiId"], "events-api");
    assert_eq!(request["authorizationToken"], "allow-u1");
    assert_eq!(request["requestHeaders"]["authorization"], "allow-u1");
    assert!(
        request["requestContext"].get("queryString").is_none(),
        "not the GraphQL shape"
    );
    assert_eq!(authorizer.calls(), 2, "connect, then subscribe");

    let mut fresh = events_socket_as(server.addr, "allow-fresh").await;
    fresh.send(json!({"type": "connection_init"})).await;
    assert_eq!(fresh.next_json().await["type"], "connection_ack");
    let request = last();
    assert_eq!(
        request["requestContext"]["operation"], "EVENT_CONNECT",
        "{request}"
    );
    assert!(
        request["requestContext"].get("channel").is_none(),
        "{request}"
    );

    // The answer is per channel: a forbidden channel is refused, as an auth failure.
    let refused = subscribe(&mut client, "f", "/default/forbidden").await;
    assert_eq!(refused["type"], "subscribe_error", "{refused}");
    assert_eq!(refused["errors"][0]["errorType"], "UnauthorizedException");
    // …and cached per channel: the same subscribe again asks nothing new.
    let calls = authorizer.calls();
    assert_eq!(
        subscribe(&mut client, "s2", "/default/jobs").await["type"],
        "subscribe_success"
    );
    assert_eq!(authorizer.calls(), calls);

    // A publish with its own authorization: EVENT_PUBLISH for that token.
    client
        .send(json!({"type": "publish", "id": "p", "channel": "/default/jobs", "events": ["{\"n\":1}"],
            "authorization": {"Authorization": "allow-u2", "host": "localhost"}}))
        .await;
    assert_eq!(client.next_json().await["type"], "publish_success");
    let request = last();
    assert_eq!(
        request["requestContext"]["operation"], "EVENT_PUBLISH",
        "{request}"
    );
    assert_eq!(request["authorizationToken"], "allow-u2");
    for _ in 0..2 {
        assert_eq!(next_event(&mut client).await.1, json!({"n": 1}));
    }

    // handlerContext is the caller's claims: the owner rule reads `sub` from it.
    assert_eq!(
        subscribe(&mut client, "own", "/status/u1/*").await["type"],
        "subscribe_success"
    );
    let refused = subscribe(&mut client, "other", "/status/u2/*").await;
    assert_eq!(refused["type"], "subscribe_error", "{refused}");

    // Over HTTP: EVENT_PUBLISH with the channel; a forbidden channel is a 401.
    let post = |token: &'static str, channel: &'static str| {
        let addr = server.addr;
        async move {
            switchboard::net::http_client::client()
                .unwrap()
                .post(format!("http://{addr}/event"))
                .header("authorization", token)
                .json(&json!({"channel": channel, "events": ["2"]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post("allow-u3", "/default/jobs").await, 200);
    assert_eq!(last()["requestContext"]["operation"], "EVENT_PUBLISH");
    assert_eq!(last()["requestContext"]["channel"], "/default/jobs");
    assert_eq!(post("allow-u3", "/default/forbidden").await, 401);
    assert_eq!(post("deny-me", "/default/jobs").await, 401);
}

const ACCESS_KEY: &str = "AKIDEVENTSTEST";
const SECRET: &str = "events-test-secret/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// SigV4 headers for a POST of `body` to `/event` on `host`, as an AppSync auth object.
fn signed(host: &str, body: &str, secret: &str) -> Map<String, Json> {
    let base = [("content-type", "application/json; charset=UTF-8")];
    support::auth::sigv4_headers(
        host,
        "/event",
        &base,
        body.as_bytes(),
        (ACCESS_KEY, secret),
        SystemTime::now(),
    )
    .into_iter()
    .map(|(n, v)| (n, json!(v)))
    .collect()
}

#[tokio::test]
async fn iam_signs_the_connect_each_message_and_the_http_publish() {
    let path = std::env::temp_dir().join(format!("switchboard-iam-{}.json", uuid::Uuid::new_v4()));
    let file = json!([{"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET}]);
    std::fs::write(&path, file.to_string()).unwrap();
    let server = TestServer::with_args(&[
        "--auth-additional",
        "iam",
        "--iam-credentials",
        path.to_str().unwrap(),
    ])
    .await;
    let host = server.addr.to_string();

    // The connect, signed over `{}`, in the upgrade's own headers (as Swift and Kotlin send it).
    let url = format!("ws://{host}/event/realtime");
    let headers: Vec<(String, String)> = signed(&host, "{}", SECRET)
        .into_iter()
        .map(|(n, v)| (n, v.as_str().unwrap().to_owned()))
        .collect();
    let (mut client, _) =
        WsClient::dial(Proto::AppSync, &url, &[SUBPROTOCOL.to_owned()], &headers).await;

    // A subscribe signed over `{"channel":…}`.
    let channel = "/default/iam";
    let authorization = signed(&host, &format!(r#"{{"channel":"{channel}"}}"#), SECRET);
    client
        .send(json!({"type": "subscribe", "id": "s", "channel": channel, "authorization": authorization}))
        .await;
    assert_eq!(client.next_json().await["type"], "subscribe_success");

    // A publish signed over `{"channel":…,"events":[…]}`, the events as the strings sent.
    let event = r#"{"status":"a/b \"quoted\""}"#;
    let body = json!({"channel": channel, "events": [event]}).to_string();
    client
        .send(
            json!({"type": "publish", "id": "p", "channel": channel, "events": [event],
            "authorization": signed(&host, &body, SECRET)}),
        )
        .await;
    assert_eq!(client.next_json().await["type"], "publish_success");
    assert_eq!(next_event(&mut client).await.1["status"], "a/b \"quoted\"");

    // Signed for one event, sent with another: refused.
    client
        .send(
            json!({"type": "publish", "id": "t", "channel": channel, "events": ["\"other\""],
            "authorization": signed(&host, &body, SECRET)}),
        )
        .await;
    let refused = client.next_json().await;
    assert_eq!(refused["type"], "publish_error", "{refused}");
    assert_eq!(refused["errors"][0]["errorType"], "UnauthorizedException");
    // A subscribe signed with the wrong secret: refused.
    let authorization = signed(&host, &format!(r#"{{"channel":"{channel}"}}"#), "wrong");
    client
        .send(json!({"type": "subscribe", "id": "w", "channel": channel, "authorization": authorization}))
        .await;
    assert_eq!(client.next_json().await["type"], "subscribe_error");

    // HTTP: the exact body is signed.
    let body = json!({"channel": channel, "events": ["\"over http\""]}).to_string();
    let send = |headers: Map<String, Json>, body: String| {
        let url = format!("http://{host}/event");
        async move {
            let mut request = switchboard::net::http_client::client()
                .unwrap()
                .post(url)
                .body(body);
            for (name, value) in &headers {
                request = request.header(name, value.as_str().unwrap());
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(send(signed(&host, &body, SECRET), body.clone()).await, 200);
    assert_eq!(next_event(&mut client).await.1, json!("over http"));
    let tampered = body.replace("over http", "tampered");
    assert_eq!(send(signed(&host, &body, SECRET), tampered).await, 401);

    // A connect signed with the wrong secret ends with connection_error.
    let headers: Vec<(String, String)> = signed(&host, "{}", "wrong")
        .into_iter()
        .map(|(n, v)| (n, v.as_str().unwrap().to_owned()))
        .collect();
    let (mut refused, _) =
        WsClient::dial(Proto::AppSync, &url, &[SUBPROTOCOL.to_owned()], &headers).await;
    assert_eq!(refused.next_json().await["type"], "connection_error");
    std::fs::remove_file(path).ok();
}

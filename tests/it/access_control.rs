//! Who may touch what: the schema's auth directives, the owner rule binding `userId` to the
//! caller's own identity, browser origins, and per-address limits, over HTTP and every
//! WebSocket protocol.

use crate::support;

use serde_json::{Value as Json, json};
use support::auth::{self, HS256_SECRET, claims, hs256};
use support::{KEY, Proto, TestServer, WsClient};

const SDL: &str = r#"
type Query {
  statusHistory(userId: ID!): [Status!]! @aws_api_key @aws_oidc @aws_cognito_user_pools
}
type Mutation {
  publishStatus(input: StatusInput!): Status @aws_api_key
}
type Subscription {
  onStatusUpdate(userId: ID!): Status
    @aws_subscribe(mutations: ["publishStatus"]) @aws_api_key @aws_oidc @aws_cognito_user_pools
  keyOnly(userId: ID!): Status @aws_subscribe(mutations: ["publishStatus"]) @aws_api_key
  opsOnly(userId: ID!): Status
    @aws_subscribe(mutations: ["publishStatus"]) @aws_cognito_user_pools(cognito_groups: ["ops"])
}
type Status @aws_api_key @aws_oidc @aws_cognito_user_pools {
  jobId: ID!
  userId: ID!
  agentName: String
  status: String!
  message: String
  timestamp: AWSDateTime!
}
input StatusInput { jobId: ID! userId: ID! agentName: String status: String! message: String }
"#;

async fn directive_server(extra: &[&str]) -> TestServer {
    let path = std::env::temp_dir().join(format!(
        "switchboard-access-{}.graphql",
        uuid::Uuid::new_v4()
    ));
    std::fs::write(&path, SDL).unwrap();
    let mut args = vec![
        "--schema",
        path.to_str().unwrap(),
        "--auth-additional",
        "oidc,cognito",
        "--jwt-hs256-secret",
        HS256_SECRET,
        "--jwt-issuer",
        auth::ISSUER,
    ];
    args.extend_from_slice(extra);
    let server = TestServer::with_args(&args).await;
    std::fs::remove_file(path).ok();
    server
}

/// An OIDC token for `sub`.
fn oidc(sub: &str) -> String {
    hs256(&claims(sub, json!({})))
}

/// A Cognito ID token for `sub` in `groups`.
fn cognito(sub: &str, groups: &[&str]) -> String {
    hs256(&claims(
        sub,
        json!({"token_use": "id", "cognito:groups": groups}),
    ))
}

/// Connects as `token` and subscribes to `field(userId: user)` as `token` too (AppSync carries
/// it per `start`; the standard protocols use the connection's).
async fn subscribe_as(
    server: &TestServer,
    proto: Proto,
    token: &str,
    field: &str,
    user: &str,
) -> WsClient {
    let credentials = json!({"Authorization": token});
    let mut client = auth::connect_as(server, proto, &credentials).await;
    auth::expect_accepted(&mut client).await;
    let query =
        format!("subscription S($u: ID!) {{ {field}(userId: $u) {{ userId status timestamp }} }}");
    let data = json!({"query": query, "variables": {"u": user}});
    match proto {
        Proto::AppSync => {
            client
                .start("s", &data.to_string(), Some(credentials))
                .await
        }
        _ => client.subscribe("s", &query, json!({"u": user})).await,
    }
    client
}

/// The next message is an `error` for id `s`; its first error object in AppSync's or the
/// standard shape, with `errorType` at the top.
async fn expect_denied(client: &mut WsClient) -> Json {
    let (first, error_type) = client.next_operation_error("s").await;
    assert_eq!(error_type.as_deref(), Some("Unauthorized"), "{first}");
    first
}

/// The subscription went live and receives `user`'s next status.
async fn expect_receives(server: &TestServer, client: &mut WsClient, user: &str) {
    match client.proto {
        Proto::AppSync => assert_eq!(client.next_json().await["type"], "start_ack"),
        _ => client.barrier().await,
    }
    server.publish(user, "j", "validating").await;
    let (_, data) = client.next_data().await;
    let status = data.as_object().unwrap().values().next().unwrap();
    assert_eq!(status["userId"], user, "{data}");
}

#[tokio::test]
async fn a_field_limited_to_api_keys_refuses_a_token_caller() {
    let server = directive_server(&[]).await;
    for proto in Proto::EVERY {
        let mut client = subscribe_as(&server, proto, &oidc("u1"), "keyOnly", "u1").await;
        let denied = expect_denied(&mut client).await;
        assert_eq!(
            denied["message"],
            "Not Authorized to access keyOnly on type Subscription"
        );
        // The same caller on a field that admits OIDC.
        let mut client = subscribe_as(&server, proto, &oidc("u1"), "onStatusUpdate", "u1").await;
        expect_receives(&server, &mut client, "u1").await;
    }
    // Over HTTP: the mutation admits API keys only.
    let (status, body) = auth::post_as(
        &server,
        &json!({"Authorization": oidc("u1")}),
        &auth::publish_body("u1", "refused"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["errorType"], "Unauthorized", "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "Not Authorized to access publishStatus on type Mutation"
    );
    let history = server
        .graphql("{ statusHistory(userId: \"u1\") { status } }", json!({}))
        .await;
    let statuses: Vec<&str> = history["data"]["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert!(!statuses.is_empty(), "{history}");
    assert!(
        !statuses.contains(&"refused"),
        "the refused publish did not run: {history}"
    );
}

#[tokio::test]
async fn a_cognito_group_rule_admits_only_that_group() {
    let server = directive_server(&[]).await;
    for proto in Proto::EVERY {
        let mut member =
            subscribe_as(&server, proto, &cognito("c1", &["ops"]), "opsOnly", "c1").await;
        expect_receives(&server, &mut member, "c1").await;
        let mut outsider =
            subscribe_as(&server, proto, &cognito("c2", &["users"]), "opsOnly", "c2").await;
        expect_denied(&mut outsider).await;
        // An OIDC (not Cognito) token is not admitted by a Cognito rule at all.
        let mut other_mode = subscribe_as(&server, proto, &oidc("o1"), "opsOnly", "o1").await;
        expect_denied(&mut other_mode).await;
    }
}

#[tokio::test]
async fn subscribers_may_only_listen_to_themselves_unless_admins() {
    let server = directive_server(&auth::OWNER_ARGS).await;
    for proto in Proto::EVERY {
        let mut thief = subscribe_as(&server, proto, &oidc("u1"), "onStatusUpdate", "u2").await;
        let denied = expect_denied(&mut thief).await;
        assert!(
            denied["message"]
                .as_str()
                .unwrap()
                .starts_with("Not Authorized to access onStatusUpdate on type Subscription"),
            "{denied}"
        );
        let mut own = subscribe_as(&server, proto, &oidc("u1"), "onStatusUpdate", "u1").await;
        expect_receives(&server, &mut own, "u1").await;
        let mut admin = subscribe_as(
            &server,
            proto,
            &cognito("boss", &["admins"]),
            "onStatusUpdate",
            "u2",
        )
        .await;
        expect_receives(&server, &mut admin, "u2").await;
        // API keys are trusted by default, as in AppSync.
        let mut key = WsClient::ready(&server, proto).await;
        key.subscribe_live("k", "u2").await;
    }
    // The record names the verified user, not whatever the client asked for.
    let records = server.app.store.by_user("u1").await.unwrap();
    assert!(records.iter().any(|r| r.user_id.as_deref() == Some("u1")));
}

#[tokio::test]
async fn origins_outside_the_allow_list_are_refused_in_band() {
    let server = TestServer::with_args(&["--allowed-origins", "https://app.example"]).await;
    for (origin, allowed) in [
        ("https://app.example", true),
        ("https://evil.example", false),
    ] {
        for proto in Proto::EVERY {
            let url = match proto {
                Proto::AppSync => format!("ws://{}/graphql/realtime", server.addr),
                _ => server.ws_url(),
            };
            let mut subprotocols = vec![proto.subprotocol().to_owned()];
            if proto == Proto::AppSync {
                subprotocols.push(support::header_subprotocol(&json!({"x-api-key": KEY})));
            }
            let headers = [("Origin".to_owned(), origin.to_owned())];
            let (mut client, _) = WsClient::dial(proto, &url, &subprotocols, &headers).await;
            if allowed {
                match proto {
                    Proto::AppSync => client.send(json!({"type": "connection_init"})).await,
                    _ => client.init(json!({"x-api-key": KEY})).await,
                }
                auth::expect_accepted(&mut client).await;
                continue;
            }
            match proto {
                Proto::TransportWs => assert_eq!(client.expect_close().await.0, 4403),
                Proto::Legacy => {
                    assert_eq!(client.next_json().await["type"], "connection_error");
                    assert_eq!(client.expect_close().await.0, 4403);
                }
                Proto::AppSync => {
                    let error = client.next_json().await;
                    assert_eq!(error["payload"]["errors"][0]["errorCode"], 403, "{error}");
                }
            }
        }
        // CORS for POST /graphql.
        let preflight = switchboard::net::http_client::client()
            .unwrap()
            .request(reqwest::Method::OPTIONS, server.http_url())
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "x-api-key,content-type")
            .send()
            .await
            .unwrap();
        let allow = preflight
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            allow.as_deref() == Some(origin),
            allowed,
            "{origin}: {allow:?}"
        );
    }
}

#[tokio::test]
async fn per_address_limits_are_answered_in_band() {
    let server = TestServer::with_args(&[
        "--max-connections-per-address",
        "2",
        "--max-auth-failures-per-minute",
        "3",
    ])
    .await;
    let _one = WsClient::ready(&server, Proto::TransportWs).await;
    let _two = WsClient::ready(&server, Proto::Legacy).await;
    let mut three = WsClient::connect(&server, Proto::TransportWs).await;
    assert_eq!(three.expect_close().await.0, 4429);
    let url = format!("ws://{}/graphql/realtime", server.addr);
    let sub = support::header_subprotocol(&json!({"x-api-key": KEY}));
    let (mut appsync, _) =
        WsClient::dial(Proto::AppSync, &url, &["graphql-ws".to_owned(), sub], &[]).await;
    let error = appsync.next_json().await;
    assert_eq!(error["payload"]["errors"][0]["errorCode"], 429, "{error}");
}

#[tokio::test]
async fn repeated_auth_failures_lock_the_address_out_for_a_minute() {
    let server = TestServer::with_args(&["--max-auth-failures-per-minute", "3"]).await;
    // Three failed authentications, then even the right key waits out the minute.
    for _ in 0..3 {
        let (status, _) = auth::post_as(
            &server,
            &json!({"x-api-key": "da2-guess"}),
            &auth::publish_body("u", "x"),
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, body) = auth::post_as(
        &server,
        &json!({"x-api-key": KEY}),
        &auth::publish_body("u", "x"),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    let mut client = WsClient::connect(&server, Proto::TransportWs).await;
    client.init(json!({"x-api-key": KEY})).await;
    assert_eq!(client.expect_close().await.0, 4429);
}

#[tokio::test]
async fn history_reads_pass_the_owner_rule_too() {
    let server = directive_server(&auth::OWNER_ARGS).await;
    server.publish("u2", "j", "secret_of_u2").await;
    let read = |credentials: Json| {
        let server = &server;
        async move {
            let body = json!({"query": "query H($u: ID!) { statusHistory(userId: $u) { userId status } }", "variables": {"u": "u2"}});
            auth::post_as(server, &credentials, &body).await
        }
    };
    let (status, body) = read(json!({"Authorization": oidc("u1")})).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["errorType"], "Unauthorized", "{body}");
    assert_eq!(body["data"], Json::Null, "nothing of u2's leaks: {body}");
    assert!(!body.to_string().contains("secret_of_u2"));
    for allowed in [
        json!({"Authorization": cognito("boss", &["admins"])}),
        json!({"Authorization": oidc("u2")}),
        json!({"x-api-key": KEY}),
    ] {
        let (_, body) = read(allowed).await;
        assert_eq!(
            body["data"]["statusHistory"][0]["status"], "secret_of_u2",
            "{body}"
        );
    }
}

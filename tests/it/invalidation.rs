//! Server-side rules (`--rules`): a mutation that invalidates a subscription field ends exactly
//! the matching subscriptions (`complete`, nothing after, the socket stays open) over every
//! protocol, on one node and across a cluster; the admin route does the same; a field's
//! server-side filter holds for every subscriber.

use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value as Json, json};
use support::cluster::{ADMIN_KEY, node, post_at};
use support::redis::RedisServer;
use support::{Proto, TestServer, WsClient};

const SDL: &str = r#"
type Query { x: Int }
type Status { jobId: ID! userId: ID! status: String! }
type Cancel { jobId: ID! userId: ID! }
type Mutation {
  publishStatus(userId: ID!, jobId: ID!, status: String!): Status
  cancelJob(userId: ID!, jobId: ID!): Cancel
}
type Subscription {
  onStatusUpdate(userId: ID!, jobId: ID): Status @aws_subscribe(mutations: ["publishStatus"])
}
"#;

const RULES: &str = r#"{
  "invalidations": [
    {"mutation": "cancelJob", "subscriptionField": "onStatusUpdate",
     "payload": {"userId": "${result.userId}", "jobId": "${result.jobId}"}}
  ]
}"#;

const ON_STATUS: &str =
    "subscription S($u: ID!, $j: ID) { onStatusUpdate(userId: $u, jobId: $j) { jobId status } }";

fn files(rules: &str) -> (String, String) {
    let dir = std::env::temp_dir();
    let id = uuid::Uuid::new_v4();
    let schema = dir.join(format!("switchboard-{id}.graphql"));
    let rules_path = dir.join(format!("switchboard-{id}.rules.json"));
    std::fs::write(&schema, SDL).unwrap();
    std::fs::write(&rules_path, rules).unwrap();
    (
        schema.to_str().unwrap().to_owned(),
        rules_path.to_str().unwrap().to_owned(),
    )
}

async fn publish(addr: SocketAddr, user: &str, job: &str, status: &str) {
    let (code, body) = post_at(
        addr,
        "mutation P($u: ID!, $j: ID!, $s: String!) { publishStatus(userId: $u, jobId: $j, status: $s) { status } }",
        json!({"u": user, "j": job, "s": status}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
}

async fn cancel(addr: SocketAddr, user: &str, job: &str) {
    let (code, body) = post_at(
        addr,
        "mutation C($u: ID!, $j: ID!) { cancelJob(userId: $u, jobId: $j) { jobId } }",
        json!({"u": user, "j": job}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
}

/// The next message is `complete` for `id`.
async fn expect_complete(client: &mut WsClient, id: &str) {
    let message = client.next_json().await;
    assert_eq!(
        (message["type"].as_str(), message["id"].as_str()),
        (Some("complete"), Some(id)),
        "{:?}: {message}",
        client.proto
    );
}

async fn status(client: &mut WsClient) -> (String, Json) {
    let (id, data) = client.next_data().await;
    (id, data["onStatusUpdate"]["status"].clone())
}

/// A's subscription to job j1 and B's to j1 on `subscribe_at`; A also watches j2 on the same
/// socket. `invalidate` ends A's j1 subscription only.
async fn invalidates_exactly_the_match(
    proto: Proto,
    publish_at: SocketAddr,
    subscribe_at: SocketAddr,
    invalidate: impl AsyncFnOnce(),
) {
    let mut a = WsClient::ready_at(subscribe_at, proto).await;
    let mut b = WsClient::ready_at(subscribe_at, proto).await;
    a.subscribe("a1", ON_STATUS, json!({"u": "A", "j": "j1"}))
        .await;
    a.subscribe("a2", ON_STATUS, json!({"u": "A", "j": "j2"}))
        .await;
    a.barrier().await;
    b.subscribe("b1", ON_STATUS, json!({"u": "B", "j": "j1"}))
        .await;
    b.barrier().await;
    invalidate().await;
    expect_complete(&mut a, "a1").await;
    for (user, job) in [("A", "j1"), ("A", "j2"), ("B", "j1")] {
        publish(publish_at, user, job, "after").await;
    }
    assert_eq!(status(&mut a).await, ("a2".to_owned(), json!("after")));
    assert_eq!(status(&mut b).await, ("b1".to_owned(), json!("after")));
    a.expect_silence(Duration::from_millis(100)).await;
    b.expect_silence(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn a_declared_mutation_ends_the_matching_subscriptions_only() {
    let (schema, rules) = files(RULES);
    let server = TestServer::with_args(&["--schema", &schema, "--rules", &rules]).await;
    let addr = server.addr;
    for proto in Proto::EVERY {
        invalidates_exactly_the_match(proto, addr, addr, async || cancel(addr, "A", "j1").await)
            .await;
    }
}

#[tokio::test]
async fn invalidation_crosses_a_cluster_and_the_admin_route_does_the_same() {
    let redis = RedisServer::start().await;
    let prefix = format!("inv{}", uuid::Uuid::new_v4().simple());
    let (schema, rules) = files(RULES);
    let extra = ["--schema", schema.as_str(), "--rules", rules.as_str()];
    let n1 = node(&redis.url(), &prefix, "n1", &extra).await;
    let n2 = node(&redis.url(), &prefix, "n2", &extra).await;
    let (a1, a2) = (n1.addr, n2.addr);
    for proto in Proto::EVERY {
        invalidates_exactly_the_match(proto, a1, a2, async || cancel(a1, "A", "j1").await).await;
    }
    let admin = async || {
        let response = switchboard::net::http_client::client()
            .unwrap()
            .post(format!("http://{a1}/admin/invalidate"))
            .header("x-api-key", ADMIN_KEY)
            .json(&json!({"subscriptionField": "onStatusUpdate", "payload": {"userId": "A", "jobId": "j1"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    };
    invalidates_exactly_the_match(Proto::AppSync, a1, a2, admin).await;
    // The admin route checks what it is given, and who gives it.
    let client = switchboard::net::http_client::client().unwrap();
    let unknown = client
        .post(format!("http://{a1}/admin/invalidate"))
        .header("x-api-key", ADMIN_KEY)
        .json(&json!({"subscriptionField": "nope", "payload": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let refused = client
        .post(format!("http://{a1}/admin/invalidate"))
        .header("x-api-key", support::KEY)
        .json(&json!({"subscriptionField": "onStatusUpdate", "payload": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "an API key is no admin key");
}

#[tokio::test]
async fn a_fields_server_side_filter_holds_for_every_subscriber() {
    let (schema, rules) = files(
        r#"{"subscriptions": {"onStatusUpdate": {"filter": {"status": {"in": ["complete", "error"]}}}}}"#,
    );
    let server = TestServer::with_args(&["--schema", &schema, "--rules", &rules]).await;
    for proto in Proto::EVERY {
        let mut client = WsClient::ready(&server, proto).await;
        client.subscribe("s", ON_STATUS, json!({"u": "U"})).await;
        client.barrier().await;
        for step in [
            "loading_agents",
            "validating",
            "complete",
            "synthesizing",
            "error",
        ] {
            publish(server.addr, "U", "j", step).await;
        }
        assert_eq!(status(&mut client).await.1, "complete");
        assert_eq!(status(&mut client).await.1, "error");
        client.expect_silence(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_rules_file_that_names_what_the_schema_lacks_is_refused_at_start_up() {
    let (schema, rules) = files(r#"{"subscriptions": {"onNothing": {}}}"#);
    let settings = switchboard::Settings::from_args([
        "--listen",
        "127.0.0.1:0",
        "--schema",
        &schema,
        "--rules",
        &rules,
    ])
    .unwrap();
    let error = switchboard::Server::bind(settings)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("onNothing"), "{error}");
}

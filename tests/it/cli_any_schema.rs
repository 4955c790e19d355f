//! The CLI beyond the status schema: `subscribe --query` and `publish --query` with a schema of
//! the user's own, over graphql-transport-ws and AppSync's protocol, plain and over TLS; the
//! server ending a subscription is said and is not a success; one exported key serves both.

use crate::support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value as Json, json};
use support::cli::{run_cli, started, switchboard};
use support::{KEY, TestServer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

const TODO_SDL: &str = r#"
type Todo { id: ID! title: String! done: Boolean }
type Query { getTodo(id: ID!): Todo }
type Mutation { createTodo(id: ID!, title: String!, done: Boolean): Todo }
type Subscription { onCreateTodo(done: Boolean): Todo @aws_subscribe(mutations: ["createTodo"]) }
"#;

const SUBSCRIPTION: &str =
    "subscription S($done: Boolean) { onCreateTodo(done: $done) { id title } }";
const MUTATION: &str = "mutation C($id: ID!, $title: String!, $done: Boolean) { createTodo(id: $id, title: $title, done: $done) { id title done } }";

async fn todo_server(extra: &[&str]) -> TestServer {
    let path =
        std::env::temp_dir().join(format!("switchboard-todo-{}.graphql", uuid::Uuid::new_v4()));
    std::fs::write(&path, TODO_SDL).unwrap();
    let mut args = vec!["--schema", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    TestServer::with_args(&args).await
}

/// Starts `subscribe` with `args` and waits until it says it is live.
async fn live_subscriber(args: &[&str]) -> Child {
    let mut command = switchboard();
    command.arg("subscribe").args(args);
    let (child, said, _) = started(command).await;
    assert_eq!(said, "subscribed to the subscription");
    child
}

/// Runs `publish --query` for todo `id`; its printed `data`.
async fn create_todo(common: &[&str], id: &str, done: bool) -> Json {
    let variables = json!({"id": id, "title": format!("todo {id}"), "done": done}).to_string();
    let query = ["publish", "--query", MUTATION, "--variables", &variables];
    let (lines, _) = run_cli(&[&query[..1], common, &query[1..]].concat()).await;
    lines[0].clone()
}

/// A `--query` subscriber filtered on `done: true` gets exactly the matching todos, over
/// `protocol`, with `common` (URL, key, CA) on every call.
async fn subscribe_and_publish_with_queries(common: &[&str], protocol: &str) {
    let variables = json!({"done": true}).to_string();
    let subscriber = live_subscriber(
        &[
            common,
            &[
                "--protocol",
                protocol,
                "--query",
                SUBSCRIPTION,
                "--variables",
                &variables,
                "--count",
                "2",
            ],
        ]
        .concat(),
    )
    .await;
    let created = create_todo(common, "1", true).await;
    assert_eq!(
        created,
        json!({"createTodo": {"id": "1", "title": "todo 1", "done": true}})
    );
    create_todo(common, "2", false).await;
    create_todo(common, "3", true).await;
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
    assert_eq!(
        lines,
        [
            json!({"onCreateTodo": {"id": "1", "title": "todo 1"}}),
            json!({"onCreateTodo": {"id": "3", "title": "todo 3"}}),
        ],
        "{protocol}"
    );
}

#[tokio::test]
async fn subscribe_and_publish_take_any_query_over_both_protocols() {
    let server = todo_server(&[]).await;
    let url = server.http_url();
    for protocol in ["transport-ws", "appsync"] {
        subscribe_and_publish_with_queries(&["--url", &url, "--api-key", KEY], protocol).await;
    }
}

#[tokio::test]
async fn subscribe_and_publish_take_any_query_over_tls() {
    let dir = std::env::temp_dir().join(format!("switchboard-cli-any-{}", uuid::Uuid::new_v4()));
    let server = todo_server(&["--tls-self-signed", dir.to_str().unwrap()]).await;
    let url = format!("https://localhost:{}/graphql", server.addr.port());
    let ca = dir.join("ca.pem");
    for protocol in ["transport-ws", "appsync"] {
        let common = [
            "--url",
            &url,
            "--api-key",
            KEY,
            "--ca-file",
            ca.to_str().unwrap(),
        ];
        subscribe_and_publish_with_queries(&common, protocol).await;
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The server ending a subscription (here a mutation's invalidation, `--rules`) is said on
/// stderr and is a failure; `SWITCHBOARD_API_KEY`, the server's variable, serves the CLI too.
#[tokio::test]
async fn a_subscription_the_server_ends_is_said_and_fails() {
    let rules =
        std::env::temp_dir().join(format!("switchboard-rules-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(
        &rules,
        json!({
            "subscriptions": {"onCreateTodo": {"invalidationFilter": {"id": {"eq": "9"}}}},
            "invalidations": [{"mutation": "createTodo", "subscriptionField": "onCreateTodo",
                "payload": {"id": "${result.id}"}}]
        })
        .to_string(),
    )
    .unwrap();
    let server = todo_server(&["--rules", rules.to_str().unwrap()]).await;
    let url = server.http_url();
    let mut command = switchboard();
    command
        .env("SWITCHBOARD_API_KEY", format!("{KEY},another-key"))
        .args(["subscribe", "--url", &url, "--query", SUBSCRIPTION]);
    let (mut subscriber, said, mut stderr) = started(command).await;
    assert_eq!(said, "subscribed to the subscription");
    let variables = json!({"id": "9", "title": "stop"}).to_string();
    run_cli(&[
        "publish",
        "--url",
        &url,
        "--api-key",
        KEY,
        "--query",
        MUTATION,
        "--variables",
        &variables,
    ])
    .await;
    let status = tokio::time::timeout(Duration::from_secs(10), subscriber.wait())
        .await
        .expect("the subscriber exits")
        .unwrap();
    assert!(!status.success());
    let said = stderr.next_line().await.unwrap().unwrap_or_default();
    assert!(said.contains("the server ended the subscription"), "{said}");
    std::fs::remove_file(&rules).ok();
}

#[tokio::test]
async fn without_any_key_the_cli_says_where_to_put_one() {
    let output = switchboard()
        .args([
            "publish",
            "--url",
            "http://127.0.0.1:9/graphql",
            "--query",
            MUTATION,
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("--api-key") && said.contains("SWITCHBOARD_API_KEY"),
        "{said}"
    );
    assert_eq!(said.trim_end().lines().count(), 1, "{said}");
}

/// The banner lists what the served schema offers: a custom schema's routes and no status page;
/// a node on Redis its node id and where Redis is (without the password).
#[tokio::test]
async fn the_banner_lists_what_the_served_schema_offers() {
    let path =
        std::env::temp_dir().join(format!("switchboard-todo-{}.graphql", uuid::Uuid::new_v4()));
    std::fs::write(&path, TODO_SDL).unwrap();
    let redis = support::redis::RedisServer::start().await;
    let url = redis.url().replace("redis://", "redis://:secret@");
    let listen = format!("127.0.0.1:{}", support::redis::free_port());
    let mut node = switchboard()
        .args(["--listen", &listen, "--schema", path.to_str().unwrap()])
        .args(["--redis-url", &url, "--node-id", "banner-node"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    while !banner
        .iter()
        .any(|l: &String| l.trim_start().starts_with("API key"))
    {
        let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
            .await
            .expect("the banner")
            .unwrap()
            .expect("more banner");
        banner.push(line);
    }
    let banner = banner.join("\n");
    assert!(
        banner.contains("Schema     createTodo -> onCreateTodo"),
        "{banner}"
    );
    assert!(!banner.contains("Status "), "{banner}");
    let plain = redis.url();
    assert!(
        banner.contains(&format!(
            "Cluster    node banner-node on Redis {}",
            plain.replace("redis://", "redis://***@")
        )),
        "{banner}"
    );
    assert!(!banner.contains("secret"), "{banner}");
    node.kill().await.unwrap();
}

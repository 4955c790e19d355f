//! End-to-end tests with real third-party JavaScript clients, unmodified: `graphql-ws` (protocol
//! graphql-transport-ws), Apollo's `subscriptions-transport-ws` (legacy subprotocol
//! `graphql-ws`), and the AppSync clients `aws-amplify` (v6, over TLS and over `ws://`) and
//! `aws-appsync-subscription-link` with Apollo Client, and Amplify's AppSync Events client
//! (`events.connect`, `events.post`, `channel.publish`) over TLS. The Rust clients in `tests/it/support` speak the protocols as we read their specs;
//! these prove that the clients people actually use agree.
//!
//! Needs `node` (20+) and `npm` on the `PATH`. The tests are `tests/clients/*.test.mjs`, run by
//! node's built-in test runner; their dependencies are pinned in `tests/clients/package-lock.json`
//! and installed with `npm ci` when `tests/clients/node_modules` is missing or stale.

use crate::support;

use support::node::{describe, installed, run, test_files};
use tokio::process::Command;

const IAM_ACCESS_KEY: &str = "AKIDAMPLIFYEVENTS";
const IAM_SECRET: &str = "amplify-events-secret/K7MDENG+bPxRfiCYEXAMPLEKEY";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_javascript_clients() {
    let dir = installed("clients").await;

    let server = support::TestServer::start().await;
    // A second server with TLS from a local CA, for Amplify's stock `https` -> `wss` derivation;
    // node trusts that CA and nothing new besides (`NODE_EXTRA_CA_CERTS`).
    let ca_dir = std::env::temp_dir().join(format!("switchboard-js-tls-{}", uuid::Uuid::new_v4()));
    // IAM credentials Amplify signs Events requests with (its `credentialsProvider`).
    std::fs::create_dir_all(&ca_dir).unwrap();
    let iam_file = ca_dir.join("iam.json");
    let iam = serde_json::json!([{"accessKeyId": IAM_ACCESS_KEY, "secretAccessKey": IAM_SECRET}]);
    std::fs::write(&iam_file, iam.to_string()).unwrap();
    let tls = support::TestServer::with_args(&[
        "--tls-self-signed",
        ca_dir.to_str().unwrap(),
        "--auth-additional",
        "iam",
        "--iam-credentials",
        iam_file.to_str().unwrap(),
        // Its statuses are also AppSync Events on /status/{userId}/{jobId}.
        "--event-namespaces",
        "default,status",
        "--event-bridge",
        "publishStatus=/status/{userId}/{jobId}",
    ])
    .await;
    // A third that replays a subscription's latest status to every new subscriber.
    let replaying = support::TestServer::with_args(&["--replay-latest", "onStatusUpdate"]).await;
    // A fourth serving the schema Amplify generates for a `Todo` model.
    let todo_schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/amplify-todo.graphql"
    );
    let todo = support::TestServer::with_args(&["--schema", todo_schema]).await;
    let node = run(Command::new("node")
        .arg("--test")
        .args(test_files(&dir))
        .current_dir(&dir)
        .env("SWITCHBOARD_HTTP_URL", server.http_url())
        .env("SWITCHBOARD_WS_URL", server.ws_url())
        .env("SWITCHBOARD_REPLAY_HTTP_URL", replaying.http_url())
        .env("SWITCHBOARD_REPLAY_WS_URL", replaying.ws_url())
        .env("SWITCHBOARD_TODO_HTTP_URL", todo.http_url())
        .env("SWITCHBOARD_TODO_WS_URL", todo.ws_url())
        .env(
            "SWITCHBOARD_HTTPS_URL",
            format!("https://localhost:{}/graphql", tls.addr.port()),
        )
        .env("NODE_EXTRA_CA_CERTS", ca_dir.join("ca.pem"))
        .env("SWITCHBOARD_IAM_ACCESS_KEY", IAM_ACCESS_KEY)
        .env("SWITCHBOARD_IAM_SECRET", IAM_SECRET)
        .env("SWITCHBOARD_API_KEY", support::KEY))
    .await;
    std::fs::remove_dir_all(&ca_dir).ok();
    assert!(
        node.status.success(),
        "node --test failed\n{}",
        describe(&node)
    );
}

//! End-to-end tests with real third-party JavaScript clients, unmodified: `graphql-ws` (protocol
//! graphql-transport-ws), Apollo's `subscriptions-transport-ws` (legacy subprotocol
//! `graphql-ws`), and the AppSync clients `aws-amplify` (v6, over TLS and over `ws://`) and
//! `aws-appsync-subscription-link` with Apollo Client. The Rust clients in `tests/support` speak the protocols as we read their specs;
//! these prove that the clients people actually use agree.
//!
//! Needs `node` (20+) and `npm` on the `PATH`. The tests are `tests/clients/*.test.mjs`, run by
//! node's built-in test runner; their dependencies are pinned in `tests/clients/package-lock.json`
//! and installed with `npm ci` when `tests/clients/node_modules` is missing or stale.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tokio::process::Command;

/// How long `npm ci`, or the whole node test run, may take.
const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_javascript_clients() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    // `npm ci` when node_modules is missing or was installed from another lockfile.
    let lock = std::fs::read(dir.join("package-lock.json")).expect("a lockfile");
    let stamp = dir.join("node_modules/.installed-package-lock.json");
    if std::fs::read(&stamp).ok().as_ref() != Some(&lock) {
        let npm = run(Command::new("npm").arg("ci").current_dir(&dir)).await;
        assert!(npm.status.success(), "npm ci failed\n{}", output(&npm));
        std::fs::write(&stamp, &lock).expect("writing the install stamp");
    }

    let server = support::TestServer::start().await;
    // A second server with TLS from a local CA, for Amplify's stock `https` -> `wss` derivation;
    // node trusts that CA and nothing new besides (`NODE_EXTRA_CA_CERTS`).
    let ca_dir = std::env::temp_dir().join(format!("switchboard-js-tls-{}", uuid::Uuid::new_v4()));
    let tls =
        support::TestServer::with_args(&["--tls-self-signed", ca_dir.to_str().unwrap()]).await;
    let node = run(Command::new("node")
        .arg("--test")
        .args(test_files(&dir))
        .current_dir(&dir)
        .env("SWITCHBOARD_HTTP_URL", server.http_url())
        .env("SWITCHBOARD_WS_URL", server.ws_url())
        .env(
            "SWITCHBOARD_HTTPS_URL",
            format!("https://localhost:{}/graphql", tls.addr.port()),
        )
        .env("NODE_EXTRA_CA_CERTS", ca_dir.join("ca.pem"))
        .env("SWITCHBOARD_API_KEY", support::KEY))
    .await;
    std::fs::remove_dir_all(&ca_dir).ok();
    assert!(
        node.status.success(),
        "node --test failed\n{}",
        output(&node)
    );
}

/// `dir/*.test.mjs`, named explicitly: `node --test`'s own discovery varies between versions.
fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/clients exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.mjs in {}", dir.display());
    files
}

/// Runs `command` to completion within [`TIMEOUT`], capturing its output.
async fn run(command: &mut Command) -> Output {
    let name = format!("{:?}", command.as_std());
    let child = command
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within {TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{name} could not run (is it installed?): {e}"))
}

fn output(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

//! The pages the server serves to browsers, end to end in a real browser: headless Chromium
//! (Debian's `chromium`) driven by `playwright-core` from `tests/browser/*.test.mjs`, against a
//! real server (a fresh one for each file).
//!
//! `graphiql_custom.test.mjs`: GraphiQL opens on the served schema's own subscription and
//! mutation (a server with `examples/todo/schema.graphql`).
//!
//! `status_page.test.mjs`, the status page at `/`: statuses are published over HTTP and appear
//! live and in order; the page's WebSocket is cut and held down while more are published, and
//! after the page reconnects by itself the gap is filled from `statusHistory`, each status once.
//! At 1280 and 390 px wide nothing overflows the viewport; the screenshots are kept in
//! `target/browser-artifacts/status-page.png` and `status-page-phone.png`.
//!
//! Needs `node` (20+), `npm` and `/usr/bin/chromium` (or `CHROMIUM_PATH`). The dependencies are
//! pinned in `tests/browser/package-lock.json` and installed with `npm ci` when
//! `tests/browser/node_modules` is missing or stale. Each test file gets `SWITCHBOARD_BASE_URL`
//! (`http://127.0.0.1:PORT`), `SWITCHBOARD_API_KEY` and `SWITCHBOARD_ARTIFACTS` (a directory for
//! screenshots).

use crate::support;

use std::path::{Path, PathBuf};

use support::node::{describe, installed, run, test_files};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_headless_chromium() {
    let dir = installed("browser").await;

    let artifacts = artifacts_dir();
    let screenshots = ["status-page.png", "status-page-phone.png"].map(|name| artifacts.join(name));
    for screenshot in &screenshots {
        std::fs::remove_file(screenshot).ok();
    }
    let mut failures = Vec::new();
    // One server per file, so the files' users and jobs never meet.
    for file in test_files(&dir) {
        let server = support::TestServer::with_args(&server_args(&file)).await;
        let base = format!("http://{}", server.addr);
        assets_are_served(&base).await;
        let node = run(Command::new("node")
            .arg("--test")
            .arg(&file)
            .current_dir(&dir)
            .env("SWITCHBOARD_BASE_URL", &base)
            .env("SWITCHBOARD_API_KEY", support::KEY)
            .env("SWITCHBOARD_ARTIFACTS", &artifacts))
        .await;
        if !node.status.success() {
            failures.push(format!("{}: {}", file.display(), describe(&node)));
        }
    }
    assert!(
        failures.is_empty(),
        "node --test failed\n{}",
        failures.join("\n")
    );
    for screenshot in &screenshots {
        assert!(
            screenshot.is_file(),
            "no screenshot at {}",
            screenshot.display()
        );
    }
}

/// What the server for a test file serves: a `*_custom.test.mjs` file gets a schema of the
/// user's own (`examples/todo/schema.graphql`), the others the status schema.
fn server_args(file: &Path) -> Vec<&'static str> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.ends_with("_custom.test.mjs") {
        vec![
            "--schema",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/todo/schema.graphql"),
        ]
    } else {
        Vec::new()
    }
}

/// The status page and its assets, embedded in the binary, with their content types.
async fn assets_are_served(base: &str) {
    let http = switchboard::net::http_client::client().unwrap();
    for (path, content_type, contains) in [
        ("/", "text/html; charset=utf-8", "/status/app.js"),
        (
            "/status/app.js",
            "text/javascript; charset=utf-8",
            "graphql-transport-ws",
        ),
        ("/status/style.css", "text/css; charset=utf-8", ".badge"),
    ] {
        let response = http.get(format!("{base}{path}")).send().await.expect("GET");
        assert_eq!(response.status(), 200, "GET {path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], content_type, "GET {path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "GET {path}");
        assert!(
            headers.contains_key("content-security-policy"),
            "GET {path}"
        );
        let body = response.text().await.expect("a body");
        assert!(body.contains(contains), "GET {path}: {body}");
    }
}

/// `target/browser-artifacts` (beside `CARGO_TARGET_TMPDIR`, so a custom target dir is honoured).
fn artifacts_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory");
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).expect("creating the artifacts directory");
    dir
}

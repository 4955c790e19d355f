//! Running the JavaScript tests: `npm ci` when a folder's `node_modules` is missing or was
//! installed from another lockfile, its `*.test.mjs` files, and `node --test` with a time limit.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tokio::process::Command;

/// How long `npm ci`, or a whole node test run, may take.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// `tests/<name>`, with its pinned dependencies installed (`.ci/run` writes the same stamp after
/// its own `npm ci`).
pub async fn installed(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name);
    let lock = std::fs::read(dir.join("package-lock.json")).expect("a lockfile");
    let stamp = dir.join("node_modules/.installed-package-lock.json");
    if std::fs::read(&stamp).ok().as_ref() != Some(&lock) {
        let npm = run(Command::new("npm").arg("ci").current_dir(&dir)).await;
        assert!(npm.status.success(), "npm ci failed\n{}", describe(&npm));
        std::fs::write(&stamp, &lock).expect("writing the install stamp");
    }
    dir
}

/// `dir/*.test.mjs`, named explicitly: `node --test`'s own discovery varies between versions.
pub fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.mjs in {}", dir.display());
    files
}

/// Runs `command` to completion within [`TIMEOUT`], capturing its output.
pub async fn run(command: &mut Command) -> Output {
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

/// Exit status and both streams, for a failure message.
pub fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

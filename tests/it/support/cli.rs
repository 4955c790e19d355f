//! The `switchboard` binary as the CLI tests run it: a command with no stdin, killed when
//! dropped, and a long-running one started until it says something on stderr.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

/// The binary under test, with no stdin and no API key from the environment.
pub fn switchboard() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.kill_on_drop(true).stdin(Stdio::null());
    command.env_remove("SWITCHBOARD_API_KEY");
    command.env_remove("SWITCHBOARD_CLIENT_API_KEY");
    command
}

/// Spawns `command` with piped output and waits (10 s at most) for its first line on stderr:
/// the child, that line, and the rest of stderr.
pub async fn started(mut command: Command) -> (Child, String, Lines<BufReader<ChildStderr>>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let said = tokio::time::timeout(Duration::from_secs(10), stderr.next_line())
        .await
        .expect("the command says something on stderr")
        .unwrap()
        .unwrap_or_default();
    (child, said, stderr)
}

/// Runs the CLI to completion (10 s at most) and asserts it succeeded: its stdout lines as JSON,
/// and its stderr.
pub async fn run_cli(args: &[&str]) -> (Vec<Json>, String) {
    let output = tokio::time::timeout(Duration::from_secs(10), switchboard().args(args).output())
        .await
        .expect("the CLI finishes")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{args:?}: {stderr}");
    let lines = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, stderr)
}

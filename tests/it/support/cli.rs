//! The `switchboard` binary as the CLI tests run it: a command with no stdin, killed when
//! dropped, and a long-running one started until it says something on stderr.

use std::process::Stdio;
use std::time::Duration;

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

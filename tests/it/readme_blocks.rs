//! Every shell block of the README runs as pasted, in order, in a sandbox directory (a copy of
//! what the blocks name from the clone), against the servers the blocks themselves start. Each
//! block says how it runs in the comment before it:
//!
//! - `<!-- readme-test: server -->` starts a server (the previous one is stopped); the next
//!   block runs once it answers `/health`;
//! - `run` runs to its end and must succeed (`set -e`); what it exports, the later blocks see;
//! - `background` starts a long-running command (a subscriber) and leaves it running; it must
//!   not fail within a second;
//! - `skip (why)` is not run (the test suite itself, a cloud issuer, your own app).
//!
//! A block without a comment fails the test, so a new example cannot go untested. `cargo run
//! --release [-- ARGS]` runs the binary under test and `cargo build --release` does nothing;
//! the ports the README uses (4000–4003, Redis's 6390) are swapped for free ones.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Server,
    Run,
    Background,
    Skip,
}

/// The README's shell blocks with how each runs, in order.
fn blocks(readme: &str) -> Vec<(Kind, String, usize)> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut n = 0;
    while n < lines.len() {
        if lines[n] != "```sh" {
            n += 1;
            continue;
        }
        let comment = n
            .checked_sub(1)
            .map(|p| lines[p].trim())
            .unwrap_or_default();
        let kind = comment
            .strip_prefix("<!-- readme-test: ")
            .and_then(|rest| rest.strip_suffix("-->"))
            .map(str::trim)
            .map(|kind| match kind.split_whitespace().next() {
                Some("server") => Kind::Server,
                Some("run") => Kind::Run,
                Some("background") => Kind::Background,
                Some("skip") => Kind::Skip,
                _ => panic!("README line {}: unknown readme-test kind `{kind}`", n + 1),
            })
            .unwrap_or_else(|| {
                panic!(
                    "README line {}: a ```sh block needs a <!-- readme-test: … --> line before it",
                    n + 1
                )
            });
        let end = lines[n + 1..]
            .iter()
            .position(|l| *l == "```")
            .map(|p| n + 1 + p)
            .expect("a closed block");
        blocks.push((kind, lines[n + 1..end].join("\n"), n + 1));
        n = end + 1;
    }
    blocks
}

/// Free loopback ports: four in a row from the first, and one more.
fn free_ports() -> (u16, u16) {
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    loop {
        let base = crate::support::redis::free_port();
        if base < 60_000 && (base..base + 4).all(free) {
            let redis = crate::support::redis::free_port();
            if !(base..base + 4).contains(&redis) {
                return (base, redis);
            }
        }
    }
}

/// The sandbox: `examples/`, `schema.graphql`, `target/release/switchboard`, and a `bin/` with
/// `switchboard` and the `cargo` stand-in, first on `PATH`.
fn sandbox() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("switchboard-readme-{}", uuid::Uuid::new_v4()));
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    for sub in ["bin", "target/release"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(root.join("examples"), dir.join("examples")).unwrap();
    std::fs::copy(root.join("schema.graphql"), dir.join("schema.graphql")).unwrap();
    std::os::unix::fs::symlink(binary, dir.join("target/release/switchboard")).unwrap();
    std::os::unix::fs::symlink(binary, dir.join("bin/switchboard")).unwrap();
    let cargo = "#!/usr/bin/env bash\n\
        case \"$1 $2\" in\n\
        \"run --release\") shift 2; [ \"${1:-}\" = \"--\" ] && shift; exec switchboard \"$@\" ;;\n\
        \"build --release\") exit 0 ;;\n\
        *) echo \"the README test runs only 'cargo run --release' and 'cargo build --release'\" >&2; exit 2 ;;\n\
        esac\n";
    let shim = dir.join("bin/cargo");
    std::fs::write(&shim, cargo).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("env.sh"), "").unwrap();
    dir
}

/// `block` in bash in `dir`, with what earlier blocks exported, in a process group of its own
/// (so stopping it stops what it started); its output to `out.N` files, never a pipe a
/// background child could hold open.
fn spawn(dir: &Path, block: &str, n: usize, save_env: bool, base: u16) -> Child {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let script = if save_env {
        format!("set -e\nsource ./env.sh\n{block}\nexport -p > ./env.sh\n")
    } else {
        format!("source ./env.sh\n{block}\n")
    };
    let out = std::fs::File::create(dir.join(format!("out.{n}"))).unwrap();
    let err = std::fs::File::create(dir.join(format!("err.{n}"))).unwrap();
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("SWITCHBOARD_API_KEY")
        .env_remove("SWITCHBOARD_CLIENT_API_KEY")
        .env(
            "SWITCHBOARD_URL",
            format!("http://127.0.0.1:{base}/graphql"),
        )
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    command.spawn().unwrap()
}

fn said(dir: &Path, n: usize) -> String {
    let read = |name: String| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!(
        "stdout:\n{}\nstderr:\n{}",
        read(format!("out.{n}")),
        read(format!("err.{n}"))
    )
}

/// The process groups the blocks started (by leader pid), killed when dropped (a failed
/// assertion included), whether or not their leader has already exited.
#[derive(Default)]
struct Groups(Vec<u32>);

impl Groups {
    fn add(&mut self, child: &Child) {
        self.0.extend(child.id());
    }

    fn stop_all(&mut self) {
        for pid in self.0.drain(..) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        self.stop_all();
    }
}

#[tokio::test]
async fn every_shell_block_of_the_readme_runs_as_pasted() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (base, redis) = free_ports();
    let dir = sandbox();
    let mut groups = Groups::default();
    // Kept until the end so that their pids are not reused by another process meanwhile.
    let mut children: Vec<Child> = Vec::new();
    let mut server: Option<usize> = None;
    let mut ran = 0;
    for (n, (kind, block, line)) in blocks(&readme).into_iter().enumerate() {
        // On a machine that already runs a Redis, an example on its port would join that one.
        let commands = block.lines().filter(|l| !l.trim_start().starts_with('#'));
        assert!(
            kind == Kind::Skip || !commands.clone().any(|l| l.contains("6379")),
            "README line {line}: an example on Redis's default port"
        );
        let block = block
            .replace("6390", &redis.to_string())
            .replace("4003", &(base + 3).to_string())
            .replace("4002", &(base + 2).to_string())
            .replace("4001", &(base + 1).to_string())
            .replace("4000", &base.to_string());
        let block = if kind == Kind::Server && !block.contains("--listen") {
            format!("{block} --listen 127.0.0.1:{base}")
        } else {
            block
        };
        match kind {
            Kind::Skip => continue,
            Kind::Server => {
                // The previous server and what ran against it stop.
                groups.stop_all();
                // Until the port is free again: the next server must not meet the last.
                let deadline = Instant::now() + Duration::from_secs(15);
                while std::net::TcpListener::bind(("127.0.0.1", base)).is_err() {
                    assert!(Instant::now() < deadline, "port {base} stays taken");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let child = spawn(&dir, &block, n, false, base);
                groups.add(&child);
                children.push(child);
                server = Some(n);
                let health = format!("http://127.0.0.1:{base}/health");
                let http = switchboard::net::http_client::client().unwrap();
                let deadline = Instant::now() + Duration::from_secs(30);
                while !http
                    .get(&health)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    assert!(
                        Instant::now() < deadline,
                        "README line {line}: the server did not answer\n{block}\n{}",
                        said(&dir, n)
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Kind::Run => {
                let mut child = spawn(&dir, &block, n, true, base);
                groups.add(&child);
                let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
                    .await
                    .unwrap_or_else(|_| {
                        panic!("README line {line}: still running after 60 s\n{block}")
                    })
                    .unwrap();
                assert!(
                    status.success(),
                    "README line {line} failed ({status}):\n{block}\n{}\nserver: {}",
                    said(&dir, n),
                    server.map(|s| said(&dir, s)).unwrap_or_default()
                );
                // What it left running (the cluster's nodes) stops with the next server.
            }
            Kind::Background => {
                let mut child = spawn(&dir, &block, n, false, base);
                groups.add(&child);
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(
                        status.success(),
                        "README line {line} failed ({status}):\n{block}\n{}",
                        said(&dir, n)
                    );
                }
                children.push(child);
            }
        }
        ran += 1;
    }
    drop(groups);
    drop(children);
    assert!(ran >= 15, "ran {ran} blocks");
    std::fs::remove_dir_all(&dir).ok();
}

//! Cluster test support: nodes sharing one Redis (in this process, or as separate processes
//! that can be `kill -9`ed), a TCP proxy that cuts a node's link to Redis, and the HTTP calls a
//! test makes to a node it knows only by address.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::{KEY, TestServer};

pub const ADMIN_KEY: &str = "test-admin-key";

/// The nodes' `--redis-timeout`: how long a Redis command may take before a publish fails.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// The settings that put a node in the cluster on `redis_url`.
pub fn node_args(redis_url: &str, prefix: &str, node_id: &str) -> Vec<String> {
    let timeout = format!("{}ms", REDIS_TIMEOUT.as_millis());
    [
        "--redis-url",
        redis_url,
        "--redis-prefix",
        prefix,
        "--node-id",
        node_id,
        "--redis-timeout",
        &timeout,
        "--admin-api-key",
        ADMIN_KEY,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A node in this process.
pub async fn node(redis_url: &str, prefix: &str, node_id: &str, extra: &[&str]) -> TestServer {
    let mut args = node_args(redis_url, prefix, node_id);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::with_args(&args).await
}

/// A node running as its own process, so a test can kill it without a goodbye, signal it, or
/// read what it printed.
pub struct ProcessNode {
    pub addr: SocketAddr,
    child: Child,
    /// What the node prints, collected as it goes so it never blocks on a full pipe.
    stdout: tokio::task::JoinHandle<String>,
    /// Its logs (stderr), when started with [`ProcessNode::start_logging`].
    logs: Option<tokio::task::JoinHandle<String>>,
}

impl ProcessNode {
    /// A node logging warnings only, its logs not kept.
    pub async fn start(args: &[String]) -> Self {
        Self::spawn(args, "warn", false, &[]).await
    }

    /// A node logging warnings only, with `env` set in its environment.
    pub async fn start_with_env(args: &[String], env: &[(&str, &str)]) -> Self {
        Self::spawn(args, "warn", false, env).await
    }

    /// A node logging at `rust_log`, its logs kept for [`ProcessNode::stop_and_read`].
    pub async fn start_logging(args: &[String], rust_log: &str) -> Self {
        Self::spawn(args, rust_log, true, &[]).await
    }

    async fn spawn(args: &[String], rust_log: &str, keep_logs: bool, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["--listen", "127.0.0.1:0", "--api-key", KEY])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", rust_log)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if keep_logs {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .kill_on_drop(true)
            .spawn()
            .expect("the switchboard binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = String::new();
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("start-up banner")
                .unwrap()
                .unwrap_or_else(|| panic!("the node printed no address: {banner}"));
            banner.push_str(&line);
            banner.push('\n');
            if let Some(url) = line.trim().strip_prefix("HTTP") {
                let url = url.trim();
                let host = url
                    .trim_start_matches("http://")
                    .trim_end_matches("/graphql");
                break host.parse().expect("an address in the banner");
            }
        };
        let stdout = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                banner.push_str(&line);
                banner.push('\n');
            }
            banner
        });
        let logs = child.stderr.take().map(|stderr| {
            tokio::spawn(async move {
                let mut logs = String::new();
                let _ = BufReader::new(stderr).read_to_string(&mut logs).await;
                logs
            })
        });
        Self {
            addr,
            child,
            stdout,
            logs,
        }
    }

    /// SIGTERM, a clean exit, and what the node printed: stdout, and its logs (stderr; empty
    /// unless started with [`ProcessNode::start_logging`]).
    pub async fn stop_and_read(mut self) -> (String, String) {
        self.signal("TERM");
        let status = self.wait().await;
        assert!(status.success(), "exit status {status}");
        let logs = match self.logs {
            Some(logs) => logs.await.unwrap(),
            None => String::new(),
        };
        (self.stdout.await.unwrap(), logs)
    }

    /// Sends a signal by name (`TERM`, `INT`) with `kill`.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("the node is running");
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the node to exit.
    pub async fn wait(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("the node exits")
            .unwrap()
    }

    /// SIGKILL: the node gets no chance to clean up.
    pub async fn kill_9(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

fn http() -> reqwest::Client {
    switchboard::net::http_client::client().unwrap()
}

/// `POST /graphql` with the test key; the status and body.
pub async fn post_at(addr: SocketAddr, query: &str, variables: Json) -> (u16, Json) {
    let response = http()
        .post(format!("http://{addr}/graphql"))
        .header("x-api-key", KEY)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("HTTP request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// Publishes a status through the node at `addr`; the HTTP status and body.
pub async fn publish_at(addr: SocketAddr, user: &str, job: &str, status: &str) -> (u16, Json) {
    post_at(
        addr,
        "mutation P($input: StatusInput!) { publishStatus(input: $input) { jobId userId status timestamp } }",
        json!({"input": {"userId": user, "jobId": job, "status": status}}),
    )
    .await
}

/// The statuses `statusHistory(userId)` returns at `addr`, oldest first.
pub async fn history_at(addr: SocketAddr, user: &str) -> Vec<String> {
    let (code, body) = post_at(
        addr,
        "query H($u: ID!) { statusHistory(userId: $u) { status } }",
        json!({"u": user}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    body["data"]["statusHistory"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect()
}

/// `GET /admin/connections?userId=` with `key`; the status and body.
pub async fn admin_list(addr: SocketAddr, key: &str, user: &str) -> (u16, Json) {
    let response = http()
        .get(format!(
            "http://{addr}/admin/connections?userId={}",
            percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC)
        ))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Json::Null))
}

/// The connection ids the admin API lists for `user`, sorted.
pub async fn connection_ids(addr: SocketAddr, user: &str) -> Vec<(String, String)> {
    let (status, body) = admin_list(addr, ADMIN_KEY, user).await;
    assert_eq!(status, 200, "{body}");
    let mut ids: Vec<(String, String)> = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["connection_id"].as_str().unwrap().to_owned(),
                c["node_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ids.sort();
    ids
}

/// `DELETE /admin/connections/{id}` with `key`; the status.
pub async fn admin_kick(addr: SocketAddr, key: &str, id: &str) -> u16 {
    http()
        .delete(format!("http://{addr}/admin/connections/{id}"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A TCP proxy in front of Redis for one node. `cut` drops every open connection and refuses
/// new ones (as a network partition would, seen from the node); `restore` lets them through.
/// `mute` lets commands through but drops Redis's replies: a command that ran whose answer
/// was lost.
pub struct LinkProxy {
    pub addr: SocketAddr,
    blocked: Arc<AtomicBool>,
    muted: Arc<AtomicBool>,
    /// Cancelled by `cut`: ends every forwarding task of the current epoch.
    epoch: Arc<std::sync::Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl LinkProxy {
    pub async fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let blocked = Arc::new(AtomicBool::new(false));
        let muted = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (b, m, e, s) = (blocked.clone(), muted.clone(), epoch.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = s.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut downstream, _)) = accepted else {
                    continue;
                };
                if b.load(Ordering::SeqCst) {
                    drop(downstream);
                    continue;
                }
                let token = e.lock().unwrap().clone();
                let muted = m.clone();
                tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await
                    else {
                        return;
                    };
                    let (mut down_read, mut down_write) = downstream.split();
                    let (mut up_read, mut up_write) = upstream.into_split();
                    let commands = tokio::io::copy(&mut down_read, &mut up_write);
                    let replies = async {
                        let mut buffer = vec![0u8; 16 * 1024];
                        loop {
                            let n = up_read.read(&mut buffer).await?;
                            if n == 0 {
                                return Ok::<_, std::io::Error>(());
                            }
                            if !muted.load(Ordering::SeqCst) {
                                down_write.write_all(&buffer[..n]).await?;
                            }
                        }
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = commands => {}
                        _ = replies => {}
                    }
                });
            }
        });
        Self {
            addr,
            blocked,
            muted,
            epoch,
            stop,
        }
    }

    /// Drops Redis's replies from now on (commands still run), until `restore`.
    pub fn mute(&self) {
        self.muted.store(true, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    pub fn cut(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        let mut epoch = self.epoch.lock().unwrap();
        epoch.cancel();
        *epoch = CancellationToken::new();
    }

    pub fn restore(&self) {
        self.blocked.store(false, Ordering::SeqCst);
        self.muted.store(false, Ordering::SeqCst);
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.epoch.lock().unwrap().cancel();
    }
}

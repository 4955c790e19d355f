//! A real Sentinel-watched Redis per test: a master and its replicas (`redis-server`) and three
//! sentinels (`redis-server --sentinel`) on free loopback ports, quick to decide a master is
//! down (one second), their files in a directory of their own that goes with them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::redis::{calls, cli, free_port, wait_until};

/// The master's name in the sentinels' configuration.
pub const MASTER: &str = "jobs";

const SENTINELS: usize = 3;

pub struct RedisSentinel {
    /// The data servers' ports, the first master at the start.
    pub servers: Vec<u16>,
    pub sentinels: Vec<u16>,
    children: Vec<(u16, Option<Child>)>,
    dir: PathBuf,
}

impl RedisSentinel {
    /// A master with `replicas` replicas in sync, watched by three sentinels that know every
    /// replica and each other (so that two of them can agree on a failover).
    pub async fn start(replicas: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("sb-sentinel-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let servers: Vec<u16> = (0..=replicas).map(|_| free_port()).collect();
        let sentinels: Vec<u16> = (0..SENTINELS).map(|_| free_port()).collect();
        let master = servers[0];
        let mut children = Vec::new();
        for (i, &port) in servers.iter().enumerate() {
            let replica_of = (i > 0).then_some(master);
            children.push((port, Some(server(&dir, port, replica_of))));
        }
        for &port in &sentinels {
            children.push((port, Some(sentinel(&dir, port, master))));
        }
        let group = Self {
            servers,
            sentinels,
            children,
            dir,
        };
        for &port in &group.servers[1..] {
            wait_until(
                || cli(port, &["INFO", "replication"]).contains("master_link_status:up"),
                "every replica is in sync",
            )
            .await;
        }
        for &port in &group.sentinels {
            wait_until(
                || {
                    let state = cli(port, &["SENTINEL", "MASTER", MASTER]);
                    field(&state, "num-other-sentinels") == Some(SENTINELS - 1)
                        && field(&state, "num-slaves") == Some(replicas)
                },
                "every sentinel knows the replicas and the other sentinels",
            )
            .await;
        }
        group
    }

    /// `redis+sentinel://` with every sentinel.
    pub fn url(&self) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+sentinel://{}/{MASTER}", sentinels.join(","))
    }

    /// The master's port as a live sentinel names it now.
    pub fn master(&self) -> u16 {
        let sentinel = self.live(&self.sentinels);
        let answer = cli(sentinel, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER]);
        answer
            .lines()
            .nth(1)
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("no master named: {answer}"))
    }

    /// Asks a sentinel for a planned failover: a replica is promoted and the old master, still
    /// running, becomes its replica. Asks again while the sentinel has no replica it trusts yet
    /// (`NOGOODSLAVE`: its own link to a replica it just learnt of is not up yet).
    pub async fn failover(&self) {
        let sentinel = self.live(&self.sentinels);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let answer = cli(sentinel, &["SENTINEL", "FAILOVER", MASTER]);
            if answer.trim() == "OK" {
                return;
            }
            assert!(
                answer.starts_with("NOGOODSLAVE") && std::time::Instant::now() < deadline,
                "SENTINEL FAILOVER: {answer}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Whether the server on `port` is a replica now (`ROLE`).
    pub fn is_replica(&self, port: u16) -> bool {
        cli(port, &["ROLE"]).lines().next() == Some("slave")
    }

    /// Kills a server (SIGKILL, as in a crash).
    pub fn kill(&mut self, port: u16) {
        let (_, child) = self
            .children
            .iter_mut()
            .find(|(p, _)| *p == port)
            .expect("a server");
        if let Some(mut child) = child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// How many times a server ran `command` (its `INFO commandstats`).
    pub fn calls(&self, port: u16, command: &str) -> u64 {
        calls(port, command)
    }

    fn live(&self, among: &[u16]) -> u16 {
        *among
            .iter()
            .find(|port| {
                self.children
                    .iter()
                    .any(|(p, child)| p == *port && child.is_some())
            })
            .expect("one is running")
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            if let Some(mut child) = child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `SENTINEL MASTER` reply's numeric field (`redis-cli` prints names and values on
/// alternate lines).
fn field(reply: &str, name: &str) -> Option<usize> {
    let mut lines = reply.lines();
    lines.find(|line| line.trim() == name)?;
    lines.next()?.trim().parse().ok()
}

fn server(dir: &Path, port: u16, replica_of: Option<u16>) -> Child {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(["--dbfilename", &format!("dump-{port}.rdb")])
        .args(["--save", "", "--appendonly", "no"]);
    if let Some(master) = replica_of {
        command.args(["--replicaof", "127.0.0.1", &master.to_string()]);
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (apt-get install redis-server)")
}

/// A sentinel watching `master`; it rewrites its configuration file, so each has its own.
fn sentinel(dir: &Path, port: u16, master: u16) -> Child {
    let config = dir.join(format!("sentinel-{port}.conf"));
    let text = format!(
        "port {port}\nbind 127.0.0.1\ndir {dir}\n\
         sentinel monitor {MASTER} 127.0.0.1 {master} 2\n\
         sentinel down-after-milliseconds {MASTER} 1000\n\
         sentinel failover-timeout {MASTER} 3000\n",
        dir = dir.display()
    );
    std::fs::write(&config, text).unwrap();
    Command::new("redis-server")
        .arg(&config)
        .arg("--sentinel")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (apt-get install redis-server)")
}

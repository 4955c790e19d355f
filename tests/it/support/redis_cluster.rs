//! A real Redis Cluster per test: `redis-server` processes in cluster mode on free loopback
//! ports (masters, each with its replicas), joined by `redis-cli --cluster create`, their files
//! in a directory of their own that goes with the cluster.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::redis::{calls, cli, free_port, wait_until};

pub struct RedisCluster {
    /// Every node's port, masters first (in the order `--cluster create` was given them).
    pub ports: Vec<u16>,
    children: Vec<Option<Child>>,
    dir: PathBuf,
    /// Whether the cluster keeps serving the slots of its live masters while one has none
    /// (`cluster-require-full-coverage no`).
    partial: bool,
}

impl RedisCluster {
    /// `masters` masters with `replicas` replicas each, every slot assigned and the cluster
    /// reporting `cluster_state:ok` on every node.
    pub async fn start(masters: usize, replicas: usize) -> Self {
        Self::launch(masters, replicas, false).await
    }

    /// `masters` masters without replicas that keep serving their slots while another one is
    /// down (`cluster-require-full-coverage no`), so one shard can fail alone.
    pub async fn start_partial(masters: usize) -> Self {
        Self::launch(masters, 0, true).await
    }

    async fn launch(masters: usize, replicas: usize, partial: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("sb-cluster-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let count = masters * (1 + replicas);
        let ports: Vec<u16> = (0..count).map(|_| free_node_port()).collect();
        let children = ports
            .iter()
            .map(|&port| Some(spawn(&dir, port, partial)))
            .collect();
        let cluster = Self {
            ports,
            children,
            dir,
            partial,
        };
        for &port in &cluster.ports {
            wait_until(|| cli(port, &["PING"]).trim() == "PONG", "a node answers").await;
        }
        let mut create: Vec<String> = vec!["--cluster".into(), "create".into()];
        create.extend(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")));
        create.extend(["--cluster-replicas".into(), replicas.to_string()]);
        create.push("--cluster-yes".into());
        let output = Command::new("redis-cli")
            .args(&create)
            .output()
            .expect("redis-cli is installed");
        assert!(
            output.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        for &port in &cluster.ports {
            wait_until(
                || cli(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"),
                "the cluster is ok on every node",
            )
            .await;
        }
        // A replica that never synced with its master may not replace it.
        for &port in &cluster.ports[masters..] {
            wait_until(
                || cli(port, &["INFO", "replication"]).contains("master_link_status:up"),
                "every replica is in sync",
            )
            .await;
        }
        cluster
    }

    /// The port of the master that owns `key`'s slot now.
    pub fn owner(&self, key: &str) -> u16 {
        let live = self.live_port();
        let slot: u16 = cli(live, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("a slot");
        // `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <state> <slots…>`
        cli(live, &["CLUSTER", "NODES"])
            .lines()
            .filter(|line| line.contains("master") && !line.contains("fail"))
            .find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let owns = fields.iter().skip(8).any(|range| {
                    let (start, end) = range.split_once('-').unwrap_or((range, range));
                    matches!((start.parse::<u16>(), end.parse::<u16>()),
                        (Ok(start), Ok(end)) if (start..=end).contains(&slot))
                });
                owns.then(|| fields[1].split(['@', ':']).nth(1)?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no master owns slot {slot}"))
    }

    /// Moves every slot of the master on port `from` to the master on port `to` with
    /// `redis-cli --cluster reshard` (keys and all), off the test's runtime; whether it worked.
    pub fn reshard(&self, from: u16, to: u16) -> tokio::task::JoinHandle<bool> {
        let id = |port: u16| cli(port, &["CLUSTER", "MYID"]).trim().to_owned();
        let (from_id, to_id) = (id(from), id(to));
        tokio::task::spawn_blocking(move || {
            Command::new("redis-cli")
                .args(["--cluster", "reshard", &format!("127.0.0.1:{from}")])
                .args(["--cluster-from", &from_id, "--cluster-to", &to_id])
                .args(["--cluster-slots", "16384", "--cluster-yes"])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
    }

    /// `redis+cluster://` with every master as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .masters()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// The ports of the nodes that are masters now (after a failover, a promoted replica's).
    pub fn masters(&self) -> Vec<u16> {
        let live = self.live_port();
        cli(live, &["CLUSTER", "NODES"])
            .lines()
            .filter(|line| line.contains("master") && !line.contains("fail"))
            .filter_map(|line| {
                let addr = line.split_whitespace().nth(1)?;
                addr.split(['@', ':']).nth(1)?.parse().ok()
            })
            .collect()
    }

    /// What `redis-cli -p PORT ARGS…` printed.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        cli(port, args)
    }

    /// How many times a node ran `command` (its `INFO commandstats`, scripts' calls included).
    pub fn calls(&self, port: u16, command: &str) -> u64 {
        calls(port, command)
    }

    /// Kills a node (SIGKILL, as in a crash).
    pub fn kill(&mut self, port: u16) {
        let index = self.ports.iter().position(|&p| p == port).expect("a node");
        if let Some(mut child) = self.children[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed node again on its port, with its cluster identity and slots (and no
    /// data), and waits until every live node sees it back.
    pub async fn restart(&mut self, port: u16) {
        let index = self.ports.iter().position(|&p| p == port).expect("a node");
        self.kill(port);
        self.children[index] = Some(spawn(&self.dir, port, self.partial));
        wait_until(|| cli(port, &["PING"]).trim() == "PONG", "the node answers").await;
        let live: Vec<u16> = self
            .ports
            .iter()
            .zip(&self.children)
            .filter(|(_, child)| child.is_some())
            .map(|(&port, _)| port)
            .collect();
        for other in live {
            wait_until(
                || {
                    !cli(other, &["CLUSTER", "NODES"]).contains("fail")
                        && cli(other, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
                },
                "every node sees the restarted one and serves",
            )
            .await;
        }
    }

    fn live_port(&self) -> u16 {
        self.ports
            .iter()
            .zip(&self.children)
            .find(|(_, child)| child.is_some())
            .map(|(&port, _)| port)
            .expect("a live node")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free port for a cluster node whose bus port (10,000 higher, which Redis requires to be a
/// port too) is free as well: the ephemeral range reaches past 55,535.
fn free_node_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55_535 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn spawn(dir: &std::path::Path, port: u16, partial: bool) -> Child {
    let config = dir.join(format!("nodes-{port}.conf"));
    let coverage = if partial { "no" } else { "yes" };
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
        .args(["--cluster-require-full-coverage", coverage])
        .arg("--cluster-config-file")
        .arg(&config)
        .arg("--dir")
        .arg(dir)
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (apt-get install redis-server)")
}

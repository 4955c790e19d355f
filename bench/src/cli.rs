//! The command line: one run is one scenario against one server (one node, or several nodes of
//! one cluster).

use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::protocol::Protocol;

/// Load generator for Switchboard (and any AppSync-compatible server): opens WebSocket
/// subscribers, publishes statuses over HTTP, and prints what arrived, how fast and how late.
/// Against one server, or against several nodes of one cluster (`--url` once per node).
#[derive(Debug, Parser)]
#[command(
    name = "switchboard-bench",
    version,
    after_help = "`switchboard-bench report --help`: render bench/run.sh's saved runs as the results markdown."
)]
pub struct Args {
    /// The server's HTTP GraphQL endpoint; the WebSocket URL is derived from it (ws://…).
    /// For a cluster, give one per node: repeat `--url`, or separate the URLs with commas (also
    /// in BENCH_URL). Subscriber i connects to node i % n, publisher p publishes through node
    /// p % n, churner k uses node k % n, and the idle probe's publish s goes through node s % n.
    #[arg(
        long = "url",
        env = "BENCH_URL",
        value_name = "URL",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:4000/graphql"
    )]
    pub urls: Vec<String>,

    /// API key sent on publishes and in each protocol's connection credentials.
    #[arg(long, env = "BENCH_API_KEY")]
    pub api_key: String,

    /// Subscribe every subscriber with this enhanced filter (AppSync `filterGroup` JSON); the
    /// server must serve the status schema with `filter: AWSJSON` on `onStatusUpdate` (as
    /// `bench/filter_s1.sh` does). Every published status passes the
    /// filter the bench scripts use, so deliveries compare with an unfiltered run.
    #[arg(long)]
    pub filter: Option<String>,

    /// The WebSocket protocol every subscriber speaks.
    #[arg(long, value_enum, default_value_t = Protocol::TransportWs)]
    pub protocol: Protocol,

    /// Number of WebSocket connections, one subscription each.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,

    /// Number of distinct users; subscriber i subscribes to user `u{i % users}` (1 = broadcast).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub users: u32,

    /// Client source addresses 127.0.0.1…127.0.0.K to spread sockets over, past the ~28k
    /// ephemeral ports of one address and the server's per-address connection cap.
    /// 0 picks one address per 8,000 connections.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=250))]
    pub source_addrs: u8,

    /// WebSocket handshakes and subscriptions in flight at once while connecting.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,

    /// How long one connection may take to be connected and confirmed subscribed.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Concurrent HTTP publishers, each on its own keep-alive connection.
    #[arg(long, default_value_t = 8)]
    pub publishers: usize,

    /// Total statuses per second, paced evenly across publishers; omitted = as fast as possible.
    #[arg(long)]
    pub rate: Option<f64>,

    /// How publishes choose their user.
    #[arg(long, value_enum, default_value_t = Pick::Random)]
    pub pick: Pick,

    /// Publishing before the measured window (not counted).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// The measured window.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// How long to wait after the last publish for deliveries still in flight.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub drain: Duration,

    /// Pause after every subscription is live, before reading the server's RSS.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub settle: Duration,

    /// Idle-memory scenario: connect and subscribe, settle, read RSS, publish only a liveness
    /// probe (one status to each of up to 10 users).
    #[arg(long)]
    pub idle: bool,

    /// Churn (S6): new connections per second during the measured window, each subscribing to
    /// a user of its own, publishing one status to itself, receiving it and leaving.
    #[arg(long)]
    pub churn: Option<f64>,

    /// The server's process id, to read its RSS and CPU time from /proc. For a cluster, give
    /// each node's (repeat it, or separate pids with commas): the RSS and CPU figures are then
    /// the sums over them, so per-connection and per-status costs are the whole cluster's.
    #[arg(long = "server-pid", value_name = "PID", value_delimiter = ',')]
    pub server_pids: Vec<u32>,

    /// Free text copied to the report's `scenario`.
    #[arg(long, default_value = "")]
    pub label: String,
}

/// How a publish picks its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pick {
    /// Uniformly at random.
    Random,
    /// `u{seq % users}`, so every user gets the same share.
    RoundRobin,
}

/// `250ms`, `2s`, `1.5s`, `3m`, or bare seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 2s or 1m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("`{text}`: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_nodes_by_repeating_or_by_commas() {
        let parse = |extra: &[&str]| {
            Args::try_parse_from([&["switchboard-bench", "--api-key", "k"], extra].concat())
                .unwrap()
        };
        let one = parse(&[]);
        assert_eq!(one.urls, ["http://127.0.0.1:4000/graphql"]);
        assert!(one.server_pids.is_empty());
        let repeated = parse(&[
            "--url=http://127.0.0.1:1/graphql",
            "--url=http://127.0.0.1:2/graphql",
            "--server-pid=10",
            "--server-pid=11",
        ]);
        let commas = parse(&[
            "--url=http://127.0.0.1:1/graphql,http://127.0.0.1:2/graphql",
            "--server-pid=10,11",
        ]);
        for args in [repeated, commas] {
            assert_eq!(
                args.urls,
                ["http://127.0.0.1:1/graphql", "http://127.0.0.1:2/graphql"]
            );
            assert_eq!(args.server_pids, [10, 11]);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("soon").is_err());
    }
}

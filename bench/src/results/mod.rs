//! `switchboard-bench report`: turns the runs `bench/run.sh` saved into the results markdown.
//!
//! The script runs every scenario against every server and leaves, per pair, one file in the
//! results directory named `<scenario>.<server>.<outcome>`: `.json` (the run's JSON line),
//! `.failed` (why it produced none) or `.skipped` (why it was not run), plus `git-commit` and
//! `git-status` captured right after the build. A Redis row that ran also leaves
//! `<scenario>.<server>.redis-cpu`: the CPU seconds Redis used during the generator's run. This module reads them and the machine; the
//! markdown itself is in [`render`].

mod render;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};

use crate::report::Report;

/// Renders the runs saved by bench/run.sh as the results markdown (machine, command, one table
/// per scenario with ratios against Switchboard, targets, projection).
#[derive(Debug, Parser)]
#[command(
    name = "switchboard-bench report",
    bin_name = "switchboard-bench report"
)]
pub struct ReportArgs {
    /// Directory holding `<scenario>.<server>.json|failed|skipped`, `git-commit`, `git-status`.
    #[arg(long)]
    pub results_dir: PathBuf,

    /// Which shapes the runs used: `full` (the benchmark) or `smoke` (scaled down).
    #[arg(long, value_enum)]
    pub mode: Mode,

    /// The date in the title, YYYY-MM-DD.
    #[arg(long)]
    pub date: String,

    /// The command shown under "Command" (default: `bench/run.sh <mode>`).
    #[arg(long)]
    pub command: Option<String>,

    /// Where to write the markdown; stdout when omitted.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Smoke,
    Full,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Smoke => "smoke",
            Mode::Full => "full",
        })
    }
}

/// The six scenarios, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    S1,
    S2,
    S3,
    S4,
    S5,
    S6,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::S1,
        Scenario::S2,
        Scenario::S3,
        Scenario::S4,
        Scenario::S5,
        Scenario::S6,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Scenario::S1 => "S1",
            Scenario::S2 => "S2",
            Scenario::S3 => "S3",
            Scenario::S4 => "S4",
            Scenario::S5 => "S5",
            Scenario::S6 => "S6",
        }
    }

    fn parse(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }
}

/// The servers (and Switchboard's second protocol), in the order of a table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Server {
    /// Switchboard over graphql-transport-ws: every ratio's reference.
    Switchboard,
    /// Switchboard over AppSync's real-time protocol.
    SwitchboardAppsync,
    /// Switchboard's AppSync Events (channels, `POST /event`), on the same shapes.
    SwitchboardEvents,
    /// One Switchboard node with `--redis-url` (S1 only): what the Redis fan-out costs, with
    /// `redis-server` on the same machine.
    SwitchboardRedis,
    /// Three nodes on one Redis (S1 only), subscribers and publishers spread over them: a
    /// status published on one node reaches subscribers on the others through Redis.
    SwitchboardRedis3,
    /// One node with `--redis-url redis+cluster://…` on a 3-master Redis Cluster (S1 only):
    /// topics spread over the shards, events on sharded pub/sub.
    SwitchboardRedisCluster,
    /// Three nodes on one 3-master Redis Cluster (S1 only), spread as in `SwitchboardRedis3`.
    SwitchboardRedisCluster3,
    GraphqlWs,
    AppsyncSimulator,
}

impl Server {
    pub const ALL: [Server; 9] = [
        Server::Switchboard,
        Server::SwitchboardAppsync,
        Server::SwitchboardEvents,
        Server::SwitchboardRedis,
        Server::SwitchboardRedis3,
        Server::SwitchboardRedisCluster,
        Server::SwitchboardRedisCluster3,
        Server::GraphqlWs,
        Server::AppsyncSimulator,
    ];

    /// The name in file names and `--label`s.
    pub fn id(self) -> &'static str {
        match self {
            Server::Switchboard => "switchboard",
            Server::SwitchboardAppsync => "switchboard-appsync",
            Server::SwitchboardEvents => "switchboard-events",
            Server::SwitchboardRedis => "switchboard-redis",
            Server::SwitchboardRedis3 => "switchboard-redis-3",
            Server::SwitchboardRedisCluster => "switchboard-rediscluster",
            Server::SwitchboardRedisCluster3 => "switchboard-rediscluster-3",
            Server::GraphqlWs => "graphql-ws",
            Server::AppsyncSimulator => "appsync-simulator",
        }
    }

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Server::Switchboard => "Switchboard",
            Server::SwitchboardAppsync => "Switchboard",
            Server::SwitchboardEvents => "Switchboard (AppSync Events)",
            Server::SwitchboardRedis => "Switchboard on Redis (1 node)",
            Server::SwitchboardRedis3 => "Switchboard on Redis (3 nodes)",
            Server::SwitchboardRedisCluster => "Switchboard on a 3-shard Redis Cluster (1 node)",
            Server::SwitchboardRedisCluster3 => "Switchboard on a 3-shard Redis Cluster (3 nodes)",
            Server::GraphqlWs => "graphql-ws (Node)",
            Server::AppsyncSimulator => "appsync-simulator (Node)",
        }
    }

    fn parse(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }
}

/// What became of one scenario against one server.
#[derive(Debug)]
pub enum Outcome {
    Ran(Box<Report>),
    Failed(String),
    Skipped(String),
}

/// Everything the markdown is made of.
#[derive(Debug)]
pub struct Results {
    pub mode: Mode,
    pub date: String,
    pub command: String,
    pub machine: Machine,
    pub runs: BTreeMap<(Scenario, Server), Outcome>,
    /// CPU seconds (user + system, from Redis's `INFO cpu`, summed over a cluster's nodes) the
    /// Redis side used from just before the generator started to just after it ended, for the
    /// Redis rows that recorded it.
    pub redis_cpu_s: BTreeMap<(Scenario, Server), f64>,
}

impl Results {
    pub fn get(&self, scenario: Scenario, server: Server) -> Option<&Outcome> {
        self.runs.get(&(scenario, server))
    }

    /// The report of a run that completed.
    pub fn report(&self, scenario: Scenario, server: Server) -> Option<&Report> {
        match self.get(scenario, server) {
            Some(Outcome::Ran(report)) => Some(report),
            _ => None,
        }
    }
}

/// The machine and software the runs used.
#[derive(Debug, Default)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub ram_gib: f64,
    pub kernel: String,
    pub node: String,
    pub rustc: String,
    pub commit: String,
    /// `git status --porcelain` lines at build time: uncommitted changes in the measured build.
    pub uncommitted: Vec<String>,
    /// The hard open-file limit, which caps connections per process.
    pub nofile_hard: Option<u64>,
}

pub fn main(args: ReportArgs) -> anyhow::Result<()> {
    let results = load(&args)?;
    let markdown = render::markdown(&results);
    match &args.out {
        Some(path) => {
            fs::write(path, markdown).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{markdown}"),
    }
    Ok(())
}

fn load(args: &ReportArgs) -> anyhow::Result<Results> {
    let dir = &args.results_dir;
    let mut runs = BTreeMap::new();
    let mut redis_cpu_s = BTreeMap::new();
    let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((key, kind)) = parse_name(name) else {
            continue;
        };
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let outcome = match kind {
            Kind::Json => parse_run(&text)
                .unwrap_or_else(|e| Outcome::Failed(format!("unreadable JSON line: {e}"))),
            Kind::Failed => Outcome::Failed(one_line(&text)),
            Kind::Skipped => Outcome::Skipped(one_line(&text)),
            Kind::RedisCpu => {
                // A figure beside the run, not an outcome; an unreadable one is left out.
                if let Some(seconds) = parse_seconds(&text) {
                    redis_cpu_s.insert(key, seconds);
                }
                continue;
            }
        };
        runs.insert(key, outcome);
    }
    Ok(Results {
        mode: args.mode,
        date: args.date.clone(),
        command: args
            .command
            .clone()
            .unwrap_or_else(|| format!("bench/run.sh {}", args.mode)),
        machine: machine(dir),
        runs,
        redis_cpu_s,
    })
}

enum Kind {
    Json,
    Failed,
    Skipped,
    RedisCpu,
}

/// `S1.graphql-ws.json` → ((S1, GraphqlWs), Json); anything else (logs, git files) → None.
fn parse_name(name: &str) -> Option<((Scenario, Server), Kind)> {
    let (stem, extension) = name.rsplit_once('.')?;
    let kind = match extension {
        "json" => Kind::Json,
        "failed" => Kind::Failed,
        "skipped" => Kind::Skipped,
        "redis-cpu" => Kind::RedisCpu,
        _ => return None,
    };
    let (scenario, server) = stem.split_once('.')?;
    Some(((Scenario::parse(scenario)?, Server::parse(server)?), kind))
}

/// The last non-empty line of the generator's stdout is its JSON line.
fn parse_run(text: &str) -> Result<Outcome, serde_json::Error> {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Ok(Outcome::Ran(Box::new(serde_json::from_str(line)?)))
}

/// A `.redis-cpu` file: one number of seconds, not negative.
fn parse_seconds(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
}

/// A reason file's lines joined, short enough for a table cell.
fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    let mut cut: String = joined.chars().take(300).collect();
    if cut.len() < joined.len() {
        cut.push('…');
    }
    cut
}

fn machine(dir: &Path) -> Machine {
    let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
    let cpu_model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let ram_kib: f64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let git = |file: &str| fs::read_to_string(dir.join(file)).ok();
    Machine {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model,
        ram_gib: ram_kib / (1024.0 * 1024.0),
        kernel: format!(
            "Linux {} ({})",
            read("/proc/sys/kernel/osrelease").trim(),
            std::env::consts::ARCH
        ),
        node: version("node", "--version"),
        rustc: version("rustc", "--version"),
        commit: git("git-commit")
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "unknown".to_owned()),
        uncommitted: git("git-status")
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim_end().to_owned())
            .filter(|l| !l.is_empty())
            .collect(),
        nofile_hard: nofile_hard(),
    }
}

fn version(program: &str, flag: &str) -> String {
    Command::new(program)
        .arg(flag)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn nofile_hard() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit.rlim_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_map_to_runs() {
        assert!(matches!(
            parse_name("S1.graphql-ws.json"),
            Some(((Scenario::S1, Server::GraphqlWs), Kind::Json))
        ));
        assert!(matches!(
            parse_name("S5.switchboard.skipped"),
            Some(((Scenario::S5, Server::Switchboard), Kind::Skipped))
        ));
        assert!(matches!(
            parse_name("S3.switchboard-appsync.failed"),
            Some(((Scenario::S3, Server::SwitchboardAppsync), Kind::Failed))
        ));
        assert!(matches!(
            parse_name("S1.switchboard-redis.json"),
            Some(((Scenario::S1, Server::SwitchboardRedis), Kind::Json))
        ));
        assert!(matches!(
            parse_name("S1.switchboard-redis-3.failed"),
            Some(((Scenario::S1, Server::SwitchboardRedis3), Kind::Failed))
        ));
        assert!(matches!(
            parse_name("S1.switchboard-rediscluster.json"),
            Some(((Scenario::S1, Server::SwitchboardRedisCluster), Kind::Json))
        ));
        assert!(matches!(
            parse_name("S1.switchboard-rediscluster-3.skipped"),
            Some((
                (Scenario::S1, Server::SwitchboardRedisCluster3),
                Kind::Skipped
            ))
        ));
        assert!(matches!(
            parse_name("S1.switchboard-rediscluster-3.redis-cpu"),
            Some((
                (Scenario::S1, Server::SwitchboardRedisCluster3),
                Kind::RedisCpu
            ))
        ));
        assert!(matches!(
            parse_name("S1.switchboard-redis.redis-cpu"),
            Some(((Scenario::S1, Server::SwitchboardRedis), Kind::RedisCpu))
        ));
        assert!(parse_name("S1.switchboard-redis-3.server-2.log").is_none());
        assert!(parse_name("S1.switchboard-redis-3.redis.log").is_none());
        assert!(parse_name("S1.switchboard-rediscluster-3.redis-2.log").is_none());
        assert!(parse_name("S1.switchboard-rediscluster.redis-create.log").is_none());
        assert!(parse_name("S1.switchboard.bench.log").is_none());
        assert!(parse_name("S1.switchboard.server.log").is_none());
        assert!(parse_name("git-commit").is_none());
        assert!(parse_name("S9.switchboard.json").is_none());
    }

    #[test]
    fn the_json_line_is_the_last_line() {
        let text = "warning: something\n{\"scenario\":\"S1/switchboard\",\"lost\":3}\n\n";
        let Ok(Outcome::Ran(report)) = parse_run(text) else {
            panic!("not parsed");
        };
        assert_eq!(report.scenario, "S1/switchboard");
        assert_eq!(report.lost, 3);
        assert!(parse_run("").is_err());
    }

    #[test]
    fn redis_cpu_files_hold_seconds() {
        assert_eq!(parse_seconds("12.345\n"), Some(12.345));
        assert_eq!(parse_seconds("0.000"), Some(0.0));
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("-1.5"), None);
        assert_eq!(parse_seconds("n/a"), None);
    }

    /// A results directory as bench/run.sh leaves it: the Redis CPU beside its run, the logs
    /// and an unreadable figure ignored, and a directory from before the cluster rows.
    #[test]
    fn loads_a_results_directory() {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-bench-results-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let json = |label: &str| format!("{{\"scenario\":\"{label}\",\"lost\":0}}\n");
        let files = [
            ("S1.switchboard.json", json("S1/switchboard")),
            ("S1.switchboard-redis.json", json("S1/switchboard-redis")),
            ("S1.switchboard-redis.redis-cpu", "4.250\n".to_owned()),
            (
                "S1.switchboard-rediscluster-3.json",
                json("S1/switchboard-rediscluster-3"),
            ),
            (
                "S1.switchboard-rediscluster-3.redis-cpu",
                "9.5\n".to_owned(),
            ),
            (
                "S1.switchboard-rediscluster-3.redis-2.log",
                "log".to_owned(),
            ),
            (
                "S1.switchboard-rediscluster.failed",
                "the Redis Cluster was not ok within 30 s\n".to_owned(),
            ),
            (
                "S1.switchboard-rediscluster.redis-cpu",
                "garbage".to_owned(),
            ),
            ("git-commit", "abc\n".to_owned()),
        ];
        for (name, text) in &files {
            fs::write(dir.join(name), text).unwrap();
        }
        let args = ReportArgs {
            results_dir: dir.clone(),
            mode: Mode::Smoke,
            date: "2026-01-02".into(),
            command: None,
            out: None,
        };
        let results = load(&args).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(results.runs.len(), 4);
        assert!(matches!(
            results.get(Scenario::S1, Server::SwitchboardRedisCluster3),
            Some(Outcome::Ran(_))
        ));
        assert!(matches!(
            results.get(Scenario::S1, Server::SwitchboardRedisCluster),
            Some(Outcome::Failed(reason)) if reason.contains("not ok within 30 s")
        ));
        let cpu: Vec<_> = results.redis_cpu_s.into_iter().collect();
        assert_eq!(
            cpu,
            [
                ((Scenario::S1, Server::SwitchboardRedis), 4.25),
                ((Scenario::S1, Server::SwitchboardRedisCluster3), 9.5),
            ]
        );
        assert_eq!(results.machine.commit, "abc");
    }

    #[test]
    fn reasons_fit_in_a_cell() {
        assert_eq!(one_line("a\n\n  b  \n"), "a / b");
        assert!(one_line(&"x".repeat(1000)).ends_with('…'));
    }
}

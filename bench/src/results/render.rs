//! The results markdown: machine and command, how the servers were run, one table per scenario
//! (one row per server, with a ratio against Switchboard whose direction the header states),
//! the S5 projection, the targets, and the hand-written analysis's placeholder.

use std::fmt::Write as _;

use super::{Mode, Outcome, Results, Scenario, Server};
use crate::report::Report;

/// File descriptors Switchboard keeps back from the open-file limit (src/net/open_files.rs).
const SWITCHBOARD_RESERVED_FDS: u64 = 64;

/// Connections per node the S5 projection is made for.
const PROJECTED: [f64; 2] = [100_000.0, 1_000_000.0];

/// A paced run counts as holding its rate when it published at least this share of it.
const RATE_HELD: f64 = 0.95;

pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    header(&mut out, results);
    for scenario in Scenario::ALL {
        section(&mut out, results, scenario);
    }
    targets(&mut out, results);
    out.push_str("## Analysis\n\n<!-- analysis: written by hand after the run -->\n");
    out
}

fn header(out: &mut String, results: &Results) {
    let m = &results.machine;
    let _ = writeln!(out, "# Switchboard benchmark — {}\n", results.date);
    if results.mode == Mode::Smoke {
        out.push_str(
            "> **Smoke run.** Every scenario's shape is scaled down (hundreds of connections, \
             windows of about a second) to check the harness end to end; the figures are not \
             benchmark results and the targets below are evaluated for form only. \
             `bench/run.sh full` produces the real thing.\n\n",
        );
    }
    out.push_str("## Machine\n\n");
    let _ = writeln!(out, "- CPU: {} cores (`nproc`), {}", m.cores, m.cpu_model);
    let _ = writeln!(out, "- RAM: {:.1} GiB", m.ram_gib);
    let _ = writeln!(out, "- Kernel: {}", m.kernel);
    if let Some(limit) = m.nofile_hard {
        let _ = writeln!(
            out,
            "- Open files: hard limit {} per process (each connection is one)",
            int(limit as f64)
        );
    }
    let _ = writeln!(out, "- Node: {}", m.node);
    let _ = writeln!(out, "- Rust: {}", m.rustc);
    let _ = write!(out, "- Commit: `{}`", m.commit);
    if m.uncommitted.is_empty() {
        out.push_str(" (clean working tree at build time)\n");
    } else {
        out.push_str(", with uncommitted changes at build time:\n");
        for line in &m.uncommitted {
            let _ = writeln!(out, "  - `{}`", line.trim());
        }
    }
    out.push_str(
        "- The load generator (`switchboard-bench`) runs on the same machine and shares its cores \
         with the server under test; traffic is loopback only.\n\n",
    );

    out.push_str("## Command\n\n");
    let _ = writeln!(out, "```sh\n{}\n```\n", results.command);
    out.push_str(
        "The JSON line of every run (all figures, see bench/README.md) is saved beside this file, \
         in the `.jsonl` file of the same name.\n\n",
    );

    out.push_str(
        "## Servers\n\n\
         Each row of each table is a **fresh server process** on a free loopback port, stopped \
         after its run.\n\n\
         | Row | Process | Subscribers speak |\n\
         |---|---|---|\n\
         | Switchboard | `target/release/switchboard --listen 127.0.0.1:P --api-key K` (release build, default settings) | `transport-ws` (graphql-transport-ws) on `/graphql` |\n\
         | Switchboard (AppSync) | the same | `appsync` (AWS AppSync real-time) on `/graphql`, credentials in the `header` query parameter |\n\
         | Switchboard (AppSync Events), S1 and S2 | the same | `events` (`aws-appsync-event-ws` on `/event/realtime`, channel `/default/u{n}`; statuses published with `POST /event`) |\n\
         | Switchboard on Redis (1 node), S1 | the same with `--redis-url redis://127.0.0.1:R --node-id bench-1`, on a fresh `redis-server --save '' --appendonly no` on this machine | `transport-ws` |\n\
         | Switchboard on Redis (3 nodes), S1 | three such nodes (`--node-id bench-1` to `bench-3`, each on its own port) on one fresh `redis-server`; subscriber i connects to node i mod 3 and publisher p publishes through node p mod 3, so two statuses in three are published on a node other than their subscriber's. Server RSS and CPU are the sums over the three nodes (Redis's own are not counted) | `transport-ws` |\n\
         | Switchboard on a 3-shard Redis Cluster (1 node), S1 | the same with `--redis-url redis+cluster://127.0.0.1:R1,127.0.0.1:R2,127.0.0.1:R3 --node-id bench-1` (the three masters as seeds), on a fresh Redis Cluster of three masters and no replicas on this machine (three `redis-server --cluster-enabled yes --cluster-node-timeout 2000 --save '' --appendonly no` joined by `redis-cli --cluster create --cluster-replicas 0`); topics spread over the shards, events on sharded pub/sub | `transport-ws` |\n\
         | Switchboard on a 3-shard Redis Cluster (3 nodes), S1 | three such nodes (`--node-id bench-1` to `bench-3`, each on its own port) on one fresh 3-master cluster, subscribers and publishers spread over them as in the 3-node Redis row. Server RSS and CPU are the sums over the three nodes (Redis's own are not counted) | `transport-ws` |\n\
         | Switchboard, S6 | the same, with `--history-max-bytes 8388608 --max-http-connections-per-address 4096` | `transport-ws` |\n\
         | graphql-ws (Node) | `node bench/peers/graphql-ws/server.mjs --port P` | `transport-ws` |\n\
         | appsync-simulator (Node) | `node bench/peers/appsync-simulator/server.mjs --port P --api-key K` | `appsync` |\n\n\
         - **graphql-ws**: graphql-ws 6.4.2 with ws 8.23.0 and graphql 16.15.0, the reference \
         graphql-transport-ws server; one `Map<userId, Set>` pub/sub, so a publish touches only \
         that user's subscribers. It accepts any API key (it does no authorisation work at all).\n\
         - **appsync-simulator**: amplify-appsync-simulator 2.4.1 (the engine of `amplify mock \
         api`), **not stock** (bench/peers/appsync-simulator/README.md). Stock 2.4.1 ignores \
         subscription arguments, so every `onStatusUpdate(userId:)` subscriber would receive \
         every user's statuses; `server.mjs` adds the **userId filter**: it wraps each \
         Subscription field's `subscribe` with `withFilter` (the simulator's own \
         graphql-subscriptions 1.2.1), keeping an event only when every non-null argument equals \
         the same-named field of the mutation's result (AppSync's rule). The simulator keeps one \
         pub/sub topic per subscription field, so **every publish runs every subscriber's \
         filter** (O(all subscriptions) per publish): that is why it slows down with many users. \
         Also changed: bound to 127.0.0.1, a bad `start` no longer kills the process (an \
         `unhandledRejection` handler), HTTP keep-alive 65 s.\n\n",
    );

    out.push_str(
        "## Method\n\n\
         - **Latency**: each status's `message` carries its send time; a delivery's latency is \
         its arrival minus that time (one machine, one clock). Percentiles are of deliveries of \
         statuses sent inside the measured window (after the warm-up). Paced runs time a status \
         from when it was actually sent, so a server that cannot keep the pace is not charged \
         for the queueing before the send (no coordinated-omission correction); such rows say \
         they missed the rate.\n\
         - **Delivered statuses/s**: statuses sent in the window that reached *every* live \
         subscriber of their user by the end of the drain, ÷ window. **Deliveries/s**: \
         deliveries that arrived during the window ÷ window. **Lost / duplicates**: per status, \
         expected deliveries (its user's live subscribers) minus received, and the reverse.\n\
         - **RSS per connection**: (server RSS after every subscription is live and a settle \
         pause − RSS before connecting) ÷ connections held. **CPU**: server and load-generator \
         CPU seconds (user + system) during the measured window. **Redis CPU** (Notes of the \
         Redis rows): `used_cpu_user` + `used_cpu_sys` from `INFO cpu`, summed over a \
         cluster's nodes, read just before the generator starts and just after it ends, so it \
         spans connecting, warm-up, window and drain, not only the window.\n\
         - Ratios are always oriented so that **> 1 means Switchboard is better**; each table's \
         header says which figure and which way.\n\n",
    );
}

/// How a scenario's figure of merit compares.
#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
}

#[derive(Clone, Copy)]
struct Column {
    header: &'static str,
    cell: fn(&Report) -> String,
}

/// What a scenario's table shows.
struct Layout {
    title: &'static str,
    about: &'static str,
    columns: Vec<Column>,
    /// The figure the ratio compares, its name in the header, and which way is better.
    merit: fn(&Report) -> Option<f64>,
    merit_name: &'static str,
    better: Better,
    /// Whether the table has the ratio column (not when only Switchboard runs the scenario).
    compare: bool,
}

fn layout(scenario: Scenario) -> Layout {
    let col = |header, cell| Column { header, cell };
    let latency = || {
        vec![
            col("p50 ms", |r| latency_ms(r, r.p50_us)),
            col("p99 ms", |r| latency_ms(r, r.p99_us)),
            col("p99.9 ms", |r| latency_ms(r, r.p999_us)),
        ]
    };
    let loss = || {
        vec![
            col("Lost", |r| int(r.lost as f64)),
            col("Dup.", |r| int(r.duplicates as f64)),
        ]
    };
    let cpu = || col("CPU s: server / load gen", cpu_cell);
    match scenario {
        Scenario::S1 => Layout {
            title: "S1 — per-user delivery",
            about: "Every connection subscribes to its own user; statuses go to random users as \
                    fast as the publishers can send them. Figure of merit: delivered statuses/s.",
            columns: [
                vec![
                    col("Connections", connections_cell),
                    col("Published/s", |r| int(r.published_per_s)),
                    col("Delivered statuses/s", |r| int(r.delivered_statuses_per_s)),
                    col("Deliveries/s", |r| int(r.deliveries_per_s)),
                ],
                latency(),
                loss(),
                vec![cpu()],
            ]
            .concat(),
            merit: |r| Some(r.delivered_statuses_per_s),
            merit_name: "delivered statuses/s, Switchboard ÷ this (> 1: Switchboard faster)",
            better: Better::Higher,
            compare: true,
        },
        Scenario::S2 => Layout {
            title: "S2 — broadcast",
            about: "Every connection subscribes to the same user, so each status fans out to all \
                    of them. Figure of merit: deliveries/s.",
            columns: [
                vec![
                    col("Subscribers", connections_cell),
                    col("Published/s", |r| int(r.published_per_s)),
                    col("Deliveries/s", |r| int(r.deliveries_per_s)),
                    col("Delivered statuses/s", |r| int(r.delivered_statuses_per_s)),
                ],
                latency(),
                loss(),
                vec![cpu()],
            ]
            .concat(),
            merit: |r| Some(r.deliveries_per_s),
            merit_name: "deliveries/s, Switchboard ÷ this (> 1: Switchboard faster)",
            better: Better::Higher,
            compare: true,
        },
        Scenario::S3 => Layout {
            title: "S3 — idle memory",
            about: "Connections each holding one live subscription and no traffic. After \
                    settling, one probe status to each of up to 10 users proves the connections \
                    still alive. Figure of merit: server RSS per connection.",
            columns: vec![
                col("Connections held / asked", held_cell),
                col("RSS before MiB", |r| opt(r.server_rss_kib_before, mib)),
                col("RSS connected MiB", |r| {
                    opt(r.server_rss_kib_connected, mib)
                }),
                col("RSS per connection KiB", |r| {
                    opt(r.rss_per_connection_bytes, |b| format!("{:.2}", b / 1024.0))
                }),
                col("Probe received / expected", |r| {
                    format!(
                        "{} / {}",
                        int(r.idle_probe_received.unwrap_or(0) as f64),
                        int(r.idle_probe_expected.unwrap_or(0) as f64)
                    )
                }),
            ],
            merit: |r| r.rss_per_connection_bytes,
            merit_name: "RSS per connection, this ÷ Switchboard (> 1: Switchboard smaller)",
            better: Better::Lower,
            compare: true,
        },
        Scenario::S4 => Layout {
            title: "S4 — latency at a steady rate",
            about: "Every connection subscribes to its own user; statuses are paced evenly at \
                    the target rate to random users. Figure of merit: p99 publish-to-delivery \
                    latency.",
            columns: [
                vec![
                    col("Connections", connections_cell),
                    col("Target/s", |r| opt(r.rate_target, int)),
                    col("Published/s", |r| int(r.published_per_s)),
                    col("Delivered statuses/s", |r| int(r.delivered_statuses_per_s)),
                ],
                latency(),
                vec![col("max ms", |r| latency_ms(r, r.max_us))],
                loss(),
                vec![cpu()],
            ]
            .concat(),
            merit: |r| (r.latency_samples > 0).then_some(r.p99_us as f64),
            merit_name: "p99, this ÷ Switchboard (> 1: Switchboard lower)",
            better: Better::Lower,
            compare: true,
        },
        Scenario::S5 => Layout {
            title: "S5 — scale (Switchboard only)",
            about: "As many connections as one process may open, one user each; statuses are \
                    published round-robin to every user at a modest rate, so that every \
                    connection must receive some. Figures of merit: connections receiving, \
                    loss, memory and CPU per delivery, projected below.",
            columns: [
                vec![
                    col("Connections held / asked", held_cell),
                    col("Receiving", |r| int(r.connections_receiving as f64)),
                    col("Published/s", |r| int(r.published_per_s)),
                    col("Deliveries/s", |r| int(r.deliveries_per_s)),
                    col("p99 ms", |r| latency_ms(r, r.p99_us)),
                ],
                loss(),
                vec![
                    col("RSS connected MiB", |r| {
                        opt(r.server_rss_kib_connected, mib)
                    }),
                    col("RSS per connection KiB", |r| {
                        opt(r.rss_per_connection_bytes, |b| format!("{:.2}", b / 1024.0))
                    }),
                    cpu(),
                    col("Server CPU µs per delivery", |r| {
                        opt(cpu_per_delivery_s(r), |c| format!("{:.2}", c * 1e6))
                    }),
                ],
            ]
            .concat(),
            merit: |r| Some(r.deliveries_per_s),
            merit_name: "deliveries/s, Switchboard ÷ this (> 1: Switchboard faster)",
            better: Better::Higher,
            compare: false,
        },
        Scenario::S6 => Layout {
            title: "S6 — churn (Switchboard only)",
            about: "S4's steady load while new connections arrive at the churn rate: each \
                    connects, subscribes to a user of its own, publishes one status to itself, \
                    receives it and leaves. The node keeps history in an 8 MiB budget here, so \
                    the kept statuses of the churners' topics stop growing early and the RSS \
                    after the run shows what connections leave behind; it also allows 4,096 \
                    HTTP connections per address, since every churner publishes from 127.0.0.1. Figures of merit: \
                    connect-to-ack p99, RSS flat, no loss for the steady subscribers.",
            columns: [
                vec![
                    col("Steady connections", connections_cell),
                    col("Steady published/s", |r| int(r.published_per_s)),
                    col("Churn/s", |r| {
                        opt(r.churn.as_ref(), |c| int(c.started_per_s))
                    }),
                    col("Churners failed / missed", |r| {
                        opt(r.churn.as_ref(), |c| format!("{} / {}", c.failed, c.missed))
                    }),
                    col("Connect-to-ack p50 / p99 ms", |r| {
                        opt(r.churn.as_ref(), |c| {
                            format!(
                                "{:.1} / {:.1}",
                                c.ack_p50_us as f64 / 1000.0,
                                c.ack_p99_us as f64 / 1000.0
                            )
                        })
                    }),
                    col("Steady p99 ms", |r| latency_ms(r, r.p99_us)),
                ],
                loss(),
                vec![
                    col("RSS connected → after MiB", |r| {
                        match (r.server_rss_kib_connected, r.server_rss_kib_after) {
                            (Some(a), Some(b)) => format!("{} → {}", mib(a), mib(b)),
                            _ => "—".to_owned(),
                        }
                    }),
                    cpu(),
                ],
            ]
            .concat(),
            merit: |r| r.churn.as_ref().map(|c| c.ack_p99_us as f64),
            merit_name: "connect-to-ack p99",
            better: Better::Lower,
            compare: false,
        },
    }
}

fn section(out: &mut String, results: &Results, scenario: Scenario) {
    let layout = layout(scenario);
    let _ = writeln!(out, "## {}\n\n{}\n", layout.title, layout.about);
    let rows: Vec<Server> = Server::ALL
        .into_iter()
        .filter(|&s| results.get(scenario, s).is_some())
        .collect();
    let shape = results
        .report(scenario, Server::Switchboard)
        .or_else(|| rows.iter().find_map(|&s| results.report(scenario, s)));
    if let Some(report) = shape {
        let _ = writeln!(out, "Shape: {}.\n", shape_text(report));
    }
    if rows.is_empty() {
        out.push_str("Not run.\n\n");
        if scenario == Scenario::S5 {
            out.push_str("No projection without the scale run.\n\n");
        }
        return;
    }
    let reference = results.report(scenario, Server::Switchboard);
    let mut headers = vec!["Server", "Protocol"];
    headers.extend(layout.columns.iter().map(|c| c.header));
    let ratio_header = format!("vs Switchboard: {}", layout.merit_name);
    if layout.compare {
        headers.push(&ratio_header);
    }
    headers.push("Notes");
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(
        out,
        "|---|---|{}{}---|",
        "---:|".repeat(layout.columns.len()),
        if layout.compare { "---|" } else { "" }
    );
    for server in rows {
        let mut cells = vec![
            server.name().to_owned(),
            format!("`{}`", protocol(results, scenario, server)),
        ];
        match results.get(scenario, server) {
            Some(Outcome::Ran(report)) => {
                cells.extend(layout.columns.iter().map(|c| (c.cell)(report)));
                let ratio = if server == Server::Switchboard {
                    "1 (reference)".to_owned()
                } else {
                    match (reference.and_then(layout.merit), (layout.merit)(report)) {
                        (Some(ours), Some(theirs)) => match layout.better {
                            Better::Higher => ratio(ours, theirs),
                            Better::Lower => ratio(theirs, ours),
                        },
                        _ => "n/a".to_owned(),
                    }
                };
                if layout.compare {
                    cells.push(ratio);
                }
                let mut notes = notes(scenario, report);
                if let Some(seconds) = results.redis_cpu_s.get(&(scenario, server)) {
                    let redis = format!("Redis CPU {seconds:.1} s");
                    notes = if notes.is_empty() {
                        redis
                    } else {
                        format!("{redis}; {notes}")
                    };
                }
                cells.push(notes);
            }
            Some(Outcome::Failed(reason)) => {
                let blanks = layout.columns.len() + usize::from(layout.compare);
                cells.extend(std::iter::repeat_n("—".to_owned(), blanks));
                cells.push(format!("**failed**: {reason}"));
            }
            Some(Outcome::Skipped(reason)) => {
                let blanks = layout.columns.len() + usize::from(layout.compare);
                cells.extend(std::iter::repeat_n("—".to_owned(), blanks));
                cells.push(format!("skipped: {reason}"));
            }
            None => unreachable!("rows are the servers with an outcome"),
        }
        let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    if scenario == Scenario::S5 {
        projection(out, results);
    }
}

/// The protocol a row's subscribers spoke: from its run, or the one it would have used.
fn protocol(results: &Results, scenario: Scenario, server: Server) -> String {
    let planned = match server {
        Server::Switchboard | Server::GraphqlWs => "transport-ws",
        Server::SwitchboardAppsync | Server::AppsyncSimulator => "appsync",
        Server::SwitchboardEvents => "events",
        Server::SwitchboardRedis
        | Server::SwitchboardRedis3
        | Server::SwitchboardRedisCluster
        | Server::SwitchboardRedisCluster3 => "transport-ws",
    };
    results
        .report(scenario, server)
        .and_then(|r| r.protocol)
        .and_then(|p| serde_json::to_value(p).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| planned.to_owned())
}

/// The scenario's parameters as one run saw them.
fn shape_text(r: &Report) -> String {
    let asked = r.connections + r.connect_failures;
    let users = match r.users {
        1 => "all on one user (broadcast)".to_owned(),
        u if u as usize >= asked => format!("{} users, one subscriber each", int(f64::from(u))),
        u => format!("{} users", int(f64::from(u))),
    };
    if r.idle {
        return format!("{} connections, {users}; no publishing", int(asked as f64));
    }
    let pace = match r.rate_target {
        Some(rate) => format!("paced at {}/s in total", int(rate)),
        None => "flat out".to_owned(),
    };
    format!(
        "{} connections, {users}; {} publishers {pace}; {} s warm-up, {} s measured, {} s drain",
        int(asked as f64),
        r.publishers,
        trim(r.warmup_s),
        trim(r.duration_s),
        trim(r.drain_s),
    )
}

/// Everything unusual about a run, for its Notes cell.
fn notes(scenario: Scenario, r: &Report) -> String {
    let mut notes = Vec::new();
    if r.connect_failures > 0 {
        notes.push(format!(
            "{} of {} connections failed ({})",
            int(r.connect_failures as f64),
            int((r.connections + r.connect_failures) as f64),
            counted(&r.connect_failure_reasons)
        ));
    }
    if scenario == Scenario::S4
        && let Some(rate) = r.rate_target
        && r.published_per_s < rate * RATE_HELD
    {
        notes.push(format!(
            "did not hold the target rate (published {}/s): latencies are of what it accepted",
            int(r.published_per_s)
        ));
    }
    if r.publish_errors > 0 {
        notes.push(format!(
            "{} publish errors (first: {})",
            int(r.publish_errors as f64),
            r.first_publish_error.as_deref().unwrap_or("?")
        ));
    }
    if r.closed_during_run > 0 {
        notes.push(format!(
            "{} connections closed during the run",
            int(r.closed_during_run as f64)
        ));
    }
    if !r.events.is_empty() {
        notes.push(format!("events: {}", counted(&r.events)));
    }
    if r.misrouted > 0 {
        notes.push(format!("{} misrouted deliveries", int(r.misrouted as f64)));
    }
    if r.unstamped > 0 {
        notes.push(format!("{} unstamped deliveries", int(r.unstamped as f64)));
    }
    if r.unacknowledged_deliveries > 0 {
        notes.push(format!(
            "{} deliveries of failed publishes",
            int(r.unacknowledged_deliveries as f64)
        ));
    }
    if r.idle
        && let (Some(expected), Some(received)) = (r.idle_probe_expected, r.idle_probe_received)
        && received != expected
    {
        notes.push(format!("probe: {received} of {expected} arrived"));
    }
    notes.join("; ")
}

/// "reason ×n; …", the three most frequent, each cut short.
fn counted(map: &std::collections::BTreeMap<String, u64>) -> String {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| b.1.cmp(a.1));
    let mut text: Vec<String> = entries
        .iter()
        .take(3)
        .map(|(reason, n)| format!("{} ×{n}", cut(reason, 80)))
        .collect();
    if entries.len() > 3 {
        text.push(format!("{} more kinds", entries.len() - 3));
    }
    text.join("; ")
}

mod cells;
mod targets;
#[cfg(test)]
mod tests;

use cells::*;
use targets::*;

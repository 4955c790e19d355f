//! The projection to 100k and 1M connections, and the verdict on each target.

use super::*;

/// CPU seconds per delivery: server CPU in the window ÷ deliveries in the window (the cost of
/// handling the publishes included).
pub(super) fn cpu_per_delivery_s(r: &Report) -> Option<f64> {
    let deliveries = r.deliveries_per_s * r.duration_s;
    r.server_cpu_s
        .filter(|_| deliveries > 0.0)
        .map(|cpu| cpu / deliveries)
}

pub(super) fn projection(out: &mut String, results: &Results) {
    out.push_str("### Projection per node\n\n");
    let Some(r) = results.report(Scenario::S5, Server::Switchboard) else {
        out.push_str("No projection: the scale run did not complete.\n\n");
        return;
    };
    let (Some(before_kib), Some(per_conn), Some(cpu)) = (
        r.server_rss_kib_before,
        r.rss_per_connection_bytes,
        cpu_per_delivery_s(r),
    ) else {
        out.push_str("No projection: the scale run has no memory or CPU figures.\n\n");
        return;
    };
    let per_conn_rate = if r.connections > 0 {
        r.deliveries_per_s / r.connections as f64
    } else {
        0.0
    };
    let base = before_kib as f64 * 1024.0;
    // The broadcast run's cost per delivery: fan-out alone, the publish shared by thousands.
    let fanout = results
        .report(Scenario::S2, Server::Switchboard)
        .and_then(cpu_per_delivery_s);
    let _ = writeln!(
        out,
        "From the run above: RSS before connecting B = {} MiB, RSS per connection m = {:.2} KiB, \
         CPU per delivery c = {:.2} µs (server CPU seconds in the window ÷ deliveries in the \
         window, publish handling included), and f = {:.3} statuses per connection per second \
         (deliveries/s ÷ connections).\n",
        mib(before_kib),
        per_conn / 1024.0,
        cpu * 1e6,
        per_conn_rate,
    );
    out.push_str(
        "- **Memory**: RSS(N) = B + N × m\n\
         - **CPU**: cores(N, f) = N × f × c (one core = 1 CPU second per second). Here every \
         status has one subscriber, so c includes one HTTP publish per delivery: the per-user \
         worst case.\n",
    );
    if let Some(fanout) = fanout {
        let _ = writeln!(
            out,
            "- **CPU, fan-out only**: the same with c₂ = {:.2} µs, S2's CPU per delivery (one \
             publish shared by all subscribers): the broadcast best case.",
            fanout * 1e6
        );
    }
    out.push_str(
        "- **Open files**: N + 64 (Switchboard's reserve), so the hard `RLIMIT_NOFILE` must be \
         raised above that\n\n",
    );
    let _ = write!(
        out,
        "| Connections N | RSS | Cores at f = {per_conn_rate:.3}/s (this run's rate) | Cores at f = 1/s |"
    );
    if fanout.is_some() {
        out.push_str(" Cores at f = 1/s, fan-out only (c₂) |");
    }
    let _ = writeln!(
        out,
        " Open files |\n|---:|---:|---:|---:|{}---:|",
        if fanout.is_some() { "---:|" } else { "" }
    );
    for n in PROJECTED {
        let rss = base + n * per_conn;
        let _ = write!(
            out,
            "| {} | {:.2} GiB | {:.2} | {:.2} |",
            int(n),
            rss / (1024.0 * 1024.0 * 1024.0),
            n * per_conn_rate * cpu,
            n * cpu,
        );
        if let Some(fanout) = fanout {
            let _ = write!(out, " {:.2} |", n * fanout);
        }
        let _ = writeln!(out, " {} |", int(n + SWITCHBOARD_RESERVED_FDS as f64));
    }
    out.push_str(
        "\nA linear extrapolation from one process on this machine: it leaves out the kernel's \
         own per-socket memory (TCP buffers are not in the process's RSS), assumes CPU work \
         spreads over cores as it does on two, and needs clients spread over enough source \
         addresses (about 28,000 ephemeral ports each) to open that many connections.\n\n",
    );
}

pub(super) fn targets(out: &mut String, results: &Results) {
    out.push_str("## Targets\n\n");
    if results.mode == Mode::Smoke {
        out.push_str(
            "Smoke run: the shapes are scaled down, so these verdicts only show the report \
             works; they say nothing about the targets.\n\n",
        );
    }
    out.push_str("| Target | Switchboard measured | Result |\n|---|---|---|\n");
    let sb = |s| results.report(s, Server::Switchboard);
    let mut row = |target: &str, measured: String, verdict: Verdict| {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            escape(target),
            escape(&measured),
            verdict.text(results.mode)
        );
    };

    match sb(Scenario::S1) {
        Some(r) => {
            row(
                "S1: ≥ 25,000 statuses/s delivered (one subscriber per user)",
                format!("{}/s{}", int(r.delivered_statuses_per_s), loss_text(r)),
                Verdict::check(r.delivered_statuses_per_s >= 25_000.0, r),
            );
            match results.report(Scenario::S1, Server::GraphqlWs) {
                Some(peer) if peer.delivered_statuses_per_s > 0.0 => {
                    let times = r.delivered_statuses_per_s / peer.delivered_statuses_per_s;
                    row(
                        "S1: ≥ 5× graphql-ws",
                        format!(
                            "{times:.2}× (graphql-ws {}/s)",
                            int(peer.delivered_statuses_per_s)
                        ),
                        Verdict::check(times >= 5.0, r),
                    );
                }
                _ => row(
                    "S1: ≥ 5× graphql-ws",
                    "graphql-ws has no S1 figure".to_owned(),
                    Verdict::NotRun,
                ),
            }
        }
        None => {
            row(
                "S1: ≥ 25,000 statuses/s delivered",
                "—".into(),
                Verdict::NotRun,
            );
            row("S1: ≥ 5× graphql-ws", "—".into(), Verdict::NotRun);
        }
    }

    match results.report(Scenario::S1, Server::SwitchboardRedis) {
        Some(r) => row(
            "S1 with Redis: ≥ 15,000 statuses/s (one node)",
            format!("{}/s{}", int(r.delivered_statuses_per_s), loss_text(r)),
            Verdict::check(r.delivered_statuses_per_s >= 15_000.0, r),
        ),
        None => row(
            "S1 with Redis: ≥ 15,000 statuses/s (one node)",
            "—".into(),
            Verdict::NotRun,
        ),
    }
    // A figure without a target: what spreading publishers and subscribers over nodes gives.
    match results.report(Scenario::S1, Server::SwitchboardRedis3) {
        Some(r) => row(
            "S1 with Redis, 3 nodes (publishers and subscribers spread over them): statuses/s",
            format!("{}/s{}", int(r.delivered_statuses_per_s), loss_text(r)),
            Verdict::Reported,
        ),
        None => row(
            "S1 with Redis, 3 nodes: statuses/s",
            "—".into(),
            Verdict::NotRun,
        ),
    }
    // Figures without a target: the same over a 3-shard Redis Cluster.
    for (server, measured, missing) in [
        (
            Server::SwitchboardRedisCluster,
            "S1 on a 3-shard Redis Cluster, 1 node: statuses/s",
            "S1 on a 3-shard Redis Cluster, 1 node: statuses/s",
        ),
        (
            Server::SwitchboardRedisCluster3,
            "S1 on a 3-shard Redis Cluster, 3 nodes (publishers and subscribers spread over \
             them): statuses/s",
            "S1 on a 3-shard Redis Cluster, 3 nodes: statuses/s",
        ),
    ] {
        match results.report(Scenario::S1, server) {
            Some(r) => row(
                measured,
                format!("{}/s{}", int(r.delivered_statuses_per_s), loss_text(r)),
                Verdict::Reported,
            ),
            None => row(missing, "—".into(), Verdict::NotRun),
        }
    }

    match sb(Scenario::S2) {
        Some(r) => row(
            "S2: ≥ 300,000 deliveries/s (broadcast)",
            format!("{}/s{}", int(r.deliveries_per_s), loss_text(r)),
            Verdict::check(r.deliveries_per_s >= 300_000.0, r),
        ),
        None => row("S2: ≥ 300,000 deliveries/s", "—".into(), Verdict::NotRun),
    }

    match sb(Scenario::S3) {
        Some(r) => {
            let kib = r.rss_per_connection_bytes.map(|b| b / 1024.0);
            let alive = r.idle_probe_received == r.idle_probe_expected && r.connect_failures == 0;
            row(
                "S3: ≤ 8 KiB RSS per idle subscribed connection",
                format!(
                    "{} KiB over {} connections{}",
                    opt(kib, |k| format!("{k:.2}")),
                    int(r.connections as f64),
                    if alive {
                        String::new()
                    } else {
                        "; not every connection held or alive".to_owned()
                    }
                ),
                Verdict::from(kib.is_some_and(|k| k <= 8.0) && alive),
            );
        }
        None => row(
            "S3: ≤ 8 KiB RSS per idle subscribed connection",
            "—".into(),
            Verdict::NotRun,
        ),
    }

    match sb(Scenario::S4) {
        Some(r) => {
            let held = r
                .rate_target
                .is_none_or(|rate| r.published_per_s >= rate * RATE_HELD);
            row(
                "S4: p99 ≤ 2 ms at a steady 2,000 statuses/s",
                format!(
                    "p99 {} ms at {}/s{}{}",
                    latency_ms(r, r.p99_us),
                    int(r.published_per_s),
                    if held { "" } else { " (target rate not held)" },
                    loss_text(r)
                ),
                Verdict::check(r.latency_samples > 0 && r.p99_us <= 2_000 && held, r),
            );
        }
        None => row(
            "S4: p99 ≤ 2 ms at 2,000 statuses/s",
            "—".into(),
            Verdict::NotRun,
        ),
    }

    match sb(Scenario::S5) {
        Some(r) => {
            let asked = r.connections + r.connect_failures;
            let all = r.connect_failures == 0
                && r.connections_receiving == r.connections as u64
                && r.closed_during_run == 0;
            row(
                "S5: every connection receiving, as many as the process may open",
                format!(
                    "{} of {} asked held, {} receiving{}",
                    int(r.connections as f64),
                    int(asked as f64),
                    int(r.connections_receiving as f64),
                    loss_text(r)
                ),
                Verdict::check(all, r),
            );
            let projected = cpu_per_delivery_s(r).is_some() && r.rss_per_connection_bytes.is_some();
            row(
                "S5: projection to 100,000 and 1,000,000 connections per node",
                "see S5's projection".to_owned(),
                if projected {
                    Verdict::Reported
                } else {
                    Verdict::NotRun
                },
            );
        }
        None => {
            row(
                "S5: every connection receiving",
                "—".into(),
                Verdict::NotRun,
            );
            row(
                "S5: projection to 100,000 and 1,000,000 connections",
                "—".into(),
                Verdict::NotRun,
            );
        }
    }

    match sb(Scenario::S6).and_then(|r| Some((r, r.churn.as_ref()?))) {
        Some((r, churn)) => {
            row(
                "S6: 2,000 connections/s churning, each gets its status; connect-to-ack p99",
                format!(
                    "{:.0}/s, {} failed, {} missed; p99 {:.1} ms",
                    churn.started_per_s,
                    churn.failed,
                    churn.missed,
                    churn.ack_p99_us as f64 / 1000.0
                ),
                Verdict::check(
                    churn.started_per_s >= 1_900.0 && churn.failed + churn.missed == 0,
                    r,
                ),
            );
            let grown = r
                .server_rss_kib_after
                .zip(r.server_rss_kib_connected)
                .map(|(after, connected)| after as f64 - connected as f64);
            row(
                "S6: RSS flat (grows less than the 8 MiB history budget + 16 MiB)",
                grown.map_or("—".to_owned(), |g| format!("{:+.1} MiB", g / 1024.0)),
                grown.map_or(Verdict::NotRun, |g| Verdict::check(g < 24.0 * 1024.0, r)),
            );
        }
        None => row("S6: churn", "—".into(), Verdict::NotRun),
    }
    out.push('\n');
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Verdict {
    Met,
    NotMet,
    /// Not met because deliveries were lost or duplicated.
    Lossy,
    Reported,
    NotRun,
}

impl Verdict {
    /// A figure counts only if nothing was lost or duplicated on the way.
    fn check(ok: bool, r: &Report) -> Self {
        match (ok, r.lost + r.duplicates == 0) {
            (_, false) => Verdict::Lossy,
            (true, true) => Verdict::Met,
            (false, true) => Verdict::NotMet,
        }
    }

    fn text(self, mode: Mode) -> String {
        let text = match self {
            Verdict::Met => "**met**",
            Verdict::NotMet => "**not met**",
            Verdict::Lossy => "**not met** (deliveries lost or duplicated)",
            Verdict::Reported => "reported",
            Verdict::NotRun => "not run",
        };
        match (mode, self) {
            (Mode::Smoke, Verdict::Met | Verdict::NotMet | Verdict::Lossy) => {
                format!("{text} (smoke)")
            }
            _ => text.to_owned(),
        }
    }
}

impl From<bool> for Verdict {
    fn from(ok: bool) -> Self {
        if ok { Verdict::Met } else { Verdict::NotMet }
    }
}

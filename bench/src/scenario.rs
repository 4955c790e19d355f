//! One run from start to report: raise the descriptor limit, open the fleet (over every node
//! given), settle, then either the measured publish window or the idle probe, sampling the
//! server (every `--server-pid`, summed) and the generator from /proc at each milestone.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::churn;
use crate::cli::Args;
use crate::latency::{Recorder, unix_nanos};
use crate::limits;
use crate::procstat::{self, Sample};
use crate::protocol::{Endpoint, Protocol, node_for};
use crate::publisher::{self, Schedule};
use crate::report::{Report, account, per_second};
use crate::subscribers::{self, FleetPlan, Health};

/// Connections one source address carries when `--source-addrs` is 0 (auto): under both the
/// ~28k ephemeral ports of an address and Switchboard's default 10,000 connections per address.
const CONNECTIONS_PER_SOURCE: usize = 8_000;

/// The most users the idle probe publishes to.
const PROBE_USERS: u32 = 10;

pub async fn run(args: Args) -> anyhow::Result<Report> {
    let nofile = limits::raise_nofile().context("raising RLIMIT_NOFILE")?;
    let capacity = nofile.saturating_sub(limits::RESERVED_FDS);
    if capacity < args.subscribers as u64 + 100 {
        eprintln!(
            "warning: RLIMIT_NOFILE is {nofile}: room for about {capacity} connections, fewer than the {} asked for (+100)",
            args.subscribers
        );
    }
    let events = args.protocol == Protocol::Events;
    if args.urls.is_empty() {
        bail!("--url: no server to connect to");
    }
    let mut endpoints = Vec::with_capacity(args.urls.len());
    for url in &args.urls {
        endpoints.push(Endpoint::resolve(url, &args.api_key, args.filter.clone(), events).await?);
    }
    let endpoints: Arc<[Endpoint]> = endpoints.into();
    let server = |what: &str| -> anyhow::Result<Option<Sample>> {
        procstat::sample_sum(&args.server_pids)
            .with_context(|| format!("sampling the server {what}"))
    };
    let before = server("before connecting")?;

    let recorder = Arc::new(Recorder::new());
    let health = Arc::new(Health::default());
    let source_addrs = match args.source_addrs {
        0 => args
            .subscribers
            .div_ceil(CONNECTIONS_PER_SOURCE)
            .clamp(1, 250) as u8,
        k => k,
    };
    let plan = FleetPlan {
        endpoints: endpoints.clone(),
        protocol: args.protocol,
        subscribers: args.subscribers,
        users: args.users,
        source_addrs,
        concurrency: args.connect_concurrency,
        timeout: args.connect_timeout,
    };
    let targets: Vec<&str> = endpoints.iter().map(|e| e.ws_url.as_str()).collect();
    eprintln!(
        "connecting {} {:?} subscribers to {} from {source_addrs} source address(es)…",
        args.subscribers,
        args.protocol,
        targets.join(", ")
    );
    let fleet = subscribers::open(&plan, recorder.clone(), health.clone()).await;
    eprintln!(
        "{} live, {} failed in {:.1}s",
        fleet.live,
        fleet.failed,
        fleet.connect_time.as_secs_f64()
    );
    if fleet.live == 0 {
        bail!("no subscription went live: {:?}", fleet.failures);
    }
    eprintln!("settling {:?}…", args.settle);
    tokio::time::sleep(args.settle).await;
    let connected = server("with connections open")?;

    let mut report = Report {
        scenario: args.label.clone(),
        protocol: Some(args.protocol),
        idle: args.idle,
        connections: fleet.live,
        connect_failures: fleet.failed,
        connect_s: round(fleet.connect_time.as_secs_f64()),
        users: args.users,
        publishers: args.publishers,
        rate_target: args.rate,
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        drain_s: args.drain.as_secs_f64(),
        nofile_limit: nofile,
        connect_failure_reasons: fleet.failures.clone(),
        ..Report::default()
    };
    let client = publisher::client(args.publishers).context("building the HTTP client")?;
    let closed_before = health.closed.load(Relaxed);

    if args.idle {
        idle_probe(
            &args,
            &client,
            &endpoints,
            &recorder,
            &fleet.per_user,
            &mut report,
        )
        .await;
    } else {
        let window = measure(
            &args,
            client,
            &plan,
            &recorder,
            &fleet.per_user,
            &mut report,
        );
        let (server_cpu, loadgen_cpu) = window.await?;
        if let (Some(start), Some(end)) = server_cpu {
            let cpu = end.cpu_s - start.cpu_s;
            report.server_cpu_s = Some(round(cpu));
            report.server_cpu_util = Some(round(cpu / args.duration.as_secs_f64()));
        }
        report.loadgen_cpu_s = round(loadgen_cpu.1.cpu_s - loadgen_cpu.0.cpu_s);
    }

    let after = server("after the run")?;
    report.server_rss_kib_before = before.map(|s| s.rss_kib);
    report.server_rss_kib_connected = connected.map(|s| s.rss_kib);
    report.server_rss_kib_after = after.map(|s| s.rss_kib);
    if let (Some(before), Some(connected)) = (before, connected) {
        let grown = (connected.rss_kib as f64 - before.rss_kib as f64) * 1024.0;
        report.rss_per_connection_bytes = Some((grown / fleet.live as f64).round());
    }
    let me = procstat::sample(None)?;
    report.loadgen_rss_kib = me.rss_kib;
    if args.idle {
        report.loadgen_cpu_s = round(me.cpu_s);
    }
    report.closed_during_run = health.closed.load(Relaxed) - closed_before;
    report.connections_receiving = health.receiving.load(Relaxed);
    report.events = health.events();
    Ok(report)
}

type CpuWindow = ((Option<Sample>, Option<Sample>), (Sample, Sample));

/// Warm-up, the measured window and the drain; fills the publish and delivery figures and
/// returns the server's and the generator's samples at the window's edges.
async fn measure(
    args: &Args,
    client: reqwest::Client,
    plan: &FleetPlan,
    recorder: &Arc<Recorder>,
    per_user: &[u32],
    report: &mut Report,
) -> anyhow::Result<CpuWindow> {
    let (now, now_ns) = (Instant::now(), unix_nanos());
    let start = now + Duration::from_millis(50);
    let window_start = start + args.warmup;
    let window_end = window_start + args.duration;
    let ns = |at: Instant| now_ns + (at - now).as_nanos() as u64;
    recorder.set_window(ns(window_start), ns(window_end));
    let schedule = Arc::new(Schedule {
        publishers: args.publishers,
        rate: args.rate,
        users: args.users,
        pick: args.pick,
        start,
        stop: window_end,
    });
    eprintln!(
        "publishing with {} publishers ({}): {:?} warm-up, {:?} measured",
        args.publishers,
        args.rate
            .map_or("flat out".to_owned(), |r| format!("{r}/s")),
        args.warmup,
        args.duration
    );
    let churning = args.churn.map(|rate| {
        // Churners spread over every source address: each leaves a port in TIME_WAIT.
        let plan = FleetPlan {
            source_addrs: 250,
            ..plan.clone()
        };
        tokio::spawn(churn::run(
            plan,
            client.clone(),
            rate,
            window_start,
            window_end,
        ))
    });
    let publishing = tokio::spawn(publisher::run(
        client,
        plan.endpoints.clone(),
        schedule,
        recorder.clone(),
    ));
    let sample_both = || -> anyhow::Result<(Option<Sample>, Sample)> {
        Ok((
            procstat::sample_sum(&args.server_pids)?,
            procstat::sample(None)?,
        ))
    };
    tokio::time::sleep_until(window_start.into()).await;
    let (server_start, me_start) = sample_both()?;
    tokio::time::sleep_until(window_end.into()).await;
    let (server_end, me_end) = sample_both()?;
    let deliveries = recorder.deliveries_in_window.load(Relaxed);
    let tally = publishing.await.context("the publishers panicked")?;
    eprintln!("draining {:?}…", args.drain);
    tokio::time::sleep(args.drain).await;
    if let Some(churning) = churning {
        report.churn = Some(churning.await.context("the churners panicked")?);
    }

    let seconds = args.duration.as_secs_f64();
    report.published = tally.ok;
    report.published_per_s = per_second(tally.ok, seconds);
    report.publish_errors = tally.errors;
    report.first_publish_error = tally.first_error;
    report.deliveries_per_s = per_second(deliveries, seconds);
    report.misrouted = recorder.misrouted.load(Relaxed);
    report.unstamped = recorder.unstamped.load(Relaxed);
    report.set_accounting(account(&tally.accepted, per_user, recorder.received_all()));
    report.set_latency(&recorder.latency());
    Ok(((server_start, server_end), (me_start, me_end)))
}

/// Publishes one status to each of up to 10 users spread over the user range (publish `seq`
/// through node seq % n) and counts what arrives within the drain period: proof that the idle
/// connections are still alive.
async fn idle_probe(
    args: &Args,
    client: &reqwest::Client,
    endpoints: &[Endpoint],
    recorder: &Recorder,
    per_user: &[u32],
    report: &mut Report,
) {
    let probes = PROBE_USERS.min(args.users);
    let users: Vec<u32> = (0..probes).map(|i| i * (args.users / probes)).collect();
    recorder.set_window(unix_nanos(), u64::MAX);
    let mut expected = 0;
    for (seq, &user) in users.iter().enumerate() {
        let endpoint = node_for(endpoints, seq);
        let (_, result) = publisher::publish_one(client, endpoint, seq as u64, user).await;
        match result {
            Ok(()) => expected += u64::from(per_user[user as usize]),
            Err(e) => {
                report.publish_errors += 1;
                report.first_publish_error.get_or_insert(e.to_string());
            }
        }
    }
    let received = || {
        (0..users.len() as u64)
            .map(|s| u64::from(recorder.received(s)))
            .sum::<u64>()
    };
    let deadline = Instant::now() + args.drain;
    while received() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    report.idle_probe_expected = Some(expected);
    report.idle_probe_received = Some(received());
    report.set_latency(&recorder.latency());
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

//! Churn (S6): while the steady fleet runs, new connections arrive at `--churn` per second; each
//! connects, subscribes to a user of its own (`u{users + k}`, so topics come and go), publishes
//! one status to itself, waits for it, and leaves. What it measures: connect-to-ack time (TCP
//! connect to the subscription confirmed live), subscribe-to-ack (the subscribe written to its
//! confirmation) and subscribe-to-live (the subscribe written to its own status received), how
//! many churners got their status, and, with the report's RSS before and after, whether the
//! server's memory stays flat.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::incoming::{Incoming, Status};
use crate::publisher;
use crate::subscribers::{self, FleetPlan};

/// How long a churner waits for its own status before it counts it missed.
const WAIT_FOR_STATUS: Duration = Duration::from_secs(5);

/// Churners in flight at most; past it a due churner is counted as not started.
const MAX_IN_FLIGHT: usize = 4_000;

/// What the churners did.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ChurnReport {
    pub rate_target: f64,
    /// Churners started in the window, and per second.
    pub started: u64,
    pub started_per_s: f64,
    /// Churners whose connect or subscription failed (or that could not start).
    pub failed: u64,
    /// Churners that received their own status, and those that did not within 5 s.
    pub received: u64,
    pub missed: u64,
    /// TCP connect to the subscription confirmed live, in µs.
    pub ack_p50_us: u64,
    pub ack_p99_us: u64,
    pub ack_max_us: u64,
    /// The subscribe written to its confirmation, in µs.
    pub subscribe_ack_p50_us: u64,
    pub subscribe_ack_p99_us: u64,
    /// The subscribe written to the churner's own status (published once it was confirmed)
    /// received, in µs: how soon a new subscriber gets its first status.
    pub subscribe_live_p50_us: u64,
    pub subscribe_live_p99_us: u64,
    pub subscribe_live_max_us: u64,
    pub first_failure: Option<String>,
}

#[derive(Default)]
struct Tally {
    started: AtomicU64,
    failed: AtomicU64,
    received: AtomicU64,
    missed: AtomicU64,
    ack: Latencies,
    subscribe_ack: Latencies,
    subscribe_live: Latencies,
    first_failure: std::sync::Mutex<Option<String>>,
}

/// One latency histogram, in µs, shared by the churners.
#[derive(Default)]
struct Latencies(std::sync::Mutex<Option<Histogram<u64>>>);

impl Latencies {
    fn record(&self, since: Instant) {
        let us = since.elapsed().as_micros() as u64;
        let mut histogram = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let histogram = histogram.get_or_insert_with(|| {
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
        });
        let _ = histogram.record(us.max(1));
    }

    /// The quantiles asked for, and the maximum (all 0 with nothing recorded).
    fn quantiles<const N: usize>(&self, qs: [f64; N]) -> ([u64; N], u64) {
        let histogram = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match histogram.as_ref() {
            Some(h) => (qs.map(|q| h.value_at_quantile(q)), h.max()),
            None => ([0; N], 0),
        }
    }
}

impl Tally {
    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Relaxed);
        let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(why);
    }
}

/// Runs churners at `rate` per second from `start` until `stop`, then waits for those in
/// flight (at most [`WAIT_FOR_STATUS`] more).
pub async fn run(
    plan: FleetPlan,
    client: reqwest::Client,
    rate: f64,
    start: Instant,
    stop: Instant,
) -> ChurnReport {
    let tally = Arc::new(Tally::default());
    let urls: Arc<[String]> = plan.urls().into();
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = Vec::new();
    for k in 0u64.. {
        let due = start + Duration::from_secs_f64(k as f64 / rate);
        if due >= stop {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        tally.started.fetch_add(1, Relaxed);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tally.fail(format!("more than {MAX_IN_FLIGHT} churners in flight"));
            continue;
        };
        let (plan, client, urls, tally) =
            (plan.clone(), client.clone(), urls.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            churner(&plan, &client, &urls, k, &tally).await;
            drop(permit);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let seconds = (stop - start).as_secs_f64();
    let started = tally.started.load(Relaxed);
    let ([ack_p50_us, ack_p99_us], ack_max_us) = tally.ack.quantiles([0.5, 0.99]);
    let ([subscribe_ack_p50_us, subscribe_ack_p99_us], _) =
        tally.subscribe_ack.quantiles([0.5, 0.99]);
    let ([subscribe_live_p50_us, subscribe_live_p99_us], subscribe_live_max_us) =
        tally.subscribe_live.quantiles([0.5, 0.99]);
    ChurnReport {
        rate_target: rate,
        started,
        started_per_s: (started as f64 / seconds * 10.0).round() / 10.0,
        failed: tally.failed.load(Relaxed),
        received: tally.received.load(Relaxed),
        missed: tally.missed.load(Relaxed),
        ack_p50_us,
        ack_p99_us,
        ack_max_us,
        subscribe_ack_p50_us,
        subscribe_ack_p99_us,
        subscribe_live_p50_us,
        subscribe_live_p99_us,
        subscribe_live_max_us,
        first_failure: tally
            .first_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(),
    }
}

/// One churner: connect, subscribe, publish to itself once the subscription is confirmed,
/// wait for it, leave. Churner k does all of it on node k % n ([`FleetPlan::endpoint`]).
async fn churner(
    plan: &FleetPlan,
    client: &reqwest::Client,
    urls: &[String],
    k: u64,
    tally: &Tally,
) {
    let user = plan.users.saturating_add(k as u32);
    let began = Instant::now();
    let subscribed = tokio::time::timeout(plan.timeout, async {
        let mut ws = subscribers::handshake(plan, urls, k as usize).await?;
        let written = Instant::now();
        subscribers::send_subscribe(plan, &mut ws, k as usize, user).await?;
        subscribers::confirmed(plan, &mut ws).await?;
        tally.subscribe_ack.record(written);
        tally.ack.record(began);
        Ok::<_, subscribers::ConnectError>((ws, written))
    })
    .await;
    let (mut ws, written) = match subscribed {
        Ok(Ok(subscribed)) => subscribed,
        Ok(Err(e)) => return tally.fail(e.to_string()),
        Err(_) => return tally.fail("not live within the connect timeout".to_owned()),
    };
    // Its own sequence space, far above the steady publishers'.
    let seq = (1 << 62) + k;
    let (_, published) = publisher::publish_one(client, plan.endpoint(k as usize), seq, user).await;
    if let Err(e) = published {
        return tally.fail(format!("publish: {e}"));
    }
    let arrived = tokio::time::timeout(WAIT_FOR_STATUS, async {
        while let Some(Ok(frame)) = ws.next().await {
            let Message::Text(text) = frame else { continue };
            if own_stamp(&text, user).is_some() {
                return true;
            }
        }
        false
    })
    .await;
    if matches!(arrived, Ok(true)) {
        tally.subscribe_live.record(written);
        tally.received.fetch_add(1, Relaxed);
    } else {
        tally.missed.fetch_add(1, Relaxed);
    }
    let _ = ws.send(Message::Close(None)).await;
}

/// The stamp of a status for `u{user}`, if `text` is one.
fn own_stamp(text: &str, user: u32) -> Option<crate::latency::Stamp> {
    let wanted = format!("u{user}");
    let message = match Incoming::decode(text).ok()? {
        Incoming::Status(status) if status.user_id == wanted => status.message?.into_owned(),
        Incoming::ChannelEvent(event) => {
            let status = Status::of_event(&event).filter(|s| s.user_id == wanted)?;
            status.message?.into_owned()
        }
        _ => return None,
    };
    crate::latency::Stamp::parse(&message)
}

//! Churn (S6): while the steady fleet runs, new connections arrive at `--churn` per second; each
//! connects, subscribes to a user of its own (`u{users + k}`, so topics come and go), publishes
//! one status to itself, waits for it, and leaves. What it measures: connect-to-ack time (TCP
//! connect to the subscription confirmed live), how many churners got their status, and, with
//! the report's RSS before and after, whether the server's memory stays flat.

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
    pub first_failure: Option<String>,
}

#[derive(Default)]
struct Tally {
    started: AtomicU64,
    failed: AtomicU64,
    received: AtomicU64,
    missed: AtomicU64,
    ack: std::sync::Mutex<Option<Histogram<u64>>>,
    first_failure: std::sync::Mutex<Option<String>>,
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
    let ack = tally.ack.lock().unwrap_or_else(|e| e.into_inner()).take();
    let quantile = |q| ack.as_ref().map_or(0, |h| h.value_at_quantile(q));
    ChurnReport {
        rate_target: rate,
        started,
        started_per_s: (started as f64 / seconds * 10.0).round() / 10.0,
        failed: tally.failed.load(Relaxed),
        received: tally.received.load(Relaxed),
        missed: tally.missed.load(Relaxed),
        ack_p50_us: quantile(0.5),
        ack_p99_us: quantile(0.99),
        ack_max_us: ack.as_ref().map_or(0, Histogram::max),
        first_failure: tally
            .first_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(),
    }
}

/// One churner: connect, subscribe, publish to itself, wait for it, leave; churner k does all
/// of it on node k % n ([`FleetPlan::endpoint`]).
async fn churner(
    plan: &FleetPlan,
    client: &reqwest::Client,
    urls: &[String],
    k: u64,
    tally: &Tally,
) {
    let user = plan.users.saturating_add(k as u32);
    let began = Instant::now();
    let connected = tokio::time::timeout(
        plan.timeout,
        subscribers::connect(plan, urls, k as usize, user),
    )
    .await;
    let mut ws = match connected {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return tally.fail(e.to_string()),
        Err(_) => return tally.fail("not live within the connect timeout".to_owned()),
    };
    let ack_us = began.elapsed().as_micros() as u64;
    {
        let mut ack = tally.ack.lock().unwrap_or_else(|e| e.into_inner());
        let histogram = ack.get_or_insert_with(|| {
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
        });
        let _ = histogram.record(ack_us.max(1));
    }
    // Its own sequence space, far above the steady publishers'.
    let seq = (1 << 62) + k;
    let (_, published) = publisher::publish_one(client, plan.endpoint(k as usize), seq, user).await;
    if let Err(e) = published {
        return tally.fail(format!("publish: {e}"));
    }
    let wanted = format!("u{user}");
    let arrived = tokio::time::timeout(WAIT_FOR_STATUS, async {
        while let Some(Ok(frame)) = ws.next().await {
            let Message::Text(text) = frame else { continue };
            let mine = match Incoming::decode(&text) {
                Ok(Incoming::Status(status)) => status.user_id == wanted,
                Ok(Incoming::ChannelEvent(event)) => {
                    Status::of_event(&event).is_some_and(|s| s.user_id == wanted)
                }
                _ => false,
            };
            if mine {
                return true;
            }
        }
        false
    })
    .await;
    if matches!(arrived, Ok(true)) {
        tally.received.fetch_add(1, Relaxed);
    } else {
        tally.missed.fetch_add(1, Relaxed);
    }
    let _ = ws.send(Message::Close(None)).await;
}

//! The publishers: `publishStatus` over HTTP keep-alive, as a backend would call it (or, for
//! AppSync Events, `POST /event` to the user's channel), either flat out or paced to a total
//! rate. Each status's `message` is its [`Stamp`], and each publisher
//! remembers which measured statuses the server accepted (and for which user), so the report can
//! tell how many deliveries each should have produced.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde_json::json;
use thiserror::Error;

use crate::cli::Pick;
use crate::incoming::truncate;
use crate::latency::{Recorder, Stamp, unix_nanos};
use crate::protocol::{Endpoint, channel, node_for};

/// The mutation every publish sends. `message` is selected (unlike a bare status update) because
/// AppSync, and servers that copy it, deliver to subscribers only the fields the mutation selected.
pub const MUTATION: &str = "mutation P($input: StatusInput!) { publishStatus(input: $input) { jobId userId status message timestamp } }";

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("HTTP {0}: {1}")]
    Status(u16, String),
    #[error("graphql errors: {0}")]
    Graphql(String),
}

/// The HTTP client publishes go through: one keep-alive connection per concurrent publisher.
pub fn client(publishers: usize) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(publishers.max(1))
        .timeout(Duration::from_secs(10))
        .build()
}

/// Publishes one status to user `u{user}` stamped with `seq` and the current time.
pub async fn publish_one(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    seq: u64,
    user: u32,
) -> (u64, Result<(), PublishError>) {
    let sent_ns = unix_nanos();
    let message = Stamp { seq, sent_ns }.to_message();
    let status = json!({
        "jobId": "j",
        "userId": format!("u{user}"),
        "status": "validating",
        "message": message,
    });
    let (url, body) = match &endpoint.events_url {
        // The same fields the GraphQL subscribers get, with the timestamp the server adds there.
        Some(url) => {
            let mut event = status;
            event["timestamp"] = json!("2026-01-01T00:00:00.000Z");
            let body = json!({"channel": channel(user), "events": [event.to_string()]});
            (url, body)
        }
        None => (
            &endpoint.http_url,
            json!({"query": MUTATION, "variables": {"input": status}}),
        ),
    };
    let result = async {
        let response = client
            .post(url)
            .header("x-api-key", &endpoint.api_key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if status != 200 {
            return Err(PublishError::Status(
                status,
                truncate(&text, 200).to_owned(),
            ));
        }
        if text.contains("\"errors\"") || text.contains("\"failed\":[{") {
            return Err(PublishError::Graphql(truncate(&text, 200).to_owned()));
        }
        Ok(())
    }
    .await;
    (sent_ns, result)
}

/// When and how to publish.
pub struct Schedule {
    pub publishers: usize,
    /// Total statuses per second; `None` is flat out.
    pub rate: Option<f64>,
    pub users: u32,
    pub pick: Pick,
    pub start: Instant,
    /// No publish is sent at or after this instant.
    pub stop: Instant,
}

/// What the publishers did; counts are for statuses sent inside the measured window.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    pub errors: u64,
    pub ok_total: u64,
    pub errors_total: u64,
    /// Accepted measured statuses: (seq, user).
    pub accepted: Vec<(u64, u32)>,
    pub first_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.ok_total += other.ok_total;
        self.errors_total += other.errors_total;
        self.accepted.extend(other.accepted);
        self.first_error = self.first_error.take().or(other.first_error);
    }
}

/// Runs the publishers until `schedule.stop` and returns their merged tally. Publisher p
/// publishes through node p % n of `endpoints`, so a cluster's nodes share the publishing.
pub async fn run(
    client: reqwest::Client,
    endpoints: Arc<[Endpoint]>,
    schedule: Arc<Schedule>,
    recorder: Arc<Recorder>,
) -> Tally {
    let seqs = Arc::new(AtomicU64::new(0));
    let tickets = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..schedule.publishers.max(1))
        .map(|p| {
            let endpoint = node_for(&endpoints, p).clone();
            let (client, schedule) = (client.clone(), schedule.clone());
            let (recorder, seqs, tickets) = (recorder.clone(), seqs.clone(), tickets.clone());
            tokio::spawn(async move {
                publisher(&client, &endpoint, &schedule, &recorder, &seqs, &tickets).await
            })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        if let Ok(part) = task.await {
            tally.merge(part);
        }
    }
    tally
}

/// One publisher. Paced publishing shares one ticket counter: ticket k is due at
/// `start + k / rate`, so P publishers together send an even stream rather than P bursts. A
/// publisher that falls behind sends its overdue tickets at once (as fast as it can), until
/// `stop`.
async fn publisher(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    schedule: &Schedule,
    recorder: &Recorder,
    seqs: &AtomicU64,
    tickets: &AtomicU64,
) -> Tally {
    let mut tally = Tally::default();
    loop {
        if let Some(rate) = schedule.rate {
            let ticket = tickets.fetch_add(1, Relaxed);
            let due = schedule.start + Duration::from_secs_f64(ticket as f64 / rate);
            if due >= schedule.stop {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        // Also for a paced publisher that fell behind: its overdue tickets are dropped, not
        // sent after the window (a slow server would otherwise get the whole backlog).
        if Instant::now() >= schedule.stop {
            break;
        }
        let seq = seqs.fetch_add(1, Relaxed);
        let user = match schedule.pick {
            Pick::Random => rand::random_range(0..schedule.users),
            Pick::RoundRobin => (seq % u64::from(schedule.users)) as u32,
        };
        let (sent_ns, result) = publish_one(client, endpoint, seq, user).await;
        let measured = recorder.in_window(sent_ns);
        match result {
            Ok(()) => {
                tally.ok_total += 1;
                if measured {
                    tally.ok += 1;
                    tally.accepted.push((seq, user));
                }
            }
            Err(e) => {
                tally.errors_total += 1;
                if measured {
                    tally.errors += 1;
                }
                let refused = matches!(e, PublishError::Http(_));
                tally.first_error.get_or_insert_with(|| e.to_string());
                if refused {
                    // The server is not answering at all: do not spin on a closed port.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    tally
}

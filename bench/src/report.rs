//! The run's figures: how deliveries are accounted against what was published, the one JSON
//! line printed on stdout, and the human summary printed on stderr.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::churn::ChurnReport;
use crate::protocol::Protocol;

/// Deliveries of the measured statuses compared with what their users' subscribers should have
/// received.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Accounting {
    /// Σ over accepted measured statuses of their user's live subscribers.
    pub expected: u64,
    /// Deliveries of accepted measured statuses.
    pub received: u64,
    /// Σ max(0, expected − received) per status.
    pub lost: u64,
    /// Σ max(0, received − expected) per status.
    pub duplicates: u64,
    /// Accepted measured statuses with at least one subscriber that reached all of them.
    pub delivered_statuses: u64,
    /// Deliveries of measured statuses whose publish failed (the server fanned them out anyway).
    pub unacknowledged: u64,
}

/// Compares `accepted` (seq, user) with the per-seq delivery counts; `per_user` is the number
/// of live subscribers of each user.
pub fn account(
    accepted: &[(u64, u32)],
    per_user: &[u32],
    mut received: HashMap<u64, u32>,
) -> Accounting {
    let mut totals = Accounting::default();
    for &(seq, user) in accepted {
        let expected = u64::from(per_user.get(user as usize).copied().unwrap_or(0));
        let got = u64::from(received.remove(&seq).unwrap_or(0));
        totals.expected += expected;
        totals.received += got;
        totals.lost += expected.saturating_sub(got);
        totals.duplicates += got.saturating_sub(expected);
        if expected > 0 && got >= expected {
            totals.delivered_statuses += 1;
        }
    }
    totals.unacknowledged = received.values().map(|&n| u64::from(n)).sum();
    totals
}

/// Every figure of one run; printed as one JSON line (and read back by `report`, where a key
/// missing from an older line is its default).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub scenario: String,
    pub protocol: Option<Protocol>,
    pub idle: bool,
    pub connections: usize,
    pub connect_failures: usize,
    pub connect_s: f64,
    pub users: u32,
    pub publishers: usize,
    pub rate_target: Option<f64>,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub drain_s: f64,
    pub published: u64,
    pub published_per_s: f64,
    pub publish_errors: u64,
    pub delivered_statuses: u64,
    pub delivered_statuses_per_s: f64,
    pub deliveries_per_s: f64,
    pub expected_deliveries: u64,
    pub received_deliveries: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Live connections that received at least one measured status.
    pub connections_receiving: u64,
    pub unacknowledged_deliveries: u64,
    pub misrouted: u64,
    pub unstamped: u64,
    pub latency_samples: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    pub closed_during_run: u64,
    pub server_rss_kib_before: Option<u64>,
    pub server_rss_kib_connected: Option<u64>,
    pub server_rss_kib_after: Option<u64>,
    pub rss_per_connection_bytes: Option<f64>,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_util: Option<f64>,
    pub loadgen_cpu_s: f64,
    pub loadgen_rss_kib: u64,
    pub nofile_limit: u64,
    pub idle_probe_expected: Option<u64>,
    pub idle_probe_received: Option<u64>,
    pub first_publish_error: Option<String>,
    pub connect_failure_reasons: BTreeMap<String, u64>,
    /// Errors, completes and closes seen on live connections, with counts.
    pub events: BTreeMap<String, u64>,
    /// What the churners did (S6), when the run had `--churn`.
    pub churn: Option<ChurnReport>,
}

impl Report {
    pub fn set_accounting(&mut self, accounting: Accounting) {
        self.expected_deliveries = accounting.expected;
        self.received_deliveries = accounting.received;
        self.lost = accounting.lost;
        self.duplicates = accounting.duplicates;
        self.delivered_statuses = accounting.delivered_statuses;
        self.unacknowledged_deliveries = accounting.unacknowledged;
        self.delivered_statuses_per_s = per_second(accounting.delivered_statuses, self.duration_s);
    }

    pub fn set_latency(&mut self, latency: &Histogram<u64>) {
        self.latency_samples = latency.len();
        if latency.is_empty() {
            return;
        }
        self.p50_us = latency.value_at_quantile(0.5);
        self.p90_us = latency.value_at_quantile(0.9);
        self.p99_us = latency.value_at_quantile(0.99);
        self.p999_us = latency.value_at_quantile(0.999);
        self.max_us = latency.max();
        self.mean_us = (latency.mean() * 10.0).round() / 10.0;
    }

    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("the report always serializes")
    }

    /// The summary for a person at a terminal.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let protocol = self
            .protocol
            .and_then(|p| serde_json::to_value(p).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "== {} [{protocol}] {} connections ({} failed) over {} users, connected in {:.1}s",
            if self.scenario.is_empty() {
                "run"
            } else {
                &self.scenario
            },
            self.connections,
            self.connect_failures,
            self.users,
            self.connect_s,
        );
        if self.idle {
            let _ = writeln!(
                out,
                "idle probe: {}/{} deliveries arrived",
                self.idle_probe_received.unwrap_or(0),
                self.idle_probe_expected.unwrap_or(0)
            );
        } else {
            let _ = writeln!(
                out,
                "published {:.0}/s ({} in {:.1}s, {} errors); delivered statuses {:.0}/s; deliveries {:.0}/s",
                self.published_per_s,
                self.published,
                self.duration_s,
                self.publish_errors,
                self.delivered_statuses_per_s,
                self.deliveries_per_s,
            );
            let _ = writeln!(
                out,
                "latency µs: p50 {} p90 {} p99 {} p99.9 {} max {} mean {} ({} samples)",
                self.p50_us,
                self.p90_us,
                self.p99_us,
                self.p999_us,
                self.max_us,
                self.mean_us,
                self.latency_samples,
            );
            let _ = writeln!(
                out,
                "deliveries {}/{} expected: lost {}, duplicates {}, misrouted {}, unstamped {}, of failed publishes {}",
                self.received_deliveries,
                self.expected_deliveries,
                self.lost,
                self.duplicates,
                self.misrouted,
                self.unstamped,
                self.unacknowledged_deliveries,
            );
        }
        if let Some(churn) = &self.churn {
            let _ = writeln!(
                out,
                "churn: {} started ({:.0}/s of {:.0}/s), {} failed, {} got their status, {} missed; connect-to-ack µs p50 {} p99 {} max {}",
                churn.started,
                churn.started_per_s,
                churn.rate_target,
                churn.failed,
                churn.received,
                churn.missed,
                churn.ack_p50_us,
                churn.ack_p99_us,
                churn.ack_max_us,
            );
            let _ = writeln!(
                out,
                "churn: subscribe-to-ack µs p50 {} p99 {}; subscribe-to-live µs p50 {} p99 {} max {}",
                churn.subscribe_ack_p50_us,
                churn.subscribe_ack_p99_us,
                churn.subscribe_live_p50_us,
                churn.subscribe_live_p99_us,
                churn.subscribe_live_max_us,
            );
            if let Some(why) = &churn.first_failure {
                let _ = writeln!(out, "first churn failure: {why}");
            }
        }
        if let (Some(before), Some(connected), Some(after)) = (
            self.server_rss_kib_before,
            self.server_rss_kib_connected,
            self.server_rss_kib_after,
        ) {
            let cpu = match (self.server_cpu_s, self.server_cpu_util) {
                (Some(s), Some(u)) => format!("; CPU {s:.2}s in the window ({:.0}%)", u * 100.0),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "server RSS KiB: {before} before, {connected} connected, {after} after; {:.0} B/connection{cpu}",
                self.rss_per_connection_bytes.unwrap_or(0.0),
            );
        }
        let _ = writeln!(
            out,
            "load generator: CPU {:.2}s, RSS {} KiB",
            self.loadgen_cpu_s, self.loadgen_rss_kib
        );
        if let Some(error) = &self.first_publish_error {
            let _ = writeln!(out, "first publish error: {error}");
        }
        for (reason, count) in &self.connect_failure_reasons {
            let _ = writeln!(out, "connect failure ×{count}: {reason}");
        }
        if self.closed_during_run > 0 || !self.events.is_empty() {
            let _ = writeln!(
                out,
                "{} connections ended during the run",
                self.closed_during_run
            );
            for (event, count) in &self.events {
                let _ = writeln!(out, "  ×{count}: {event}");
            }
        }
        out
    }
}

pub fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        (count as f64 / seconds * 10.0).round() / 10.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_loss_duplicates_and_full_deliveries() {
        // Users 0 and 1 have 2 subscribers each, user 2 none.
        let per_user = [2, 2, 0];
        let accepted = [(0, 0), (1, 1), (2, 0), (3, 2)];
        // seq 0: both; seq 1: one lost; seq 2: one duplicate; seq 3: nobody listens;
        // seq 9: a publish that failed but was delivered.
        let received = HashMap::from([(0, 2), (1, 1), (2, 3), (9, 1)]);
        let totals = account(&accepted, &per_user, received);
        assert_eq!(
            totals,
            Accounting {
                expected: 6,
                received: 6,
                lost: 1,
                duplicates: 1,
                delivered_statuses: 2,
                unacknowledged: 1,
            }
        );
    }

    #[test]
    fn json_line_has_the_documented_keys() {
        let line = Report::default().to_json_line();
        for key in [
            "published_per_s",
            "delivered_statuses_per_s",
            "deliveries_per_s",
            "p50_us",
            "p999_us",
            "lost",
            "duplicates",
            "server_rss_kib_before",
            "rss_per_connection_bytes",
            "loadgen_cpu_s",
            "scenario",
        ] {
            assert!(line.contains(&format!("\"{key}\":")), "{key} in {line}");
        }
        assert!(!line.contains('\n'));
    }
}

//! Delivery accounting: every published status carries `"<seq> <unix nanos at send>"` in its
//! `message`, so each delivery yields its publish-to-delivery latency, and counting deliveries
//! per sequence number yields loss and duplication.
//!
//! Only statuses *sent* inside the measured window are tracked (latency and per-seq counts);
//! warm-up traffic still flows but is not counted. State is sharded behind plain mutexes so the
//! thousands of connection tasks rarely contend; a delivery costs one parse, one clock read and
//! two short critical sections.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

const SHARDS: usize = 32;

/// The largest latency recorded exactly (an hour, in microseconds); larger ones saturate.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Nanoseconds since the Unix epoch: the clock both the publisher and the subscribers read, so
/// the difference is a latency (same machine, same clock).
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The sequence number and send time a status's `message` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub sent_ns: u64,
}

impl Stamp {
    pub fn to_message(self) -> String {
        format!("{} {}", self.seq, self.sent_ns)
    }

    pub fn parse(message: &str) -> Option<Self> {
        let (seq, sent) = message.split_once(' ')?;
        Some(Self {
            seq: seq.parse().ok()?,
            sent_ns: sent.parse().ok()?,
        })
    }
}

/// Shared by every connection task and read by the report.
pub struct Recorder {
    /// Statuses sent in `[start_ns, end_ns)` are the measured ones.
    start_ns: AtomicU64,
    end_ns: AtomicU64,
    latency: Box<[Mutex<Histogram<u64>>]>,
    /// Deliveries per measured sequence number.
    received: Box<[Mutex<HashMap<u64, u32>>]>,
    /// Deliveries (of any status) that arrived inside the window: the delivery rate.
    pub deliveries_in_window: AtomicU64,
    pub deliveries_total: AtomicU64,
    /// Deliveries whose `userId` is not the subscriber's user.
    pub misrouted: AtomicU64,
    /// Deliveries without a readable stamp (e.g. a server that dropped `message`).
    pub unstamped: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        let histogram =
            || Mutex::new(Histogram::new_with_max(MAX_LATENCY_US, 3).expect("valid bounds"));
        Self {
            start_ns: AtomicU64::new(u64::MAX),
            end_ns: AtomicU64::new(u64::MAX),
            latency: (0..SHARDS).map(|_| histogram()).collect(),
            received: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            deliveries_in_window: AtomicU64::new(0),
            deliveries_total: AtomicU64::new(0),
            misrouted: AtomicU64::new(0),
            unstamped: AtomicU64::new(0),
        }
    }

    /// Sets the measured window (Unix nanoseconds); before it is set nothing is measured.
    pub fn set_window(&self, start_ns: u64, end_ns: u64) {
        self.end_ns.store(end_ns, Relaxed);
        self.start_ns.store(start_ns, Relaxed);
    }

    pub fn in_window(&self, ns: u64) -> bool {
        ns >= self.start_ns.load(Relaxed) && ns < self.end_ns.load(Relaxed)
    }

    /// One delivery to connection `conn`, subscribed to user `user`; true when it is a delivery
    /// of a measured status (sent inside the window).
    pub fn record(
        &self,
        conn: usize,
        user: u32,
        delivered_user: &str,
        message: Option<&str>,
    ) -> bool {
        let now = unix_nanos();
        self.deliveries_total.fetch_add(1, Relaxed);
        if self.in_window(now) {
            self.deliveries_in_window.fetch_add(1, Relaxed);
        }
        let for_user = delivered_user
            .strip_prefix('u')
            .and_then(|n| n.parse::<u32>().ok());
        if for_user != Some(user) {
            self.misrouted.fetch_add(1, Relaxed);
        }
        let Some(stamp) = message.and_then(Stamp::parse) else {
            self.unstamped.fetch_add(1, Relaxed);
            return false;
        };
        if !self.in_window(stamp.sent_ns) {
            return false;
        }
        let micros = now.saturating_sub(stamp.sent_ns) / 1000;
        lock(&self.latency[conn % SHARDS]).saturating_record(micros);
        *lock(&self.received[stamp.seq as usize % SHARDS])
            .entry(stamp.seq)
            .or_insert(0) += 1;
        true
    }

    /// A delivery whose status could not be read (no `onStatusUpdate` object).
    pub fn record_unreadable(&self) {
        self.deliveries_total.fetch_add(1, Relaxed);
        if self.in_window(unix_nanos()) {
            self.deliveries_in_window.fetch_add(1, Relaxed);
        }
        self.unstamped.fetch_add(1, Relaxed);
    }

    /// How many times measured status `seq` was delivered so far.
    pub fn received(&self, seq: u64) -> u32 {
        lock(&self.received[seq as usize % SHARDS])
            .get(&seq)
            .copied()
            .unwrap_or(0)
    }

    /// Every measured sequence number delivered at least once, with its count.
    pub fn received_all(&self) -> HashMap<u64, u32> {
        let mut all = HashMap::new();
        for shard in &self.received {
            all.extend(lock(shard).iter().map(|(k, v)| (*k, *v)));
        }
        all
    }

    /// The latencies of measured deliveries, in microseconds.
    pub fn latency(&self) -> Histogram<u64> {
        let mut merged = Histogram::new_with_max(MAX_LATENCY_US, 3).expect("valid bounds");
        for shard in &self.latency {
            merged.add(&*lock(shard)).expect("same bounds");
        }
        merged
    }
}

/// A poisoned shard only means another task panicked mid-update; its counts are still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_rejects_foreign_messages() {
        let stamp = Stamp {
            seq: 42,
            sent_ns: 1_700_000_000_123_456_789,
        };
        assert_eq!(Stamp::parse(&stamp.to_message()), Some(stamp));
        assert_eq!(Stamp::parse("Calling Amazon Location"), None);
        assert_eq!(Stamp::parse("42"), None);
        assert_eq!(Stamp::parse(""), None);
    }

    #[test]
    fn records_only_statuses_sent_in_the_window() {
        let recorder = Recorder::new();
        let now = unix_nanos();
        recorder.set_window(now - 1_000_000_000, now + 1_000_000_000);
        let sent = now - 2_000_000; // 2 ms ago
        let measured = Stamp {
            seq: 7,
            sent_ns: sent,
        }
        .to_message();
        let warmup = Stamp {
            seq: 1,
            sent_ns: now - 5_000_000_000,
        }
        .to_message();
        assert!(recorder.record(0, 3, "u3", Some(&measured)));
        assert!(recorder.record(1, 3, "u3", Some(&measured)));
        assert!(!recorder.record(2, 3, "u3", Some(&warmup)));
        assert!(!recorder.record(3, 4, "u3", None));

        assert_eq!(recorder.received(7), 2);
        assert_eq!(recorder.received(1), 0);
        assert_eq!(recorder.deliveries_total.load(Relaxed), 4);
        assert_eq!(recorder.misrouted.load(Relaxed), 1);
        assert_eq!(recorder.unstamped.load(Relaxed), 1);
        let latency = recorder.latency();
        assert_eq!(latency.len(), 2);
        assert!(latency.min() >= 2_000, "{} µs", latency.min());
    }
}

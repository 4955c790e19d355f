//! Server-wide counters. Tests read them to observe what the server did; the `/metrics` endpoint
//! will expose them.

use std::sync::atomic::{AtomicI64, AtomicU64};

#[derive(Debug, Default)]
pub struct Metrics {
    /// WebSocket connections open now.
    pub connections_open: AtomicI64,
    /// Connections closed because their outbound queue overflowed.
    pub slow_consumer_disconnects: AtomicU64,
    /// Frames a client sent that could not be decoded.
    pub invalid_messages: AtomicU64,
    /// Subscription payloads not sent because they exceeded `--max-payload-bytes`.
    pub oversized_payloads: AtomicU64,
    /// Connection-store writes that failed (the connection carries on).
    pub store_errors: AtomicU64,
}

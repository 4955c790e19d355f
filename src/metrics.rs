//! What the node did, for operators (`GET /metrics`, Prometheus text) and for tests.
//!
//! Each node owns a Prometheus recorder (metrics-exporter-prometheus) rather than installing a
//! global one, so several nodes in one test process keep their own figures. The exported handles
//! are registered once, up front, and updated directly on the paths that matter; labels are few
//! and fixed (protocol, auth mode), so cardinality stays low whatever the traffic.

use std::sync::atomic::AtomicU64;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::auth::AuthMode;
use crate::protocol::Protocol;

/// Buckets of the publish-to-delivery latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The node's figures: the exported ones, and the one count tests also read directly.
pub struct Metrics {
    /// Connections closed because their outbound queue overflowed (exported as
    /// `switchboard_slow_consumers_dropped_total`, copied in at scrape time).
    pub slow_consumer_disconnects: AtomicU64,
    /// The exported figures.
    pub exported: Exported,
    recorder: PrometheusRecorder,
}

/// The Prometheus side: one handle per metric (and label value).
pub struct Exported {
    connections: [Gauge; 3],
    pub subscriptions: Gauge,
    pub published: Counter,
    pub deliveries: Counter,
    /// Kept in step with `slow_consumer_disconnects` at render time.
    pub slow_consumers: Counter,
    auth_failures: Vec<(&'static str, Counter)>,
    /// Publish-to-delivery latency (seconds), one sample per batch written to a connection.
    pub latency: Histogram,
    /// Times the link to Redis dropped (kept in step with the bus's own count at render time).
    pub redis_reconnects: Counter,
    /// Frames a client sent that could not be decoded.
    pub invalid_messages: Counter,
    /// Subscription payloads not sent because they exceeded `--max-payload-bytes`.
    pub oversized_payloads: Counter,
    /// Connection-store writes that failed (the connection carries on).
    pub store_errors: Counter,
    /// Open AppSync Events connections (`switchboard_connections{protocol="appsync-events"}`).
    pub events_connections: Gauge,
    /// AppSync Events events published, over HTTP or a socket.
    pub events_published: Counter,
    /// AppSync Events `data` frames written.
    pub events_deliveries: Counter,
}

impl Exported {
    /// The open-connections gauge of one protocol.
    pub fn connections(&self, protocol: Protocol) -> &Gauge {
        match protocol {
            Protocol::AppSyncEvents => &self.events_connections,
            graphql => &self.connections[protocol_index(graphql)],
        }
    }

    /// The deliveries counter of one protocol's subscribers.
    pub fn deliveries_of(&self, protocol: Protocol) -> &Counter {
        match protocol {
            Protocol::AppSyncEvents => &self.events_deliveries,
            _ => &self.deliveries,
        }
    }

    /// Counts a failed authentication under the mode the credentials were checked as (`none`
    /// when they named no mode the node accepts).
    pub fn auth_failed(&self, mode: Option<AuthMode>) {
        let label = mode.map_or("none", AuthMode::name);
        if let Some((_, counter)) = self.auth_failures.iter().find(|(m, _)| *m == label) {
            counter.increment(1);
        }
    }
}

fn protocol_index(protocol: Protocol) -> usize {
    match protocol {
        Protocol::GraphqlTransportWs => 0,
        Protocol::SubscriptionsTransportWs => 1,
        Protocol::AppSync | Protocol::AppSyncEvents => 2,
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "switchboard_delivery_latency_seconds".to_owned(),
                ),
                &LATENCY_BUCKETS,
            )
            .expect("static, non-empty buckets")
            .build_recorder();
        let meta = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));
        let counter = |name: &'static str, labels: Vec<Label>| {
            recorder.register_counter(&Key::from_parts(name, labels), &meta)
        };
        let gauge = |name: &'static str, labels: Vec<Label>| {
            recorder.register_gauge(&Key::from_parts(name, labels), &meta)
        };
        let connections = [
            Protocol::GraphqlTransportWs,
            Protocol::SubscriptionsTransportWs,
            Protocol::AppSync,
        ]
        .map(|p| {
            gauge(
                "switchboard_connections",
                vec![Label::new("protocol", p.name())],
            )
        });
        let auth_failures = AuthMode::ALL
            .map(AuthMode::name)
            .into_iter()
            .chain(["none"])
            .map(|mode| {
                (
                    mode,
                    counter(
                        "switchboard_auth_failures_total",
                        vec![Label::new("mode", mode)],
                    ),
                )
            })
            .collect();
        let exported = Exported {
            connections,
            subscriptions: gauge("switchboard_subscriptions", vec![]),
            published: counter("switchboard_statuses_published_total", vec![]),
            deliveries: counter("switchboard_deliveries_total", vec![]),
            slow_consumers: counter("switchboard_slow_consumers_dropped_total", vec![]),
            auth_failures,
            latency: recorder.register_histogram(
                &Key::from_name("switchboard_delivery_latency_seconds"),
                &meta,
            ),
            redis_reconnects: counter("switchboard_redis_reconnects_total", vec![]),
            invalid_messages: counter("switchboard_invalid_messages_total", vec![]),
            oversized_payloads: counter("switchboard_oversized_payloads_total", vec![]),
            store_errors: counter("switchboard_store_errors_total", vec![]),
            events_connections: gauge(
                "switchboard_connections",
                vec![Label::new("protocol", "appsync-events")],
            ),
            events_published: counter("switchboard_events_published_total", vec![]),
            events_deliveries: counter("switchboard_event_deliveries_total", vec![]),
        };
        Self {
            slow_consumer_disconnects: AtomicU64::new(0),
            exported,
            recorder,
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The Prometheus text exposition of everything exported.
    pub fn render(&self) -> String {
        self.handle().render()
    }

    fn handle(&self) -> PrometheusHandle {
        self.recorder.handle()
    }
}

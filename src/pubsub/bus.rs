//! The bus carries published events to every node's subscription index, and admin commands to
//! the node that holds a connection.
//!
//! The bus owns the topics' streams (see `crate::stream`): a publish writes the event to the
//! stream of every topic it goes to and delivers it, in one step. One node needs no more than
//! [`LocalBus`], which keeps the streams in memory and hands each event straight to the local
//! index. The Redis bus (several nodes) implements the same trait with one script per publish:
//! `publish` returns only once Redis has the event, so a publisher is never told "done" for a
//! status that was lost, and `listen` returns once this node will receive every event of the topic
//! published from then on.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::Value;
use async_trait::async_trait;
use serde_json::Value as Json;

use super::index::SubscriptionIndex;
use super::invalidation::Invalidations;
use super::topics::TopicPlan;
use crate::connections::Connections;
use crate::operation::ErrorType;
use crate::publication::Publication;
use crate::stream::{MemoryStreams, ReadFrom, StreamRead};

/// Why the bus did not publish, or cannot say whether it did. The two are kept apart so that
/// "unavailable" can be a promise: nothing was published.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    /// Not published (refused, or not taken in time); the publisher may simply retry.
    #[error("the event bus is unavailable, nothing was published: {0}")]
    Unavailable(String),
    /// Sent, but the link dropped before the bus answered: it may or may not be published.
    #[error(
        "the event bus did not say whether it published the event ({0}); retry with the same Idempotency-Key to publish it at most once"
    )]
    OutcomeUnknown(String),
}

impl BusError {
    /// The AppSync `errorType` a caller is answered with.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::Unavailable(_) => ErrorType::ServiceUnavailable,
            Self::OutcomeUnknown(_) => ErrorType::PublishOutcomeUnknown,
        }
    }

    /// The HTTP status a caller is answered with (and an Events `failed` entry's `code`): 503
    /// when nothing was published, so a retry is safe; 504 when the bus never said.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unavailable(_) => 503,
            Self::OutcomeUnknown(_) => 504,
        }
    }
}

/// What the bus did, for tests and metrics.
#[derive(Debug, Default)]
pub struct BusStats {
    /// Events this node received for topics it holds subscribers for.
    pub received: AtomicU64,
    /// Events that arrived for a topic this node no longer listens to (dropped).
    pub unwanted: AtomicU64,
    /// Events seen twice (a live copy and a catch-up copy); the second is dropped.
    pub duplicates: AtomicU64,
    /// Events read back from Redis's streams after a gap (a lost link or a full inbox).
    pub caught_up: AtomicU64,
    /// Messages from Redis dropped because this node's inbox was full (then caught up).
    pub inbox_overflows: AtomicU64,
    /// Times the link to Redis dropped.
    pub disconnections: AtomicU64,
}

impl BusStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[async_trait]
pub trait Bus: Send + Sync {
    /// Writes an event to the stream of every topic it goes to and sends it to every node;
    /// returns once the bus has it. With an idempotency key that was used within its window,
    /// writes nothing and returns the event published the first time; otherwise returns `event`.
    async fn publish(
        &self,
        event: Arc<Publication>,
        idempotency: Option<&str>,
    ) -> Result<Arc<Publication>, BusError>;

    /// Reads one topic's stream: its epoch, its newest offset and the entries `from` asks for,
    /// at most `max`.
    async fn read(&self, topic: &str, from: ReadFrom, max: usize) -> Result<StreamRead, BusError>;

    /// Makes sure events of `topic` reach this node's index; returns once every event
    /// published from then on will (on Redis: live, or from the topic's stream once Redis
    /// confirmed the SUBSCRIBE, which it does not wait for). Every successful call is paired
    /// with one [`Bus::forget`].
    async fn listen(&self, topic: &str) -> Result<(), BusError>;

    /// One subscriber of `topic` on this node is gone.
    fn forget(&self, topic: &str);

    /// Ends, on every node, the subscriptions of `field` whose invalidation filter `payload`
    /// passes; returns once every node will.
    async fn invalidate(&self, field: &str, payload: &Json) -> Result<(), BusError>;

    /// Closes connection `connection` held by node `node`, wherever it is. Returns whether a
    /// node took the command (false: that node is gone).
    async fn kick(&self, node: &str, connection: &str) -> Result<bool, BusError>;

    fn stats(&self) -> &BusStats;
}

/// How long a publish's idempotency key is remembered, and (memory only) how many are.
#[derive(Debug, Clone, Copy)]
pub struct Idempotency {
    pub ttl: Duration,
    pub max_keys: usize,
}

/// The idempotency keys a single node remembers, oldest first.
#[derive(Default)]
struct Remembered {
    events: HashMap<String, (Arc<Publication>, Instant)>,
    order: VecDeque<(Instant, String)>,
}

impl Remembered {
    fn forget_expired(&mut self, now: Instant, max_keys: usize) {
        while let Some((expires, key)) = self.order.front() {
            if *expires > now && self.order.len() <= max_keys {
                break;
            }
            if self.events.get(key).is_some_and(|(_, e)| e == expires) {
                self.events.remove(key);
            }
            self.order.pop_front();
        }
    }
}

/// The in-process bus of a single node: the streams in memory, the index in the same process.
pub struct LocalBus {
    index: Arc<SubscriptionIndex>,
    topics: Arc<TopicPlan>,
    streams: MemoryStreams,
    connections: Arc<Connections>,
    invalidations: Arc<Invalidations>,
    idempotency: Idempotency,
    /// Held while a publish with a key runs, so two with the same key cannot both publish.
    remembered: Mutex<Remembered>,
    stats: BusStats,
}

impl LocalBus {
    pub fn new(
        index: Arc<SubscriptionIndex>,
        topics: Arc<TopicPlan>,
        streams: MemoryStreams,
        connections: Arc<Connections>,
        invalidations: Arc<Invalidations>,
        idempotency: Idempotency,
    ) -> Self {
        Self {
            index,
            topics,
            streams,
            connections,
            invalidations,
            idempotency,
            remembered: Mutex::default(),
            stats: BusStats::default(),
        }
    }

    fn write(&self, event: &Arc<Publication>) {
        let topics = self.topics.topics(event);
        if !topics.is_empty() {
            self.stats.received.fetch_add(1, Ordering::Relaxed);
        }
        for topic in &topics {
            self.streams.append(topic, event, |position| {
                self.index.dispatch_topic(topic, event, position)
            });
        }
    }

    /// The streams, for their size.
    pub fn streams(&self) -> &MemoryStreams {
        &self.streams
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(
        &self,
        event: Arc<Publication>,
        idempotency: Option<&str>,
    ) -> Result<Arc<Publication>, BusError> {
        let Some(key) = idempotency else {
            self.write(&event);
            return Ok(event);
        };
        let now = Instant::now();
        let mut remembered = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        remembered.forget_expired(now, self.idempotency.max_keys);
        if let Some((first, _)) = remembered.events.get(key) {
            return Ok(first.clone());
        }
        self.write(&event);
        let expires = now + self.idempotency.ttl;
        remembered
            .events
            .insert(key.to_owned(), (event.clone(), expires));
        remembered.order.push_back((expires, key.to_owned()));
        Ok(event)
    }

    async fn read(&self, topic: &str, from: ReadFrom, max: usize) -> Result<StreamRead, BusError> {
        Ok(self.streams.read(topic, from, max))
    }

    async fn listen(&self, _topic: &str) -> Result<(), BusError> {
        Ok(())
    }

    fn forget(&self, _topic: &str) {}

    async fn invalidate(&self, field: &str, payload: &Json) -> Result<(), BusError> {
        let payload = Value::from_json(payload.clone()).unwrap_or_default();
        self.invalidations.invalidate(field, &payload);
        Ok(())
    }

    async fn kick(&self, _node: &str, connection: &str) -> Result<bool, BusError> {
        Ok(self.connections.kick(connection))
    }

    fn stats(&self) -> &BusStats {
        &self.stats
    }
}

//! The bus carries published events to every node's subscription index, and admin commands to
//! the node that holds a connection.
//!
//! One node needs no more than [`LocalBus`], which hands each event straight to the local index.
//! The Redis bus (several nodes) implements the same trait: `publish` returns only once Redis has
//! the event, so a publisher is never told "done" for a status that was lost, and `listen`
//! returns only once this node will receive the topic's events.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::index::SubscriptionIndex;
use crate::connections::Connections;
use crate::event::Event;

/// Mutation name -> the subscription fields it fires (from `@aws_subscribe`).
pub type Routes = HashMap<String, Vec<Arc<str>>>;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus cannot take the event now; the publisher must be told and may retry.
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
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
    /// Sends an event to every node; returns once the bus has it.
    async fn publish(&self, event: Arc<Event>) -> Result<(), BusError>;

    /// Makes sure events of `topic` reach this node's index; returns once they will. Every
    /// successful call is paired with one [`Bus::forget`].
    async fn listen(&self, topic: &str) -> Result<(), BusError>;

    /// One subscriber of `topic` on this node is gone.
    fn forget(&self, topic: &str);

    /// Closes connection `connection` held by node `node`, wherever it is. Returns whether a
    /// node took the command (false: that node is gone).
    async fn kick(&self, node: &str, connection: &str) -> Result<bool, BusError>;

    fn stats(&self) -> &BusStats;
}

/// The in-process bus of a single node.
pub struct LocalBus {
    index: Arc<SubscriptionIndex>,
    routes: Arc<Routes>,
    connections: Arc<Connections>,
    stats: BusStats,
}

impl LocalBus {
    pub fn new(
        index: Arc<SubscriptionIndex>,
        routes: Arc<Routes>,
        connections: Arc<Connections>,
    ) -> Self {
        Self {
            index,
            routes,
            connections,
            stats: BusStats::default(),
        }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, event: Arc<Event>) -> Result<(), BusError> {
        if let Some(fields) = self.routes.get(&event.mutation) {
            self.stats.received.fetch_add(1, Ordering::Relaxed);
            self.index.dispatch(fields, &event);
        }
        Ok(())
    }

    async fn listen(&self, _topic: &str) -> Result<(), BusError> {
        Ok(())
    }

    fn forget(&self, _topic: &str) {}

    async fn kick(&self, _node: &str, connection: &str) -> Result<bool, BusError> {
        Ok(self.connections.kick(connection))
    }

    fn stats(&self) -> &BusStats {
        &self.stats
    }
}

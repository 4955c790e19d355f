//! The bus carries published events to every node's subscription index.
//!
//! One node needs no more than [`LocalBus`], which hands each event straight to the local index.
//! A Redis bus (for several nodes) implements the same trait: `publish` returns only once the event
//! is on its way, so a publisher is never told "done" for a status that was lost.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::event::Event;
use super::index::SubscriptionIndex;

/// Mutation name -> the subscription fields it fires (from `@aws_subscribe`).
pub type Routes = HashMap<String, Vec<Arc<str>>>;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus cannot take the event now; the publisher must be told and may retry.
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Bus: Send + Sync {
    /// Sends an event to every node; returns once the bus has it.
    async fn publish(&self, event: Arc<Event>) -> Result<(), BusError>;
}

/// The in-process bus of a single node.
pub struct LocalBus {
    index: Arc<SubscriptionIndex>,
    routes: Arc<Routes>,
}

impl LocalBus {
    pub fn new(index: Arc<SubscriptionIndex>, routes: Arc<Routes>) -> Self {
        Self { index, routes }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, event: Arc<Event>) -> Result<(), BusError> {
        if let Some(fields) = self.routes.get(&event.mutation) {
            self.index.dispatch(fields, &event);
        }
        Ok(())
    }
}

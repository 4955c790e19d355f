//! Events, topic keys, the subscription index and the bus, and the [`Broker`] that ties a
//! published mutation result to the history and the bus.

mod bus;
mod index;
mod redis_bus;
mod topic;

use std::sync::Arc;

use async_graphql::{Name, Value};
use indexmap::IndexMap;

pub use bus::{Bus, BusError, BusStats, LocalBus, Routes};
pub use index::{Delivery, IndexStats, Mailbox, Registration, SubscriberId, SubscriptionIndex};
pub use redis_bus::{RedisBus, RedisBusSettings};
pub use topic::topic_key;

use crate::event::Event;
use crate::history::{History, HistoryError};
use crate::schema::model::HistoryPlan;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Where a mutation result goes: first into the history of every history query that keeps its
/// type, then onto the bus. The mutation resolvers and the history queries reach it through the
/// schema's data.
pub struct Broker {
    bus: Arc<dyn Bus>,
    history: Arc<dyn History>,
    history_plans: Vec<Arc<HistoryPlan>>,
    /// Counts statuses published (exported as `switchboard_statuses_published_total`).
    published: metrics::Counter,
}

impl Broker {
    pub fn new(
        bus: Arc<dyn Bus>,
        history: Arc<dyn History>,
        history_plans: Vec<Arc<HistoryPlan>>,
        published: metrics::Counter,
    ) -> Self {
        Self {
            bus,
            history,
            history_plans,
            published,
        }
    }

    /// Publishes a mutation result. It returns only once the history and the bus have it.
    pub async fn publish(
        &self,
        mutation: &str,
        type_name: &str,
        payload: Value,
    ) -> Result<Arc<Event>, PublishError> {
        let event = Arc::new(Event::new(mutation, type_name, payload));
        for plan in self
            .history_plans
            .iter()
            .filter(|p| p.item_type == type_name)
        {
            let topic = topic_key(
                &plan.field,
                plan.partition
                    .iter()
                    .map(|name| (name.as_str(), event.field(name))),
            );
            self.history.append(&topic, event.clone()).await?;
        }
        self.bus.publish(event.clone()).await?;
        self.published.increment(1);
        Ok(event)
    }

    /// Serves a history query: the kept events of the topic its required arguments name, filtered
    /// by its optional arguments, at most `limit` of them, newest last.
    pub async fn recent(
        &self,
        plan: &HistoryPlan,
        args: &IndexMap<Name, Value>,
    ) -> Result<Vec<Arc<Event>>, PublishError> {
        let arg = |name: &str| args.get(name).unwrap_or(&Value::Null);
        let topic = topic_key(
            &plan.field,
            plan.partition.iter().map(|name| (name.as_str(), arg(name))),
        );
        let mut events = self.history.recent(&topic).await?;
        events.retain(|event| {
            plan.filters
                .iter()
                .all(|name| matches!(arg(name), Value::Null) || event.field(name) == arg(name))
        });
        if let Some(Value::Number(limit)) = plan.limit_arg.as_deref().map(arg) {
            let limit = limit.as_u64().unwrap_or(0) as usize;
            let skip = events.len().saturating_sub(limit);
            events.drain(..skip);
        }
        Ok(events)
    }
}

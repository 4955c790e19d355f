//! Topic keys, the subscription index, the topic plan and the bus (which owns the topics'
//! streams), and the [`Broker`] the mutation and history resolvers reach them through.

mod bus;
mod channel_events;
mod index;
mod invalidation;
mod mailbox;
mod redis_bus;
mod topic;
pub mod topics;

use std::sync::Arc;

use async_graphql::{Name, Value};
use indexmap::IndexMap;

pub use bus::{Bus, BusError, BusStats, Idempotency, LocalBus};
pub use channel_events::publish_events;
pub use index::{IndexStats, Registration, SubscriptionIndex};
pub use invalidation::Invalidations;
pub use mailbox::{Delivery, Inbox, Mail, Mailbox, Rendered, SubscriberId};
pub use redis_bus::{RedisBus, RedisBusSettings, TopicKeys};
pub use topic::topic_key;
pub use topics::TopicPlan;

use crate::events::bridge::Bridge;
use crate::events::channel::Channel;
use crate::graphql::rules::{Context, Rules};
use crate::graphql::schema::model::HistoryPlan;
use crate::publication::Publication;
use crate::stream::ReadFrom;

/// A publisher's `Idempotency-Key`, scoped to who sent it: a retry with the same key within
/// `--idempotency-ttl` gets the first publish's event and publishes nothing. Put in the request's
/// data by the HTTP layer; the mutation resolver adds the mutation and its response key, so two
/// aliased mutations in one request stay apart.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The caller's principal, then its key.
    pub scope: String,
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl PublishError {
    /// The AppSync `errorType` a caller is answered with.
    pub fn error_type(&self) -> crate::operation::ErrorType {
        match self {
            Self::Bus(bus) => bus.error_type(),
        }
    }

    /// The HTTP status a caller is answered with ([`BusError::status`]).
    pub fn status(&self) -> u16 {
        match self {
            Self::Bus(bus) => bus.status(),
        }
    }
}

/// Where a mutation result goes: onto the bus, which writes it to its topics' streams and
/// delivers it; and where history queries read those streams. The mutation and history
/// resolvers reach it through the schema's data.
pub struct Broker {
    bus: Arc<dyn Bus>,
    topics: Arc<TopicPlan>,
    /// The invalidations mutations issue (`--rules`).
    rules: Arc<Rules>,
    /// Mutations also published to an AppSync Events channel (`--event-bridge`), and the
    /// namespaces such a channel may be in.
    bridges: Vec<Bridge>,
    namespaces: Vec<String>,
    /// The most a history query returns: the entries a stream keeps.
    history_len: usize,
    /// Counts statuses published (exported as `switchboard_statuses_published_total`).
    published: metrics::Counter,
}

impl Broker {
    pub fn new(
        bus: Arc<dyn Bus>,
        topics: Arc<TopicPlan>,
        rules: Arc<Rules>,
        history_len: usize,
        published: metrics::Counter,
    ) -> Self {
        Self {
            bus,
            topics,
            rules,
            bridges: Vec::new(),
            namespaces: Vec::new(),
            history_len,
            published,
        }
    }

    /// Also publishes the results of the mutations `bridges` names to their channels.
    pub fn with_bridges(mut self, bridges: Vec<Bridge>, namespaces: Vec<String>) -> Self {
        self.bridges = bridges;
        self.namespaces = namespaces;
        self
    }

    /// Publishes a mutation result. It returns only once the bus has written it to its topics'
    /// streams (on Redis, in one script). With `idempotency` (a scoped key), a repeat within the
    /// key's window returns the first publish's event and publishes nothing.
    pub async fn publish(
        &self,
        mutation: &str,
        type_name: &str,
        payload: Value,
        idempotency: Option<&str>,
    ) -> Result<Arc<Publication>, PublishError> {
        let event = Arc::new(Publication::new(mutation, type_name, payload));
        let published = self.bus.publish(event.clone(), idempotency).await?;
        if Arc::ptr_eq(&published, &event) {
            self.published.increment(1);
            self.bridge(&event).await?;
        }
        Ok(published)
    }

    /// Publishes `event`'s result to the channel of each bridge of its mutation.
    async fn bridge(&self, event: &Publication) -> Result<(), PublishError> {
        for bridge in self.bridges.iter().filter(|b| b.mutation == event.mutation) {
            let Some(path) = bridge.channel_for(&event.payload) else {
                tracing::debug!(mutation = %event.mutation, "no channel: the result lacks a field");
                continue;
            };
            let channel = match Channel::parse(&path, false, &self.namespaces) {
                Ok(channel) => channel,
                Err(error) => {
                    tracing::debug!(%error, "no channel for the result");
                    continue;
                }
            };
            let text = event
                .payload
                .clone()
                .into_json()
                .map(|json| json.to_string())
                .unwrap_or_default();
            let bridged = Arc::new(Publication::on_channel(&channel.path(), text));
            self.bus.publish(bridged, None).await?;
        }
        Ok(())
    }

    /// Issues the invalidations `--rules` declares for `mutation`, with its arguments and
    /// result: every node ends the matching subscriptions. A payload whose placeholders have no
    /// value is not sent (it could match nothing).
    pub async fn invalidate_after(
        &self,
        mutation: &str,
        args: &IndexMap<Name, Value>,
        result: &Value,
    ) -> Result<(), PublishError> {
        let mut invalidations = self.rules.invalidations_of(mutation).peekable();
        // Most mutations issue none: no copy of their arguments then.
        if invalidations.peek().is_none() {
            return Ok(());
        }
        let args: Vec<(String, Value)> = args
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect();
        let context = Context {
            args: &args,
            identity: None,
            result: Some(result),
        };
        for invalidation in invalidations {
            match crate::graphql::rules::resolve(&invalidation.payload, &context) {
                Ok(payload) => {
                    self.bus
                        .invalidate(&invalidation.subscription_field, &payload)
                        .await?;
                }
                Err(unresolved) => {
                    tracing::debug!(mutation, %unresolved, "invalidation not sent");
                }
            }
        }
        Ok(())
    }

    /// Serves a history query: the kept events of the topic its required arguments name, filtered
    /// by its optional arguments, at most `limit` of them, newest last.
    pub async fn recent(
        &self,
        plan: &HistoryPlan,
        args: &IndexMap<Name, Value>,
    ) -> Result<Vec<Arc<Publication>>, PublishError> {
        let arg = |name: &str| args.get(name).unwrap_or(&Value::Null);
        let topic = self.topics.history_topic(plan, arg);
        let read = self
            .bus
            .read(&topic, ReadFrom::Last(self.history_len), self.history_len)
            .await?;
        let mut events: Vec<Arc<Publication>> = read.entries.into_iter().map(|e| e.event).collect();
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

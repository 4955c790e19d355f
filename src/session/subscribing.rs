//! Starting and stopping a subscription: the access check, validation, filing it in the index
//! (live before the client hears back), listening on the bus, the connection record; and the
//! reverse, whatever ends it.

use std::sync::Arc;

use super::delivery::frame_event;
use super::resume::{self, Opening};
use super::{Active, Flow, Session};
use crate::api::subscription;
use crate::graphql::filter::Filter;
use crate::graphql::projection::Projection;
use crate::graphql::rules::Context;
use crate::operation::{ErrorType, GraphqlError, GraphqlRequest};
use crate::protocol::{Fault, Reply};
use crate::pubsub::Registration;
use crate::store::SubscriptionRecord;
use crate::stream::Position;

/// A subscription filed in the index, to be made live by [`Session::start`].
pub(super) struct Starting {
    /// The client's id for it.
    pub id: String,
    /// The subscription field (a channel's path for AppSync Events).
    pub field: String,
    pub registration: Registration,
    /// How what the stream kept is rendered for it.
    pub projection: Projection,
    pub enhanced: Option<Arc<Filter>>,
    pub record: SubscriptionRecord,
    pub invalidation: Option<Filter>,
    pub opening: Opening,
}

impl Session {
    pub(super) async fn subscribe(
        &mut self,
        id: String,
        request: Box<GraphqlRequest>,
        authorization: Option<serde_json::Value>,
        data: Option<String>,
    ) -> Flow {
        if !self.acknowledged {
            return self.emit(Reply::Fault(Fault::NotAcknowledged { id })).await;
        }
        let (document, identity) = match self
            .authorize_subscription(authorization.as_ref(), data.as_deref(), &request)
            .await
        {
            Ok(authorized) => authorized,
            Err(error) => {
                return self.refuse(&id, &[error]).await;
            }
        };
        let max = self.app.settings.max_subscriptions_per_connection;
        if let Some(refused) = self.make_room(&id, max).await {
            return refused;
        }
        let opening = match Opening::from_extensions(request.extensions.as_ref()) {
            Ok(opening) => opening,
            Err(error) => {
                return self.refuse(&id, &[error]).await;
            }
        };
        let prepared = match subscription::prepare(
            &self.app.api,
            &request,
            document,
            self.app.settings.websocket.subscribe_timeout,
            |field, args| {
                let context = Context {
                    args,
                    identity: Some(&identity),
                    result: None,
                };
                self.app.rules.subscription_filter(field, &context)
            },
        )
        .await
        {
            Ok(prepared) => prepared,
            Err(errors) => {
                return self.refuse(&id, &errors).await;
            }
        };
        let context = Context {
            args: &prepared.filter,
            identity: Some(&identity),
            result: None,
        };
        let invalidation = match self
            .app
            .rules
            .invalidation_filter(&prepared.field, &context)
        {
            Ok(filter) => filter,
            Err(error) => return self.refuse(&id, &[error]).await,
        };
        // Live in the index before the client hears that it is: a status published the moment
        // the acknowledgement arrives is delivered.
        let registration = self.app.index.subscribe(
            &prepared.field,
            &prepared.filter,
            prepared.projection.clone(),
            prepared.enhanced.clone(),
            self.mailbox.clone(),
        );
        let user_arg = &self.app.settings.user_arg;
        let record = SubscriptionRecord {
            id: id.clone(),
            field: prepared.field.clone(),
            user_id: prepared
                .filter
                .iter()
                .find(|(name, _)| name == user_arg)
                .and_then(|(_, value)| crate::graphql::schema::access::user_of(value)),
            arguments: prepared.filter_json(),
        };
        let replay_latest = self.app.settings.replay_latest.contains(&prepared.field);
        self.start(Starting {
            id,
            field: prepared.field,
            registration,
            projection: prepared.projection,
            enhanced: prepared.enhanced,
            record,
            invalidation,
            opening: opening.or_latest(replay_latest),
        })
        .await
    }

    /// Makes a subscription filed in the index live, whatever its protocol: the bus listens to
    /// its topic, its stream is read for a resume or replay (every later publish already reaches
    /// the mailbox), its record is written, and only then is it acknowledged, with what the
    /// stream kept, in one flush, before the session reads its mailbox again.
    pub(super) async fn start(&mut self, starting: Starting) -> Flow {
        let Starting {
            id,
            field,
            registration,
            projection,
            enhanced,
            record,
            invalidation,
            opening,
        } = starting;
        // On a cluster, live also means this node hears the topic from Redis.
        if let Err(error) = self.app.bus.listen(registration.key()).await {
            tracing::warn!(%error, "cannot listen to a topic");
            return self.start_failed(&id, &registration, false, "bus").await;
        }
        let start = if opening.ask.is_some() || opening.positioned {
            let max = self.app.settings.replay_max;
            match self
                .app
                .bus
                .read(registration.key(), opening.read_from(max), max)
                .await
            {
                Ok(read) => Some(resume::start(&opening, read, enhanced.as_deref())),
                Err(error) => {
                    tracing::warn!(%error, "cannot read a topic's stream");
                    return self.start_failed(&id, &registration, true, "stream").await;
                }
            }
        } else {
            None
        };
        if let Err(error) = self.app.store.subscribe(&self.id, record).await {
            self.app.store_failed(error);
        }
        if let Some(filter) = invalidation {
            self.app
                .invalidations
                .watch(&field, registration.id, filter, self.mailbox.clone());
        }
        self.client_ids.insert(registration.id, id.clone());
        self.app.metrics.exported.subscriptions.increment(1);
        tracing::info!(id = %id, field = %field, "subscription started");
        let Some(start) = start else {
            self.active.insert(
                id.clone(),
                Box::new(Active {
                    registration,
                    field,
                    watermark: None,
                    positioned: opening.positioned,
                }),
            );
            return self
                .emit(Reply::Subscribed {
                    id: &id,
                    stream: None,
                })
                .await;
        };
        // A subscription that read nothing of its stream (told positions only) has nothing for
        // a watermark to drop: what was published since it was filed is in its mailbox, or on
        // its way there (a Redis catch-up), at offsets up to the read's own.
        let watermark = opening.ask.is_some().then_some(start.watermark);
        self.active.insert(
            id.clone(),
            Box::new(Active {
                registration,
                field,
                watermark,
                positioned: opening.positioned,
            }),
        );
        // The acknowledgement (with the stream's state), then what the stream kept.
        let summary = opening.positioned.then_some(&start.summary);
        let mut encoded = self.protocol.encode(Reply::Subscribed {
            id: &id,
            stream: summary,
        });
        for entry in &start.entries {
            let body = projection.render(&entry.event.payload);
            let position = Position {
                epoch: start.epoch.clone(),
                offset: entry.offset,
            };
            let position = opening.positioned.then_some(&position);
            if !frame_event(
                self.protocol,
                &self.app,
                &id,
                &body,
                position,
                &mut encoded.frames,
            ) {
                let flow = self.write(encoded).await;
                self.forget(&id).await;
                return flow;
            }
        }
        self.write(encoded).await
    }

    /// Room for a new subscription `id`, or the refusal already answered: a live `id` is
    /// refused (graphql-transport-ws, AppSync Events) or replaced, as its protocol does, and a
    /// connection holds at most `max` subscriptions.
    pub(super) async fn make_room(&mut self, id: &str, max: usize) -> Option<Flow> {
        if self.active.contains_key(id) {
            if !self.protocol.replaces_duplicate_ids() {
                let duplicate = Fault::DuplicateId(id.to_owned());
                return Some(self.emit(Reply::Fault(duplicate)).await);
            }
            self.forget(id).await;
        }
        if self.active.len() >= max {
            let errors = [GraphqlError::new(
                Some(ErrorType::MaxSubscriptionsReachedError),
                format!("Max number of {max} subscriptions reached"),
            )];
            return Some(self.refuse(id, &errors).await);
        }
        None
    }

    /// Refuses a subscription that has not started: an operation error in the protocol's shape.
    pub(super) async fn refuse(&mut self, id: &str, errors: &[GraphqlError]) -> Flow {
        self.emit(Reply::OperationError { id, errors }).await
    }

    /// Undoes a start that the bus could not complete (`listening`: it already listens to the
    /// topic) and tells the client to retry: the event `what` is unavailable.
    async fn start_failed(
        &mut self,
        id: &str,
        registration: &Registration,
        listening: bool,
        what: &str,
    ) -> Flow {
        self.app.index.unsubscribe(registration);
        if listening {
            self.app.bus.forget(registration.key());
        }
        let errors = [GraphqlError::new(
            Some(ErrorType::ServiceUnavailable),
            format!(
                "The subscription could not be started: the event {what} is unavailable. Retry shortly."
            ),
        )];
        self.refuse(id, &errors).await
    }

    pub(super) async fn stop(&mut self, id: &str) -> Flow {
        if !self.forget(id).await {
            // Stopping what is not running is harmless; only AppSync Events answers it.
            return self
                .emit(Reply::Fault(Fault::UnknownId(id.to_owned())))
                .await;
        }
        self.emit(Reply::Stopped(id)).await
    }

    /// Removes a subscription from the index, the session and the store. Deliveries already
    /// queued for it are dropped when they come out of the mailbox.
    pub(super) async fn forget(&mut self, id: &str) -> bool {
        let Some(active) = self.active.remove(id) else {
            return false;
        };
        tracing::info!(id, "subscription stopped");
        self.leave(&active);
        self.client_ids.remove(&active.registration.id);
        if let Err(error) = self.app.store.unsubscribe(&self.id, id).await {
            self.app.store_failed(error);
        }
        true
    }
}

//! An AppSync Events connection (`aws-appsync-event-ws` on `/event/realtime`): the actor that
//! subscribes to channels, publishes over the socket and writes each event as its own `data`
//! frame. It shares the node's index, bus, mailboxes, limits and auth with the GraphQL sessions.
//!
//! `connection_init` is optional (Swift subscribes as soon as the socket is open): credentials
//! come from the upgrade (its headers, the `header-` subprotocol or the `header` query) and are
//! checked when the socket opens; each `subscribe` and `publish` may carry its own
//! `authorization`. Auth error types are used for auth failures only, since Amplify drops and
//! redials the socket on them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value as Json;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::Peer;
use crate::app::App;
use crate::auth::{AuthMode, AuthRequest, Credentials, Identity, Operation, Signed};
use crate::events::MAX_EVENTS_PER_PUBLISH;
use crate::events::channel::{Channel, ChannelAction};
use crate::events::codec::{self, EventsMessage};
use crate::operation::ErrorType;
use crate::projection::Projection;
use crate::protocol::Fault;
use crate::pubsub::{Inbox, Mail, Mailbox, Registration, SubscriberId, publish_events};
use crate::store::SubscriptionRecord;

/// The refusal of a channel bound to another user. Not an auth error type: Amplify drops and
/// redials the whole socket on those, which would not make the channel anyone else's.
fn not_yours(channel: &Channel) -> Json {
    codec::error(
        ErrorType::BadRequestException,
        &format!("Not authorized to use channel {}", channel.path()),
    )
}

/// A live channel subscription.
struct Subscribed {
    registration: Registration,
}

struct EventsSession {
    app: Arc<App>,
    id: String,
    peer: Peer,
    sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mailbox: Arc<Mailbox>,
    inbox: Inbox,
    /// Who the connection is, from the upgrade's credentials; `None` without any.
    identity: Option<Identity>,
    /// The upgrade's credentials, kept for a Lambda-authorized connection only: the authorizer
    /// judges each subscribe and publish by its channel, so a message without its own
    /// `authorization` is judged with these.
    lambda_credentials: Option<Credentials>,
    acknowledged: bool,
    subscriptions: HashMap<String, Subscribed>,
    /// Each live subscription's `data` frame prefix (its id, escaped once), by subscriber.
    data_prefixes: HashMap<SubscriberId, String>,
}

/// Whether the session goes on.
#[derive(PartialEq)]
enum Flow {
    Continue,
    Closed,
}

/// Serves one upgraded Events socket until it closes. Not an `async fn`, for the reason
/// [`super::run`] gives.
pub fn run(app: Arc<App>, socket: WebSocket, peer: Peer) -> impl Future<Output = ()> + Send {
    let (sink, stream) = socket.split();
    let super::Opened {
        id,
        attention,
        mailbox,
        inbox,
    } = super::Opened::new(&app);
    let mut session = EventsSession {
        app,
        id,
        peer,
        sink,
        mailbox,
        inbox,
        identity: None,
        lambda_credentials: None,
        acknowledged: false,
        subscriptions: HashMap::new(),
        data_prefixes: HashMap::new(),
    };
    let span = tracing::info_span!(parent: None, "connection", request_id = %session.peer.request_id, conn_id = %session.id, protocol = "appsync-events");
    async move {
        let gauge = session.app.metrics.exported.events_connections.clone();
        gauge.increment(1);
        tracing::info!(remote = %session.peer.remote, "connection opened");
        // Boxed steps: inline, their futures would sit in every idle session's.
        if Box::pin(session.open()).await == Flow::Continue {
            // Its record names its user when its credentials do.
            let user = session
                .identity
                .as_ref()
                .and_then(|identity| session.app.verified_user(identity));
            let app = session.app.clone();
            Box::pin(app.record_connect(&session.id, user, "appsync-events", session.peer.remote))
                .await;
            session.serve(stream, attention).await;
        }
        Box::pin(session.close()).await;
        gauge.decrement(1);
        tracing::info!(remote = %session.peer.remote, "connection closed");
    }
    .instrument(span)
}

impl EventsSession {
    /// Checks the upgrade: a refusal or bad credentials end the connection with
    /// `connection_error`.
    async fn open(&mut self) -> Flow {
        if let Some(refusal) = self.peer.refusal.take() {
            let text = match refusal {
                Fault::TooManyRequests(message) => {
                    codec::connection_error(ErrorType::LimitExceededError, &message, 429)
                }
                Fault::Forbidden(message) => {
                    codec::connection_error(ErrorType::BadRequestException, &message, 403)
                }
                other => codec::connection_error(
                    ErrorType::BadRequestException,
                    &format!("{other:?}"),
                    400,
                ),
            };
            return self.fail(text).await;
        }
        let credentials = match &self.peer.credentials {
            Ok(credentials) => credentials.clone(),
            Err(error) => {
                let text = codec::connection_error(
                    ErrorType::UnauthorizedException,
                    &error.to_string(),
                    401,
                );
                return self.fail(text).await;
            }
        };
        if credentials.is_empty() {
            return Flow::Continue;
        }
        let connect = codec::signed_body(None, None);
        let authenticated = self
            .authenticate(&credentials, Operation::EventConnect, &connect)
            .await;
        self.peer.credentials = Ok(Credentials::default());
        match authenticated {
            Ok(identity) if self.app.may_connect_events(&identity) => {
                if identity.mode == AuthMode::Lambda {
                    self.lambda_credentials = Some(credentials);
                }
                self.identity = Some(identity);
                Flow::Continue
            }
            Ok(identity) => {
                let message = format!("Auth mode {} may not connect.", identity.mode.name());
                let text = codec::connection_error(ErrorType::UnauthorizedException, &message, 401);
                self.fail(text).await
            }
            Err(message) => {
                let text = codec::connection_error(ErrorType::UnauthorizedException, &message, 401);
                self.fail(text).await
            }
        }
    }

    /// Verifies `credentials` for `operation`; an IAM signature must cover `signed_body` (the
    /// body the client signed, rebuilt from the frame).
    async fn authenticate(
        &self,
        credentials: &Credentials,
        operation: Operation<'_>,
        signed_body: &str,
    ) -> Result<Identity, String> {
        let request = AuthRequest {
            credentials,
            signed: Signed::Http {
                path: codec::SIGNED_PATH,
                query: "",
                body: signed_body.as_bytes(),
            },
            operation,
        };
        self.app.auth.authenticate(request).await.map_err(|error| {
            self.app.auth_failed(self.peer.remote.ip(), credentials);
            error.to_string()
        })
    }

    async fn serve(
        &mut self,
        mut stream: futures_util::stream::SplitStream<WebSocket>,
        attention: tokio_util::sync::CancellationToken,
    ) {
        let settings = &self.app.settings;
        let end_of_life = tokio::time::sleep(settings.max_connection_lifetime);
        tokio::pin!(end_of_life);
        let every = settings.keepalive;
        let mut keepalive = tokio::time::interval_at(Instant::now() + every, every);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let flow = tokio::select! {
                biased;
                _ = attention.cancelled() => {
                    let (code, reason) = match super::Stop::why(&self.app, &self.mailbox) {
                        super::Stop::ShuttingDown => (1001, "server shutting down"),
                        super::Stop::Kicked => (1000, "closed by an administrator"),
                        super::Stop::SlowConsumer => (1008, "slow consumer"),
                    };
                    Box::pin(self.close_with(code, reason)).await
                }
                _ = &mut end_of_life => Box::pin(self.close_with(1000, "connection lifetime reached")).await,
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => Box::pin(self.on_text(&text)).await,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Flow::Closed,
                    Some(Ok(_)) => Flow::Continue,
                },
                // Every step boxed: its write (with a close timer) would otherwise sit in every
                // idle session; one allocation per step (a delivery step takes up to 64).
                mail = self.inbox.recv() => Box::pin(self.deliver(mail)).await,
                _ = keepalive.tick(), if self.acknowledged => Box::pin(self.send(codec::keep_alive())).await,
            };
            if flow == Flow::Closed {
                return;
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        let message = match codec::decode(text) {
            Ok(message) => message,
            Err(error) => {
                let errors = [codec::error(ErrorType::BadRequestException, &error.reason)];
                return self
                    .send(codec::failure("error", error.id.as_deref(), &errors))
                    .await;
            }
        };
        match message {
            EventsMessage::Init => {
                if self.acknowledged {
                    return Flow::Continue;
                }
                self.acknowledged = true;
                let timeout = u64::try_from(self.app.settings.connection_timeout.as_millis())
                    .unwrap_or(u64::MAX);
                if self.send(codec::connection_ack(timeout)).await == Flow::Closed {
                    return Flow::Closed;
                }
                self.send(codec::keep_alive()).await
            }
            EventsMessage::Subscribe {
                id,
                channel,
                authorization,
            } => self.subscribe(id, &channel, authorization.as_ref()).await,
            EventsMessage::Unsubscribe { id } => self.unsubscribe(&id).await,
            EventsMessage::Publish {
                id,
                channel,
                events,
                authorization,
            } => {
                self.publish(&id, &channel, &events, authorization.as_ref())
                    .await
            }
        }
    }

    /// Whether one message may do `action` on `channel`, or the errors of its refusal. The
    /// caller is the message's own `authorization` (signed, for IAM, over `signed_body`), or
    /// the connection's identity (for a Lambda-authorized connection, the authorizer's answer
    /// for this channel); then the channel's access check.
    async fn allowed(
        &self,
        authorization: Option<&Json>,
        action: ChannelAction,
        channel: &Channel,
        signed_body: &str,
    ) -> Result<(), Json> {
        let unauthorized = |message: &str| codec::error(ErrorType::UnauthorizedException, message);
        let operation = Operation::EventChannel(action, channel);
        let own = authorization
            .and_then(Credentials::from_json)
            .filter(|credentials| !credentials.is_empty());
        let caller = match own.as_ref().or(self.lambda_credentials.as_ref()) {
            Some(credentials) => self
                .authenticate(credentials, operation, signed_body)
                .await
                .map_err(|m| unauthorized(&m))?,
            None => self
                .identity
                .clone()
                .ok_or_else(|| unauthorized("You are not authorized to make this call."))?,
        };
        if !self.app.may_use_channel(&caller, channel, action) {
            return Err(not_yours(channel));
        }
        Ok(())
    }

    async fn subscribe(&mut self, id: String, written: &str, authorization: Option<&Json>) -> Flow {
        let channel =
            match Channel::parse(written, true, &self.app.settings.events.event_namespaces) {
                Ok(channel) => channel,
                Err(error) => {
                    let errors = [codec::error(
                        ErrorType::BadRequestException,
                        &error.to_string(),
                    )];
                    return self
                        .send(codec::failure("subscribe_error", Some(&id), &errors))
                        .await;
                }
            };
        let signed = codec::signed_body(Some(written), None);
        let allowed = self
            .allowed(authorization, ChannelAction::Subscribe, &channel, &signed)
            .await;
        if let Err(error) = allowed {
            return self
                .send(codec::failure("subscribe_error", Some(&id), &[error]))
                .await;
        }
        // A subscribe with a live id replaces it: Amplify re-sends its ids after a redial.
        self.forget(&id).await;
        let max = self.app.settings.events.max_event_subscriptions;
        if self.subscriptions.len() >= max {
            let errors = [codec::error(
                ErrorType::MaxSubscriptionsReachedError,
                &format!("Max number of {max} subscriptions reached"),
            )];
            return self
                .send(codec::failure("subscribe_error", Some(&id), &errors))
                .await;
        }
        let registration = self.app.index.subscribe_topic(
            &channel.topic(),
            Projection::event_text(),
            None,
            self.mailbox.clone(),
        );
        if let Err(error) = self.app.bus.listen(registration.key()).await {
            self.app.index.unsubscribe(&registration);
            tracing::warn!(%error, "cannot listen to a channel");
            let errors = [codec::error(
                ErrorType::ServiceUnavailable,
                "The event bus is unavailable. Retry shortly.",
            )];
            return self
                .send(codec::failure("subscribe_error", Some(&id), &errors))
                .await;
        }
        let record = SubscriptionRecord {
            id: id.clone(),
            field: channel.path(),
            arguments: [("channel".to_owned(), Json::String(channel.path()))]
                .into_iter()
                .collect(),
            user_id: None,
        };
        if let Err(error) = self.app.store.subscribe(&self.id, record).await {
            self.app.store_failed(error);
        }
        self.data_prefixes
            .insert(registration.id, codec::data_prefix(&id));
        self.subscriptions
            .insert(id.clone(), Subscribed { registration });
        tracing::info!(id = %id, channel = %channel.path(), "subscription started");
        self.send(codec::success("subscribe_success", &id)).await
    }

    async fn unsubscribe(&mut self, id: &str) -> Flow {
        if !self.forget(id).await {
            let errors = [codec::error(
                ErrorType::UnknownOperationError,
                &format!("Unknown operation id {id}"),
            )];
            return self
                .send(codec::failure("unsubscribe_error", Some(id), &errors))
                .await;
        }
        self.send(codec::success("unsubscribe_success", id)).await
    }

    /// Ends subscription `id`; whether it was live.
    async fn forget(&mut self, id: &str) -> bool {
        let Some(subscribed) = self.subscriptions.remove(id) else {
            return false;
        };
        self.data_prefixes.remove(&subscribed.registration.id);
        self.app.index.unsubscribe(&subscribed.registration);
        self.app.bus.forget(subscribed.registration.key());
        if let Err(error) = self.app.store.unsubscribe(&self.id, id).await {
            self.app.store_failed(error);
        }
        true
    }

    async fn publish(
        &mut self,
        id: &str,
        written: &str,
        events: &[Json],
        authorization: Option<&Json>,
    ) -> Flow {
        let refuse = |error_type: ErrorType, message: &str| {
            codec::failure(
                "publish_error",
                Some(id),
                &[codec::error(error_type, message)],
            )
        };
        let channel =
            match Channel::parse(written, false, &self.app.settings.events.event_namespaces) {
                Ok(channel) => channel,
                Err(error) => {
                    return self
                        .send(refuse(ErrorType::BadRequestException, &error.to_string()))
                        .await;
                }
            };
        let signed = codec::signed_body(Some(written), Some(events));
        let allowed = self
            .allowed(authorization, ChannelAction::Publish, &channel, &signed)
            .await;
        if let Err(error) = allowed {
            return self
                .send(codec::failure("publish_error", Some(id), &[error]))
                .await;
        }
        if events.is_empty() || events.len() > MAX_EVENTS_PER_PUBLISH {
            let message = format!("A publish carries 1 to {MAX_EVENTS_PER_PUBLISH} events.");
            return self
                .send(refuse(ErrorType::LimitExceededError, &message))
                .await;
        }
        let published = publish_events(
            self.app.bus.as_ref(),
            &channel.path(),
            events,
            self.app.settings.events.max_event_bytes,
            &self.app.metrics.exported.events_published,
        )
        .await;
        match published {
            // The publisher hears first; the events then reach the subscribers, itself included.
            Ok(outcome) => self.send(outcome.frame(id)).await,
            Err(error) => {
                self.send(refuse(ErrorType::ServiceUnavailable, &error.to_string()))
                    .await
            }
        }
    }

    /// Writes what the mailbox holds, one `data` frame per event.
    async fn deliver(&mut self, first: Mail) -> Flow {
        let mut next = Some(first);
        let mut frames = Vec::new();
        while let Some(mail) = next.take() {
            if let Mail::Event(delivery) = mail
                && let Some(prefix) = self.data_prefixes.get(&delivery.subscriber)
            {
                frames.push(Message::Text(
                    codec::data(prefix, &delivery.event.body).into(),
                ));
            }
            if frames.len() < 64 {
                next = self.inbox.try_recv();
            }
        }
        self.app
            .metrics
            .exported
            .events_deliveries
            .increment(frames.len() as u64);
        let sink = &mut self.sink;
        for frame in frames {
            if sink.feed(frame).await.is_err() {
                return Flow::Closed;
            }
        }
        if sink.flush().await.is_err() {
            return Flow::Closed;
        }
        Flow::Continue
    }

    async fn send(&mut self, text: String) -> Flow {
        match self.sink.send(Message::Text(text.into())).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Closed,
        }
    }

    /// `connection_error`, then a close (the service closes with 1000 even on failure).
    async fn fail(&mut self, text: String) -> Flow {
        let _ = self.send(text).await;
        self.close_with(1000, "connection error").await
    }

    async fn close_with(&mut self, code: u16, reason: &str) -> Flow {
        let frame = CloseFrame {
            code,
            reason: reason.to_owned().into(),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.sink.send(Message::Close(Some(frame))),
        )
        .await;
        Flow::Closed
    }

    async fn close(&mut self) {
        let ids: Vec<String> = self.subscriptions.keys().cloned().collect();
        for id in ids {
            self.forget(&id).await;
        }
        self.app.connections.remove(&self.id);
        if let Err(error) = self.app.store.disconnect(&self.id).await {
            self.app.store_failed(error);
        }
    }
}

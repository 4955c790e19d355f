//! What only an AppSync Events connection does on the session: it is authenticated by its
//! upgrade's credentials as it opens (`connection_init` is optional: Swift subscribes as soon as
//! the socket is open), subscribes to channels, publishes over the socket, and may carry its own
//! `authorization` on each message, judged for that message's channel.
//!
//! Auth error types are used for auth failures only, since Amplify drops and redials the socket
//! on them. A channel subscription is made live by the same [`Session::start`] as a GraphQL one:
//! resume, replay, the mailbox, the slow-consumer rule and the shutdown drain are the same.

use serde_json::Value as Json;

use super::resume::Opening;
use super::subscribing::Starting;
use super::{Flow, Session};
use crate::auth::{AuthMode, AuthRequest, Credentials, Identity, Operation, Signed};
use crate::events::MAX_EVENTS_PER_PUBLISH;
use crate::events::channel::{Channel, ChannelAction};
use crate::graphql::projection::Projection;
use crate::operation::{ErrorType, GraphqlError};
use crate::protocol::appsync_events::{SIGNED_PATH, signed_body};
use crate::protocol::{Fault, Reply};
use crate::pubsub::publish_events;
use crate::store::SubscriptionRecord;

fn error(error_type: ErrorType, message: impl Into<String>) -> GraphqlError {
    GraphqlError::new(Some(error_type), message)
}

/// The refusal of a channel bound to another user. Not an auth error type: Amplify drops and
/// redials the whole socket on those, which would not make the channel anyone else's.
fn not_yours(channel: &Channel) -> GraphqlError {
    error(
        ErrorType::BadRequestException,
        format!("Not authorized to use channel {}", channel.path()),
    )
}

impl Session {
    /// Checks the upgrade's credentials (none is allowed: each message may bring its own) and
    /// writes the connection's record; bad credentials end the connection with
    /// `connection_error`.
    pub(super) async fn open_channels(&mut self) -> Flow {
        let credentials =
            match std::mem::replace(&mut self.peer.credentials, Ok(Credentials::default())) {
                Ok(credentials) => credentials,
                Err(error) => {
                    return self
                        .emit(Reply::Fault(Fault::BadHandshake(error.to_string())))
                        .await;
                }
            };
        if !credentials.is_empty() {
            let connect = signed_body(None, None);
            let identity = match self
                .authenticate(&credentials, Operation::EventConnect, &connect)
                .await
            {
                Ok(identity) => identity,
                Err(message) => return self.emit(Reply::Fault(Fault::Unauthorized(message))).await,
            };
            if !self.app.channels.may_connect(&identity) {
                let message = format!("Auth mode {} may not connect.", identity.mode.name());
                return self.emit(Reply::Fault(Fault::Unauthorized(message))).await;
            }
            if identity.mode == AuthMode::Lambda {
                self.lambda_credentials = Some(credentials);
            }
            self.identity = Some(identity);
        }
        // Its record names its user when its credentials do.
        let user = self
            .identity
            .as_ref()
            .and_then(|identity| self.app.verified_user(identity));
        let app = self.app.clone();
        app.record_connect(&self.id, user, self.protocol.name(), self.peer.remote)
            .await;
        Flow::Continue
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
                path: SIGNED_PATH,
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

    /// Whether one message may do `action` on `channel`, or the error of its refusal. The
    /// caller is the message's own `authorization` (signed, for IAM, over `signed_body`), or
    /// the connection's identity (for a Lambda-authorized connection, the authorizer's answer
    /// for this channel); then the channel's access check.
    async fn allowed(
        &self,
        authorization: Option<&Json>,
        action: ChannelAction,
        channel: &Channel,
        signed_body: &str,
    ) -> Result<(), GraphqlError> {
        let unauthorized = |message: String| error(ErrorType::UnauthorizedException, message);
        let operation = Operation::EventChannel(action, channel);
        let own = authorization
            .and_then(Credentials::from_json)
            .filter(|credentials| !credentials.is_empty());
        let caller = match own.as_ref().or(self.lambda_credentials.as_ref()) {
            Some(credentials) => self
                .authenticate(credentials, operation, signed_body)
                .await
                .map_err(unauthorized)?,
            None => self.identity.clone().ok_or_else(|| {
                unauthorized("You are not authorized to make this call.".to_owned())
            })?,
        };
        if !self.app.channels.may_use(&caller, channel, action) {
            return Err(not_yours(channel));
        }
        Ok(())
    }

    /// Parses a channel as the node's namespaces allow (`wildcard` for a subscribe).
    fn channel(&self, written: &str, wildcard: bool) -> Result<Channel, GraphqlError> {
        Channel::parse(
            written,
            wildcard,
            &self.app.settings.events.event_namespaces,
        )
        .map_err(|e| error(ErrorType::BadRequestException, e.to_string()))
    }

    pub(super) async fn subscribe_channel(
        &mut self,
        id: String,
        written: &str,
        authorization: Option<&Json>,
        opening: Option<&Json>,
    ) -> Flow {
        let channel = match self.channel(written, true) {
            Ok(channel) => channel,
            Err(error) => return self.refuse(&id, &[error]).await,
        };
        let signed = signed_body(Some(written), None);
        let allowed = self
            .allowed(authorization, ChannelAction::Subscribe, &channel, &signed)
            .await;
        if let Err(error) = allowed {
            return self.refuse(&id, &[error]).await;
        }
        let max = self.app.settings.events.max_event_subscriptions;
        if let Some(refused) = self.make_room(&id, max).await {
            return refused;
        }
        let mut opening = match Opening::from_extensions(opening) {
            Ok(opening) => opening,
            Err(error) => return self.refuse(&id, &[error]).await,
        };
        // Every Events subscription is told positions: its data messages carry them, and its
        // `subscribe_success` the stream's state, so any client can resume.
        opening.positioned = true;
        let registration = self.app.index.subscribe_topic(
            &channel.topic(),
            Projection::event_text(),
            None,
            self.mailbox.clone(),
        );
        let record = SubscriptionRecord {
            id: id.clone(),
            field: channel.path(),
            user_id: None,
            arguments: [("channel".to_owned(), Json::String(channel.path()))]
                .into_iter()
                .collect(),
        };
        self.start(Starting {
            id,
            field: channel.path(),
            registration,
            projection: Projection::event_text(),
            enhanced: None,
            record,
            invalidation: None,
            opening,
        })
        .await
    }

    pub(super) async fn publish(
        &mut self,
        id: &str,
        written: &str,
        events: &[Json],
        authorization: Option<&Json>,
    ) -> Flow {
        let channel = match self.channel(written, false) {
            Ok(channel) => channel,
            Err(error) => return self.refuse_publish(id, error).await,
        };
        let signed = signed_body(Some(written), Some(events));
        let allowed = self
            .allowed(authorization, ChannelAction::Publish, &channel, &signed)
            .await;
        if let Err(error) = allowed {
            return self.refuse_publish(id, error).await;
        }
        if events.is_empty() || events.len() > MAX_EVENTS_PER_PUBLISH {
            let message = format!("A publish carries 1 to {MAX_EVENTS_PER_PUBLISH} events.");
            return self
                .refuse_publish(id, error(ErrorType::LimitExceededError, message))
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
            Ok(outcome) => {
                self.emit(Reply::Published {
                    id,
                    outcome: &outcome,
                })
                .await
            }
            Err(bus) => {
                let refusal = error(bus.error_type(), bus.to_string());
                self.refuse_publish(id, refusal).await
            }
        }
    }

    async fn refuse_publish(&mut self, id: &str, error: GraphqlError) -> Flow {
        self.emit(Reply::PublishRefused {
            id,
            errors: &[error],
        })
        .await
    }
}

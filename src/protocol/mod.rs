//! The WebSocket protocols, each a small stateless codec between its frames and the
//! protocol-neutral [`ClientMessage`] and [`Reply`] the session works with.
//!
//! The session never looks at a frame; each codec decides how its protocol says "ack", "data",
//! "error" and how it rejects bad input (an error message, or a close code).

mod appsync;
pub mod appsync_events;
mod legacy_ws;
mod transport_ws;

use axum::extract::ws::{CloseFrame, Message};
use serde_json::Value as Json;

use crate::events::Outcome;
use crate::operation::{GraphqlError, GraphqlRequest};

/// The protocol a connection speaks, chosen at the upgrade from its subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// graphql-transport-ws, the `graphql-ws` library's protocol.
    GraphqlTransportWs,
    /// subscriptions-transport-ws, Apollo's legacy protocol (subprotocol `graphql-ws`).
    SubscriptionsTransportWs,
    /// AWS AppSync's real-time protocol (also subprotocol `graphql-ws`, told apart by path or by
    /// its auth object, see `http::websocket`).
    AppSync,
    /// AppSync Events (`aws-appsync-event-ws` on `/event/realtime`): channels, not GraphQL.
    AppSyncEvents,
}

/// A client message, whatever the protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Init {
        payload: Option<Json>,
    },
    Subscribe {
        id: String,
        request: Box<GraphqlRequest>,
        /// Credentials for this subscription alone (AppSync's `extensions.authorization`).
        authorization: Option<Json>,
        /// The exact `payload.data` string of an AppSync `start`: what an IAM signature covers.
        data: Option<String>,
    },
    /// AppSync Events: a subscription to a channel (`/ns/a`, `/ns/*`).
    SubscribeChannel {
        id: String,
        channel: String,
        /// Credentials for this message alone.
        authorization: Option<Json>,
        /// `{"resume": …}` or `{"replay": …}`, read as a GraphQL subscription's `extensions`.
        opening: Option<Json>,
    },
    /// AppSync Events: a publish over the socket.
    Publish {
        id: String,
        channel: String,
        /// Each a JSON value as a string.
        events: Vec<Json>,
        authorization: Option<Json>,
    },
    /// The end of a subscription (`stop`, `complete`, Events' `unsubscribe`).
    Stop {
        id: String,
    },
    Ping {
        payload: Option<Json>,
    },
    Pong,
    /// The client is leaving (legacy `connection_terminate`).
    Terminate,
}

/// Why a frame could not be decoded; `id` is the operation it named, when it named one.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub reason: String,
    pub id: Option<String>,
    pub kind: Malformation,
    /// The protocol's message type the frame named, when it named a known one: AppSync Events
    /// answers a bad `subscribe` with `subscribe_error`, a bad `publish` with `publish_error`.
    pub of: Option<&'static str>,
}

/// What was wrong with an undecodable frame; AppSync answers an unknown type differently from a
/// known message with bad fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformation {
    /// Not JSON, or not a JSON object.
    NotJson,
    /// No `type`, or one the protocol does not have.
    UnknownType,
    /// A known `type` with missing or ill-typed fields.
    BadFields,
}

/// Something the session tells the client, whatever the protocol.
#[derive(Debug)]
pub enum Reply<'a> {
    /// The connection is initialised; AppSync tells the client how long it may stay silent.
    Ack {
        connection_timeout_ms: u64,
    },
    KeepAlive,
    Pong(Option<&'a Json>),
    /// The subscription is live (only protocols with an explicit acknowledgement say so). `stream`
    /// is the stream's state (`{"epoch","offset","wasRecovering","recovered"}`) for a subscription
    /// that asked for positions: AppSync carries it on `start_ack`, the others in a first data
    /// message with `data: null`.
    Subscribed {
        id: &'a str,
        stream: Option<&'a Json>,
    },
    /// One event; `body` is a rendered GraphQL response, `{"data":{...}}` (for AppSync Events,
    /// the event's JSON as a JSON string). `at` is its place in the stream, for a subscription
    /// that is told positions.
    Data {
        id: &'a str,
        body: &'a str,
        at: Option<At<'a>>,
    },
    /// An operation failed before it started; nothing more will come for `id`.
    OperationError {
        id: &'a str,
        errors: &'a [GraphqlError],
    },
    /// The subscription ended because the client stopped it.
    Stopped(&'a str),
    /// The server ended the subscription (an invalidation): every protocol says `complete`.
    Ended(&'a str),
    /// What became of each event of an AppSync Events publish over the socket.
    Published {
        id: &'a str,
        outcome: &'a Outcome,
    },
    /// An AppSync Events publish refused as a whole.
    PublishRefused {
        id: &'a str,
        errors: &'a [GraphqlError],
    },
    /// The connection-level failures, each of which the protocol reports its own way.
    Fault(Fault),
}

/// Connection-level failures.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// A frame that is not JSON, not a known message, or lacks a required field.
    InvalidMessage {
        reason: String,
        id: Option<String>,
        kind: Malformation,
        /// The message type it named (see [`DecodeError::of`]).
        of: Option<&'static str>,
    },
    /// The credentials at the upgrade could not be read (a bad AppSync auth object).
    BadHandshake(String),
    /// An AppSync client that did not offer the `graphql-ws` subprotocol.
    NoSubprotocol,
    /// The browser origin of the upgrade is not allowed.
    Forbidden(String),
    /// The client's address is over a limit (connections, failed authentications).
    TooManyRequests(String),
    /// `connection_init` with missing or wrong credentials.
    Unauthorized(String),
    /// A subscription before the connection was acknowledged.
    NotAcknowledged { id: String },
    /// A subscription id already active on this connection (for protocols that refuse that).
    DuplicateId(String),
    /// A stop for an id that is not active (only AppSync Events answers it).
    UnknownId(String),
    /// A second `connection_init`.
    TooManyInits,
    /// No `connection_init` within the connection-init timeout.
    InitTimeout,
    /// A WebSocket-level end, the same in every protocol.
    Closing(Closing),
}

/// Where a delivered event sits in its topic's stream, as the wire tells it.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub epoch: &'a str,
    pub offset: u64,
}

impl At<'_> {
    /// `{"epoch":…,"offset":…}`.
    pub fn to_json(self) -> Json {
        serde_json::json!({"epoch": self.epoch, "offset": self.offset})
    }
}

/// Endings that are about the WebSocket, not the GraphQL protocol on it: every protocol closes
/// with the standard code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// A frame larger than the maximum frame size.
    FrameTooLarge,
    /// A text message that is not UTF-8 (RFC 6455 §8.1).
    InvalidUtf8,
    /// A frame that breaks RFC 6455 (reserved bits, an unmasked frame, a bad control frame).
    ProtocolError,
    /// The outbound queue overflowed: the client does not read fast enough.
    SlowConsumer,
    /// The server is shutting down.
    ShuttingDown,
    /// The connection reached its maximum lifetime; the client reconnects.
    LifetimeReached,
    /// An administrator closed the connection (`DELETE /admin/connections/{id}`).
    Kicked,
}

impl Closing {
    fn encode(self) -> Encoded {
        match self {
            Self::FrameTooLarge => Encoded::close(1009, "Message too big"),
            Self::InvalidUtf8 => Encoded::close(1007, "text message is not valid UTF-8"),
            Self::ProtocolError => Encoded::close(1002, "WebSocket protocol error"),
            Self::SlowConsumer => Encoded::close(1008, "slow consumer: outbound queue full"),
            Self::ShuttingDown => Encoded::close(1001, "server shutting down"),
            Self::LifetimeReached => Encoded::close(1000, "connection lifetime reached"),
            Self::Kicked => Encoded::close(1008, "closed by an administrator"),
        }
    }
}

/// What to write for a reply: frames, then possibly a close.
#[derive(Debug, Default)]
pub struct Encoded {
    pub frames: Vec<Message>,
    pub close: Option<CloseFrame>,
}

impl Encoded {
    fn frame(text: String) -> Self {
        Self {
            frames: vec![Message::Text(text.into())],
            close: None,
        }
    }

    fn close(code: u16, reason: &str) -> Self {
        Self {
            frames: Vec::new(),
            close: Some(close_frame(code, reason)),
        }
    }

    fn then_close(mut self, code: u16, reason: &str) -> Self {
        self.close = Some(close_frame(code, reason));
        self
    }
}

/// A close frame; the reason is cut to the 123 bytes a close frame can carry.
pub fn close_frame(code: u16, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: reason[..end].into(),
    }
}

impl Protocol {
    /// The `Sec-WebSocket-Protocol` value that selects this protocol.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Self::GraphqlTransportWs => "graphql-transport-ws",
            Self::SubscriptionsTransportWs | Self::AppSync => "graphql-ws",
            Self::AppSyncEvents => appsync_events::SUBPROTOCOL,
        }
    }

    /// The protocol's name in logs, records and metrics (two protocols share a subprotocol).
    pub fn name(self) -> &'static str {
        match self {
            Self::GraphqlTransportWs => "graphql-transport-ws",
            Self::SubscriptionsTransportWs => "subscriptions-transport-ws",
            Self::AppSync => "appsync",
            Self::AppSyncEvents => "appsync-events",
        }
    }

    /// Picks the protocol from the subprotocols a client offered, in our order of preference.
    pub fn from_offered<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let offered: Vec<&str> = offered.into_iter().collect();
        [Self::GraphqlTransportWs, Self::SubscriptionsTransportWs]
            .into_iter()
            .find(|p| offered.contains(&p.subprotocol()))
    }

    /// How often the server sends this protocol's keep-alive.
    pub fn keepalive(self, settings: &crate::config::Settings) -> std::time::Duration {
        match self {
            Self::GraphqlTransportWs | Self::AppSync | Self::AppSyncEvents => {
                settings.websocket.keepalive
            }
            Self::SubscriptionsTransportWs => settings.websocket.legacy_keepalive,
        }
    }

    /// Whether a `subscribe` for an id that is already active replaces it (legacy, AppSync) rather
    /// than being refused (graphql-transport-ws closes with 4409).
    /// AppSync must: Amplify re-sends its `start`s with the same ids on the same socket.
    pub fn replaces_duplicate_ids(self) -> bool {
        matches!(self, Self::SubscriptionsTransportWs | Self::AppSync)
    }

    /// Whether a second `connection_init` is simply acknowledged again (AppSync) rather than
    /// refused.
    pub fn acks_repeated_init(self) -> bool {
        matches!(self, Self::AppSync)
    }

    /// Whether the connection is authenticated by its upgrade's credentials as it opens, and may
    /// subscribe without a `connection_init` (AppSync Events: Swift and Kotlin send none).
    /// Such a connection has no `connection_init` deadline.
    pub fn authenticates_at_upgrade(self) -> bool {
        matches!(self, Self::AppSyncEvents)
    }

    pub fn decode(self, text: &str) -> Result<ClientMessage, DecodeError> {
        match self {
            Self::GraphqlTransportWs => transport_ws::decode(text),
            Self::SubscriptionsTransportWs => legacy_ws::decode(text),
            Self::AppSync => appsync::decode(text),
            Self::AppSyncEvents => appsync_events::decode(text),
        }
    }

    pub fn encode(self, reply: Reply<'_>) -> Encoded {
        match self {
            Self::GraphqlTransportWs => transport_ws::encode(reply),
            Self::SubscriptionsTransportWs => legacy_ws::encode(reply),
            Self::AppSync => appsync::encode(reply),
            Self::AppSyncEvents => appsync_events::encode(reply),
        }
    }
}

/// Reads a frame as a JSON object with a `type`, keeping the `id` for error reports.
fn parse_envelope(text: &str) -> Result<(Json, Option<String>), DecodeError> {
    let value: Json = serde_json::from_str(text).map_err(|e| DecodeError {
        reason: format!("message is not valid JSON: {e}"),
        id: None,
        kind: Malformation::NotJson,
        of: None,
    })?;
    let id = value.get("id").and_then(Json::as_str).map(str::to_owned);
    if !value.is_object() {
        return Err(DecodeError {
            reason: "message must be a JSON object".to_owned(),
            id,
            kind: Malformation::NotJson,
            of: None,
        });
    }
    Ok((value, id))
}

/// Decodes the envelope into a protocol's message enum, with the serde error as the reason.
/// `known_types` are the protocol's client message types, to tell an unknown type from bad
/// fields.
fn decode_as<T: serde::de::DeserializeOwned>(
    text: &str,
    known_types: &[&'static str],
) -> Result<(T, Option<String>), DecodeError> {
    let (value, id) = parse_envelope(text)?;
    let of = value
        .get("type")
        .and_then(Json::as_str)
        .and_then(|t| known_types.iter().copied().find(|known| *known == t));
    match serde_json::from_value(value) {
        Ok(message) => Ok((message, id)),
        Err(e) => Err(DecodeError {
            reason: format!("invalid message: {e}"),
            id,
            kind: if of.is_some() {
                Malformation::BadFields
            } else {
                Malformation::UnknownType
            },
            of,
        }),
    }
}

/// `{"id":..,"type":..,"payload":<body>}` around an already rendered payload.
fn with_payload(kind: &str, id: &str, body: &str) -> String {
    let id = serde_json::to_string(id).expect("a string always serializes");
    let mut text = String::with_capacity(body.len() + id.len() + kind.len() + 32);
    text.push_str("{\"id\":");
    text.push_str(&id);
    text.push_str(",\"type\":\"");
    text.push_str(kind);
    text.push_str("\",\"payload\":");
    text.push_str(body);
    text.push('}');
    text
}

/// `connection_ack`, then at once the first `ka`, as AppSync (GraphQL and Events) sends them:
/// clients arm their keep-alive timers on it.
fn ack_then_keep_alive(ack: Json) -> Encoded {
    Encoded {
        frames: vec![
            Message::Text(ack.to_string().into()),
            Message::Text(r#"{"type":"ka"}"#.into()),
        ],
        close: None,
    }
}

/// The response that tells a graphql-ws or legacy client the state of its subscription's
/// stream before any event: `{"data":null,"extensions":{"stream":{…}}}`.
pub fn stream_summary(stream: &Json) -> String {
    serde_json::json!({"data": null, "extensions": {"stream": stream}}).to_string()
}

/// A rendered GraphQL response (`{"data":…}`) with the event's position, when it has one,
/// added as `extensions.stream`.
fn with_position<'a>(body: &'a str, at: Option<At<'_>>) -> std::borrow::Cow<'a, str> {
    let Some(at) = at else {
        return body.into();
    };
    let open = body.strip_suffix('}').unwrap_or(body);
    format!("{open},\"extensions\":{{\"stream\":{}}}}}", at.to_json()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_and_reason_truncation() {
        assert_eq!(
            Protocol::from_offered(["graphql-ws", "graphql-transport-ws"]),
            Some(Protocol::GraphqlTransportWs)
        );
        assert_eq!(
            Protocol::from_offered(["graphql-ws"]),
            Some(Protocol::SubscriptionsTransportWs)
        );
        assert_eq!(Protocol::from_offered(["mqtt"]), None);
        let long = "é".repeat(100);
        assert!(close_frame(4400, &long).reason.len() <= 123);
    }

    #[test]
    fn positions_are_added_to_the_rendered_body() {
        let at = At {
            epoch: "E",
            offset: 7,
        };
        let body = with_position(r#"{"data":{"a":1}}"#, Some(at));
        let json: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"data": {"a": 1}, "extensions": {"stream": {"epoch": "E", "offset": 7}}})
        );
        assert_eq!(with_position("{}", None), "{}");
    }

    #[test]
    fn data_frame_wraps_the_rendered_body() {
        let text = with_payload("next", "a\"b", r#"{"data":{"x":1}}"#);
        let parsed: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["id"], "a\"b");
        assert_eq!(parsed["payload"]["data"]["x"], 1);
    }
}

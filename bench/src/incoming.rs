//! The server side of the conversation as the generator reads it: every protocol's messages as
//! one serde-tagged enum, plus a fast path for the events themselves.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value as Json;

/// Every message a server sends, in any of the protocols; unknown types decode as `Other`.
///
/// Events (`next`, `data`) normally take [`Incoming::decode`]'s fast path; they land here only
/// when they carry no readable status.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    ConnectionAck,
    /// graphql-transport-ws's event.
    Next {},
    /// The legacy protocol's and AppSync's event.
    Data {},
    StartAck {
        id: String,
    },
    /// AppSync Events' answers to `subscribe`.
    SubscribeSuccess {
        id: String,
    },
    SubscribeError {
        #[serde(default)]
        errors: Option<Json>,
    },
    Ka,
    Ping,
    Pong,
    Error {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        payload: Option<Json>,
    },
    ConnectionError {
        #[serde(default)]
        payload: Option<Json>,
    },
    Complete {},
    #[serde(other)]
    Other,
}

/// A decoded server frame: a delivered status, or anything else.
#[derive(Debug)]
pub enum Incoming<'a> {
    Status(Status<'a>),
    /// An AppSync Events `data` frame's `event`: the status as JSON text, unescaped (read it
    /// with [`Status::of_event`]).
    ChannelEvent(Cow<'a, str>),
    Message(ServerMessage),
}

/// The fields of a delivered status the generator reads, borrowed from the frame.
#[derive(Debug, Deserialize)]
pub struct Status<'a> {
    #[serde(rename = "userId", borrow)]
    pub user_id: Cow<'a, str>,
    #[serde(default, borrow)]
    pub message: Option<Cow<'a, str>>,
}

impl<'a> Status<'a> {
    /// The status inside an Events `data` frame, read in place from the escaped `event` text
    /// (`…\"userId\":\"u4\",…`) without unescaping it: the generator's own values (user ids,
    /// stamps) never contain a backslash or a quote, so a value is plainly there or the frame
    /// takes the full parse ([`Incoming::ChannelEvent`]). Keeps the generator's cost per
    /// Events delivery near its cost per GraphQL one, so the two compare the server.
    fn in_escaped_event(text: &'a str) -> Option<Self> {
        let value = |needle: &str| -> Option<Option<&'a str>> {
            let rest = &text[text.find(needle)? + needle.len()..];
            if rest.starts_with("null") {
                return Some(None);
            }
            let rest = rest.strip_prefix(r#"\""#)?;
            let value = &rest[..rest.find('\\')?];
            rest[value.len()..]
                .starts_with(r#"\""#)
                .then_some(Some(value))
        };
        Some(Status {
            user_id: Cow::Borrowed(value(r#"\"userId\":"#)??),
            message: value(r#"\"message\":"#)?.map(Cow::Borrowed),
        })
    }

    /// The status an AppSync Events event carries (its JSON is the status object).
    pub fn of_event(event: &'a str) -> Option<Self> {
        serde_json::from_str(event).ok()
    }
}

/// `{"type":"next"|"data","payload":{"data":{"onStatusUpdate":{…}}}}` read in one pass into
/// borrowed fields: about 4× cheaper than the tagged enum, which must buffer every field before
/// it can look at `type`; this is most of the generator's CPU at 500k deliveries/s.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    payload: EventPayload<'a>,
}

#[derive(Deserialize)]
struct EventPayload<'a> {
    #[serde(borrow)]
    data: EventData<'a>,
}

#[derive(Deserialize)]
struct EventData<'a> {
    #[serde(rename = "onStatusUpdate", borrow)]
    on_status_update: Status<'a>,
}

/// An AppSync Events `data` frame: the status is the JSON text in `event`.
#[derive(Deserialize)]
struct ChannelEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    event: Cow<'a, str>,
}

impl<'a> Incoming<'a> {
    pub fn decode(text: &'a str) -> Result<Self, serde_json::Error> {
        if text.starts_with(r#"{"type":"data","#)
            && let Some(status) = Status::in_escaped_event(text)
        {
            return Ok(Incoming::Status(status));
        }
        if text.contains("\"event\":")
            && let Ok(frame) = serde_json::from_str::<ChannelEvent<'a>>(text)
            && frame.kind == "data"
        {
            return Ok(Incoming::ChannelEvent(frame.event));
        }
        if text.contains("\"onStatusUpdate\"")
            && let Ok(event) = serde_json::from_str::<Event<'a>>(text)
            && matches!(&*event.kind, "next" | "data")
        {
            return Ok(Incoming::Status(event.payload.data.on_status_update));
        }
        serde_json::from_str(text).map(Incoming::Message)
    }
}

impl ServerMessage {
    pub fn decode(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// A short description of a message that ends or refuses a subscription.
    pub fn describe_failure(&self) -> Option<String> {
        let describe = |kind: &str, payload: &Option<Json>| match payload {
            Some(p) => format!("{kind} {}", truncate(&p.to_string(), 160)),
            None => kind.to_owned(),
        };
        match self {
            ServerMessage::Error { payload, .. } => Some(describe("error", payload)),
            ServerMessage::SubscribeError { errors } => Some(describe("subscribe_error", errors)),
            ServerMessage::ConnectionError { payload } => {
                Some(describe("connection_error", payload))
            }
            ServerMessage::Complete {} => Some("complete".to_owned()),
            _ => None,
        }
    }
}

pub fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    #[test]
    fn decodes_each_protocols_event() {
        let next = r#"{"id":"s1","type":"next","payload":{"data":{"onStatusUpdate":{"jobId":"j","userId":"u7","status":"validating","message":"12 1700000000000000000","timestamp":"2024-01-01T00:00:00.000Z"}}}}"#;
        let Incoming::Status(status) = Incoming::decode(next).unwrap() else {
            panic!("not a status")
        };
        assert_eq!(status.user_id, "u7");
        assert_eq!(status.message.as_deref(), Some("12 1700000000000000000"));

        let data = r#"{"type":"data","id":"s1","payload":{"data":{"onStatusUpdate":{"userId":"u1","message":null}}}}"#;
        let Incoming::Status(status) = Incoming::decode(data).unwrap() else {
            panic!("not a status")
        };
        assert_eq!(status.message, None);

        // An event without a status, and an error that merely mentions the field.
        let empty = r#"{"type":"next","id":"s1","payload":{"data":{"onStatusUpdate":null}}}"#;
        assert!(matches!(
            Incoming::decode(empty).unwrap(),
            Incoming::Message(ServerMessage::Next {})
        ));
        let error =
            r#"{"type":"error","id":"s1","payload":[{"message":"no field \"onStatusUpdate\""}]}"#;
        assert!(matches!(
            Incoming::decode(error).unwrap(),
            Incoming::Message(ServerMessage::Error { .. })
        ));
    }

    #[test]
    fn reads_an_events_status_in_place_or_parses_it_whole() {
        let plain = r#"{"type":"data","id":"s1","event":"{\"userId\":\"u9\",\"message\":null}"}"#;
        let Incoming::Status(status) = Incoming::decode(plain).unwrap() else {
            panic!("not read in place")
        };
        assert_eq!((&*status.user_id, status.message), ("u9", None));
        // A value with an escape in it is not read in place.
        let escaped =
            r#"{"type":"data","id":"s1","event":"{\"userId\":\"u\\\"9\",\"message\":\"m\"}"}"#;
        let Incoming::ChannelEvent(event) = Incoming::decode(escaped).unwrap() else {
            panic!("read in place")
        };
        assert_eq!(Status::of_event(&event).unwrap().user_id, "u\"9");
    }

    #[test]
    fn decodes_an_events_data_frame() {
        let data = r#"{"type":"data","id":"s1","event":"{\"jobId\":\"j\",\"userId\":\"u4\",\"message\":\"3 17\"}"}"#;
        let Incoming::Status(status) = Incoming::decode(data).unwrap() else {
            panic!("not a status")
        };
        assert_eq!(status.user_id, "u4");
        assert_eq!(status.message.as_deref(), Some("3 17"));
    }

    #[test]
    fn decodes_control_messages_and_ignores_unknown_ones() {
        assert!(matches!(
            ServerMessage::decode(r#"{"type":"ka"}"#).unwrap(),
            ServerMessage::Ka
        ));
        assert!(matches!(
            ServerMessage::decode(
                r#"{"type":"connection_ack","payload":{"connectionTimeoutMs":300000}}"#
            )
            .unwrap(),
            ServerMessage::ConnectionAck
        ));
        assert!(matches!(
            ServerMessage::decode(r#"{"type":"something_new","x":1}"#).unwrap(),
            ServerMessage::Other
        ));
        let probe_error = ServerMessage::decode(
            r#"{"type":"error","id":"bench-probe","payload":{"message":"unknown type"}}"#,
        )
        .unwrap();
        assert!(Protocol::Legacy.confirms(&probe_error));
        assert!(!Protocol::TransportWs.confirms(&probe_error));
        let ack = ServerMessage::decode(r#"{"type":"start_ack","id":"s1"}"#).unwrap();
        assert!(Protocol::Appsync.confirms(&ack));
        let success = ServerMessage::decode(r#"{"type":"subscribe_success","id":"s1"}"#).unwrap();
        assert!(Protocol::Events.confirms(&success));
        assert!(!Protocol::Appsync.confirms(&success));
    }
}

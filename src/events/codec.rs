//! The `aws-appsync-event-ws` protocol: what clients send (read at the top level first, then
//! Amplify's `payload.*` copies) and what the server answers, as the official clients (Amplify
//! JS, Swift, Kotlin) read it. Every frame is JSON text with a `type`; `id`, `channel`, `events`,
//! `authorization` and `errors` sit at the top level.

use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::operation::ErrorType;

/// A client's message.
#[derive(Debug, Clone, PartialEq)]
pub enum EventsMessage {
    /// Optional: some clients subscribe as soon as the socket is open.
    Init,
    Subscribe {
        id: String,
        channel: String,
        authorization: Option<Json>,
    },
    Unsubscribe {
        id: String,
    },
    Publish {
        id: String,
        channel: String,
        /// Each a JSON value as a string.
        events: Vec<Json>,
        authorization: Option<Json>,
    },
}

/// A frame that is not a message of the protocol: the reason, and the id it named.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub reason: String,
    pub id: Option<String>,
}

#[derive(Deserialize, Default)]
struct Payload {
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    events: Option<Vec<Json>>,
    #[serde(default)]
    extensions: Option<Extensions>,
}

#[derive(Deserialize, Default)]
struct Extensions {
    #[serde(default)]
    authorization: Option<Json>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    ConnectionInit {},
    Subscribe {
        id: String,
        #[serde(default)]
        channel: Option<String>,
        #[serde(default)]
        authorization: Option<Json>,
        #[serde(default)]
        payload: Option<Payload>,
    },
    Unsubscribe {
        id: String,
    },
    Publish {
        id: String,
        #[serde(default)]
        channel: Option<String>,
        #[serde(default)]
        events: Option<Vec<Json>>,
        #[serde(default)]
        authorization: Option<Json>,
        #[serde(default)]
        payload: Option<Payload>,
    },
}

/// Reads one text frame.
pub fn decode(text: &str) -> Result<EventsMessage, DecodeError> {
    let json: Json = serde_json::from_str(text).map_err(|_| DecodeError {
        reason: "The message is not JSON.".to_owned(),
        id: None,
    })?;
    let id = json.get("id").and_then(Json::as_str).map(str::to_owned);
    let incoming: Incoming = serde_json::from_value(json).map_err(|e| DecodeError {
        reason: format!("Invalid message: {e}"),
        id: id.clone(),
    })?;
    Ok(match incoming {
        Incoming::ConnectionInit {} => EventsMessage::Init,
        Incoming::Subscribe {
            id,
            channel,
            authorization,
            payload,
        } => {
            let (channel, authorization, _) = addressed(&id, channel, authorization, payload)?;
            EventsMessage::Subscribe {
                id,
                channel,
                authorization,
            }
        }
        Incoming::Unsubscribe { id } => EventsMessage::Unsubscribe { id },
        Incoming::Publish {
            id,
            channel,
            events,
            authorization,
            payload,
        } => {
            let (channel, authorization, payload) =
                addressed(&id, channel, authorization, payload)?;
            let events = events
                .or(payload.events)
                .ok_or_else(|| missing("events", &id))?;
            EventsMessage::Publish {
                id,
                channel,
                events,
                authorization,
            }
        }
    })
}

fn missing(what: &str, id: &str) -> DecodeError {
    DecodeError {
        reason: format!("The message has no {what}."),
        id: Some(id.to_owned()),
    }
}

/// The channel and authorization of a subscribe or publish, the top level first, then
/// Amplify's copies under `payload`; and what is left of `payload`.
fn addressed(
    id: &str,
    channel: Option<String>,
    authorization: Option<Json>,
    payload: Option<Payload>,
) -> Result<(String, Option<Json>, Payload), DecodeError> {
    let mut payload = payload.unwrap_or_default();
    let channel = channel
        .or(payload.channel.take())
        .ok_or_else(|| missing("channel", id))?;
    let authorization =
        authorization.or_else(|| payload.extensions.take().and_then(|e| e.authorization));
    Ok((channel, authorization, payload))
}

/// The path IAM clients sign every Events request for: `POST <https endpoint>/event`.
pub const SIGNED_PATH: &str = "/event";

/// The body an IAM client signed for a message the server only sees as a frame: `{}` for the
/// connect, `{"channel":…}` for a subscribe, `{"channel":…,"events":[…]}` for a publish, as
/// compact JSON with the keys in that order and the channel as the client wrote it (Amplify
/// signs `JSON.stringify` of exactly that; serde_json writes strings as it does, `/` unescaped).
pub fn signed_body(channel: Option<&str>, events: Option<&[Json]>) -> String {
    #[derive(serde::Serialize)]
    struct Signed<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        channel: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        events: Option<&'a [Json]>,
    }
    serde_json::to_string(&Signed { channel, events }).unwrap_or_default()
}

/// `{"errorType", "message"}`, as every error list carries them.
pub fn error(error_type: ErrorType, message: &str) -> Json {
    json!({"errorType": error_type.as_str(), "message": message})
}

/// `connection_ack`, with `connectionTimeoutMs` at the top level (Amplify, Kotlin) and under
/// `payload` (Swift).
pub fn connection_ack(timeout_ms: u64) -> String {
    json!({"type": "connection_ack", "connectionTimeoutMs": timeout_ms,
        "payload": {"connectionTimeoutMs": timeout_ms}})
    .to_string()
}

pub fn keep_alive() -> String {
    r#"{"type":"ka"}"#.to_owned()
}

/// A connection that cannot go on: the errors, with `errorCode` (clients read it to decide
/// not to retry).
pub fn connection_error(error_type: ErrorType, message: &str, code: u16) -> String {
    json!({"type": "connection_error", "errors": [
        {"errorType": error_type.as_str(), "message": message, "errorCode": code}
    ]})
    .to_string()
}

/// `subscribe_success`, `unsubscribe_success`.
pub fn success(kind: &str, id: &str) -> String {
    json!({"type": kind, "id": id}).to_string()
}

/// `subscribe_error`, `unsubscribe_error`, `publish_error`, `broadcast_error`, or `error` without
/// an id.
pub fn failure(kind: &str, id: Option<&str>, errors: &[Json]) -> String {
    match id {
        Some(id) => json!({"type": kind, "id": id, "errors": errors}),
        None => json!({"type": kind, "errors": errors}),
    }
    .to_string()
}

/// The start of every `data` frame of subscription `id`, made once per subscription:
/// `{"type":"data","id":"<id>","event":`.
pub fn data_prefix(id: &str) -> String {
    let id = serde_json::to_string(id).unwrap_or_default();
    format!(r#"{{"type":"data","id":{id},"event":"#)
}

/// One event for the subscription whose [`data_prefix`] is `prefix`; `event` is the JSON text
/// of a JSON string (the event's JSON, stringified, as the clients want it).
pub fn data(prefix: &str, event: &str) -> String {
    let mut frame = String::with_capacity(prefix.len() + event.len() + 1);
    frame.push_str(prefix);
    frame.push_str(event);
    frame.push('}');
    frame
}

/// What became of each event of a publish: `successful` and `failed` entries, the latter with
/// the keys both Kotlin (`code`, `message`) and Swift (`errorCode`, `errorMessage`) read.
#[derive(Debug, Default)]
pub struct Outcome {
    pub successful: Vec<Json>,
    pub failed: Vec<Json>,
}

impl Outcome {
    pub fn succeeded(&mut self, identifier: &str, index: usize) {
        self.successful
            .push(json!({"identifier": identifier, "index": index}));
    }

    pub fn failed(&mut self, identifier: &str, index: usize, code: u16, message: &str) {
        self.failed.push(
            json!({"identifier": identifier, "index": index, "code": code,
            "message": message, "errorCode": code, "errorMessage": message}),
        );
    }

    /// `publish_success` over the socket.
    pub fn frame(&self, id: &str) -> String {
        json!({"type": "publish_success", "id": id, "successful": self.successful,
            "failed": self.failed})
        .to_string()
    }

    /// The body of `POST /event`'s answer.
    pub fn body(&self) -> Json {
        json!({"successful": self.successful, "failed": self.failed})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_bodies_are_what_amplify_stringifies() {
        assert_eq!(signed_body(None, None), "{}");
        assert_eq!(
            signed_body(Some("/default/a"), None),
            r#"{"channel":"/default/a"}"#
        );
        // JSON.stringify({channel, events}) of events Amplify already stringified: slashes
        // as they are, quotes and backslashes escaped, non-ASCII raw.
        let events = [json!(r#"{"p":"a/b","q":"\"é\\"}"#)];
        assert_eq!(
            signed_body(Some("/default/a"), Some(&events)),
            r#"{"channel":"/default/a","events":["{\"p\":\"a/b\",\"q\":\"\\\"é\\\\\"}"]}"#
        );
    }

    #[test]
    fn top_level_fields_first_then_amplifys_payload_copies() {
        let swift = r#"{"type":"subscribe","id":"s1","channel":"/default/a","authorization":{"x-api-key":"k"}}"#;
        assert_eq!(
            decode(swift).unwrap(),
            EventsMessage::Subscribe {
                id: "s1".into(),
                channel: "/default/a".into(),
                authorization: Some(json!({"x-api-key": "k"}))
            }
        );
        let amplify = r#"{"type":"publish","id":"p1","payload":{"channel":"/default/a","events":["{\"a\":1}"],"extensions":{"authorization":{"x-api-key":"k"}}}}"#;
        assert_eq!(
            decode(amplify).unwrap(),
            EventsMessage::Publish {
                id: "p1".into(),
                channel: "/default/a".into(),
                events: vec![json!("{\"a\":1}")],
                authorization: Some(json!({"x-api-key": "k"}))
            }
        );
        assert_eq!(
            decode(r#"{"type":"connection_init"}"#).unwrap(),
            EventsMessage::Init
        );
        let error = decode(r#"{"type":"subscribe","id":"s2"}"#).unwrap_err();
        assert_eq!(error.id.as_deref(), Some("s2"));
        assert!(decode("nope").is_err());
        assert!(decode(r#"{"type":"start","id":"x"}"#).is_err());
    }

    #[test]
    fn frames_have_the_shapes_the_clients_read() {
        let ack: Json = serde_json::from_str(&connection_ack(300000)).unwrap();
        assert_eq!(ack["connectionTimeoutMs"], 300000);
        assert_eq!(ack["payload"]["connectionTimeoutMs"], 300000);
        let data: Json =
            serde_json::from_str(&data(&data_prefix("s\"1"), r#""{\"a\":1}""#)).unwrap();
        assert_eq!(
            data,
            json!({"type": "data", "id": "s\"1", "event": "{\"a\":1}"})
        );
        let mut outcome = Outcome::default();
        outcome.succeeded("u1", 0);
        outcome.failed("u2", 1, 400, "bad");
        let frame: Json = serde_json::from_str(&outcome.frame("p")).unwrap();
        assert_eq!(
            frame["successful"][0],
            json!({"identifier": "u1", "index": 0})
        );
        assert_eq!(frame["failed"][0]["errorCode"], 400);
        assert_eq!(frame["failed"][0]["code"], 400);
    }
}

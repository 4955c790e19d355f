//! The `aws-appsync-event-ws` protocol (AppSync Events on `/event/realtime`): what clients send
//! (read at the top level first, then Amplify's `payload.*` copies) and what the server answers,
//! as the official clients (Amplify JS, Swift, Kotlin) read it. Every frame is JSON text with a
//! `type`; `id`, `channel`, `events`, `authorization` and `errors` sit at the top level.
//!
//! Beyond AWS's protocol, and ignored by its clients (they skip fields they do not know):
//! `subscribe` takes `resume: {epoch, offset}` or `replay: {last}` / `{since}` as the GraphQL
//! protocols take them in `extensions`; `subscribe_success` carries the stream's state and every
//! `data` message its position, each as `stream`.
//!
//! Where AWS documents no answer, the nearest documented shape: a bad `subscribe` is a
//! `subscribe_error` with its id (a bad `publish` a `publish_error`, a bad `unsubscribe` an
//! `unsubscribe_error`); a reused live id a `subscribe_error` (`DuplicatedOperationError`) that
//! leaves the first subscription as it was; a frame that is not JSON text (binary included) an
//! `error` without id; a subscription the server ends (its stream lost events, an oversized
//! event) a `subscribe_error` with its id, as a subscription that did not start.

use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::{ClientMessage, DecodeError, Encoded, Fault, Malformation, Reply, decode_as};
use crate::events::Outcome;
use crate::operation::{ErrorType, GraphqlError};

/// The subprotocol, answered exactly (never the `header-…` value beside it).
pub const SUBPROTOCOL: &str = "aws-appsync-event-ws";

/// The path IAM clients sign every Events request for: `POST <https endpoint>/event`.
pub const SIGNED_PATH: &str = "/event";

/// The message types a client sends.
const CLIENT_TYPES: [&str; 4] = ["connection_init", "subscribe", "unsubscribe", "publish"];

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
        #[serde(default)]
        resume: Option<Json>,
        #[serde(default)]
        replay: Option<Json>,
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
pub fn decode(text: &str) -> Result<ClientMessage, DecodeError> {
    let (incoming, _) = decode_as::<Incoming>(text, &CLIENT_TYPES)?;
    Ok(match incoming {
        Incoming::ConnectionInit {} => ClientMessage::Init { payload: None },
        Incoming::Subscribe {
            id,
            channel,
            authorization,
            payload,
            resume,
            replay,
        } => {
            let (channel, authorization, _) =
                addressed("subscribe", &id, channel, authorization, payload)?;
            let mut opening = serde_json::Map::new();
            opening.extend(resume.map(|resume| ("resume".to_owned(), resume)));
            opening.extend(replay.map(|replay| ("replay".to_owned(), replay)));
            ClientMessage::SubscribeChannel {
                id,
                channel,
                authorization,
                opening: (!opening.is_empty()).then_some(Json::Object(opening)),
            }
        }
        Incoming::Unsubscribe { id } => ClientMessage::Stop { id },
        Incoming::Publish {
            id,
            channel,
            events,
            authorization,
            payload,
        } => {
            let (channel, authorization, payload) =
                addressed("publish", &id, channel, authorization, payload)?;
            let events = events
                .or(payload.events)
                .ok_or_else(|| missing("publish", "events", &id))?;
            ClientMessage::Publish {
                id,
                channel,
                events,
                authorization,
            }
        }
    })
}

fn missing(of: &'static str, what: &str, id: &str) -> DecodeError {
    DecodeError {
        reason: format!("The message has no {what}."),
        id: Some(id.to_owned()),
        kind: Malformation::BadFields,
        of: Some(of),
    }
}

/// The channel and authorization of a subscribe or publish, the top level first, then
/// Amplify's copies under `payload`; and what is left of `payload`.
fn addressed(
    of: &'static str,
    id: &str,
    channel: Option<String>,
    authorization: Option<Json>,
    payload: Option<Payload>,
) -> Result<(String, Option<Json>, Payload), DecodeError> {
    let mut payload = payload.unwrap_or_default();
    let channel = channel
        .or(payload.channel.take())
        .ok_or_else(|| missing(of, "channel", id))?;
    let authorization =
        authorization.or_else(|| payload.extensions.take().and_then(|e| e.authorization));
    Ok((channel, authorization, payload))
}

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
fn error_json(error: &GraphqlError) -> Json {
    let error_type = error.error_type.unwrap_or(ErrorType::BadRequestException);
    json!({"errorType": error_type.as_str(), "message": &error.message})
}

/// `<kind>` with `id` (when there is one) and one error.
fn failure(kind: &str, id: Option<&str>, error_type: ErrorType, message: &str) -> Encoded {
    failures(kind, id, &[GraphqlError::new(Some(error_type), message)])
}

/// `subscribe_error`, `unsubscribe_error`, `publish_error`, or `error` without an id.
fn failures(kind: &str, id: Option<&str>, errors: &[GraphqlError]) -> Encoded {
    let errors: Vec<Json> = errors.iter().map(error_json).collect();
    Encoded::frame(
        match id {
            Some(id) => json!({"type": kind, "id": id, "errors": errors}),
            None => json!({"type": kind, "errors": errors}),
        }
        .to_string(),
    )
}

/// A connection that cannot go on: `connection_error` with `errorCode` (clients read it to
/// decide not to retry), then a close (the service closes with 1000 even on failure).
fn connection_error(error_type: ErrorType, message: &str, code: u16) -> Encoded {
    Encoded::frame(
        json!({"type": "connection_error", "errors": [
            {"errorType": error_type.as_str(), "message": message, "errorCode": code}
        ]})
        .to_string(),
    )
    .then_close(1000, "connection error")
}

/// One `data` frame: `{"type":"data","id":…,"event":<body>,"stream":{…}}`, where `body` is
/// the JSON text of a JSON string (the event's JSON, stringified, as the clients want it).
fn data(id: &str, body: &str, at: Option<super::At<'_>>) -> String {
    let id = serde_json::to_string(id).unwrap_or_default();
    let mut frame = String::with_capacity(body.len() + id.len() + 96);
    frame.push_str(r#"{"type":"data","id":"#);
    frame.push_str(&id);
    frame.push_str(r#","event":"#);
    frame.push_str(body);
    if let Some(at) = at {
        frame.push_str(r#","stream":"#);
        frame.push_str(&at.to_json().to_string());
    }
    frame.push('}');
    frame
}

pub fn encode(reply: Reply<'_>) -> Encoded {
    match reply {
        // `connectionTimeoutMs` at the top level (Amplify, Kotlin) and under `payload` (Swift);
        // the first `ka` right after, as the service sends it.
        Reply::Ack {
            connection_timeout_ms,
        } => super::ack_then_keep_alive(
            json!({"type": "connection_ack", "connectionTimeoutMs": connection_timeout_ms,
                "payload": {"connectionTimeoutMs": connection_timeout_ms}}),
        ),
        Reply::KeepAlive => Encoded::frame(r#"{"type":"ka"}"#.to_owned()),
        Reply::Pong(_) => Encoded::default(),
        Reply::Subscribed { id, stream } => Encoded::frame(
            match stream {
                Some(stream) => json!({"type": "subscribe_success", "id": id, "stream": stream}),
                None => json!({"type": "subscribe_success", "id": id}),
            }
            .to_string(),
        ),
        Reply::Data { id, body, at } => Encoded::frame(data(id, body, at)),
        Reply::OperationError { id, errors } => failures("subscribe_error", Some(id), errors),
        Reply::Stopped(id) | Reply::Ended(id) => {
            Encoded::frame(json!({"type": "unsubscribe_success", "id": id}).to_string())
        }
        Reply::Published { id, outcome } => Encoded::frame(published(id, outcome)),
        Reply::PublishRefused { id, errors } => failures("publish_error", Some(id), errors),
        Reply::Fault(fault) => match fault {
            Fault::InvalidMessage { reason, id, of, .. } => {
                let kind = match (of, &id) {
                    (Some("subscribe"), Some(_)) => "subscribe_error",
                    (Some("publish"), Some(_)) => "publish_error",
                    (Some("unsubscribe"), Some(_)) => "unsubscribe_error",
                    _ => "error",
                };
                failure(kind, id.as_deref(), ErrorType::BadRequestException, &reason)
            }
            Fault::Unauthorized(reason) => {
                connection_error(ErrorType::UnauthorizedException, &reason, 401)
            }
            Fault::BadHandshake(reason) => {
                connection_error(ErrorType::UnauthorizedException, &reason, 401)
            }
            Fault::NoSubprotocol => connection_error(
                ErrorType::BadRequestException,
                "Offer the aws-appsync-event-ws subprotocol.",
                400,
            ),
            Fault::Forbidden(reason) => {
                connection_error(ErrorType::BadRequestException, &reason, 403)
            }
            Fault::TooManyRequests(reason) => {
                connection_error(ErrorType::LimitExceededError, &reason, 429)
            }
            Fault::NotAcknowledged { id } => failure(
                "subscribe_error",
                Some(&id),
                ErrorType::UnauthorizedException,
                "You are not authorized to make this call.",
            ),
            Fault::DuplicateId(id) => failure(
                "subscribe_error",
                Some(&id),
                ErrorType::DuplicatedOperationError,
                &format!("Duplicated operation with id {id}: it is already subscribed"),
            ),
            Fault::UnknownId(id) => failure(
                "unsubscribe_error",
                Some(&id),
                ErrorType::UnknownOperationError,
                &format!("Unknown operation id {id}"),
            ),
            // A repeated `connection_init` is ignored; the protocol has no init deadline.
            Fault::TooManyInits | Fault::InitTimeout => Encoded::default(),
            Fault::Closing(closing) => closing.encode(),
        },
    }
}

/// `publish_success` over the socket.
fn published(id: &str, outcome: &Outcome) -> String {
    json!({"type": "publish_success", "id": id, "successful": outcome.successful,
        "failed": outcome.failed})
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::Message;

    fn frame(encoded: Encoded) -> Json {
        match &encoded.frames[..] {
            [Message::Text(text)] => serde_json::from_str(text).unwrap(),
            other => panic!("one text frame: {other:?}"),
        }
    }

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
            ClientMessage::SubscribeChannel {
                id: "s1".into(),
                channel: "/default/a".into(),
                authorization: Some(json!({"x-api-key": "k"})),
                opening: None,
            }
        );
        let amplify = r#"{"type":"publish","id":"p1","payload":{"channel":"/default/a","events":["{\"a\":1}"],"extensions":{"authorization":{"x-api-key":"k"}}}}"#;
        assert_eq!(
            decode(amplify).unwrap(),
            ClientMessage::Publish {
                id: "p1".into(),
                channel: "/default/a".into(),
                events: vec![json!("{\"a\":1}")],
                authorization: Some(json!({"x-api-key": "k"}))
            }
        );
        assert_eq!(
            decode(r#"{"type":"connection_init"}"#).unwrap(),
            ClientMessage::Init { payload: None }
        );
        assert_eq!(
            decode(r#"{"type":"unsubscribe","id":"s1"}"#).unwrap(),
            ClientMessage::Stop { id: "s1".into() }
        );
        let resumed =
            r#"{"type":"subscribe","id":"s","channel":"/d/a","resume":{"epoch":"E","offset":3}}"#;
        let ClientMessage::SubscribeChannel { opening, .. } = decode(resumed).unwrap() else {
            panic!("a subscribe");
        };
        assert_eq!(
            opening,
            Some(json!({"resume": {"epoch": "E", "offset": 3}}))
        );
    }

    #[test]
    fn bad_messages_are_answered_in_the_shape_of_their_type() {
        let answer = |text: &str| {
            let error = decode(text).unwrap_err();
            frame(encode(Reply::Fault(Fault::InvalidMessage {
                reason: error.reason,
                id: error.id,
                kind: error.kind,
                of: error.of,
            })))
        };
        let no_channel = answer(r#"{"type":"subscribe","id":"s2"}"#);
        assert_eq!(no_channel["type"], "subscribe_error");
        assert_eq!(no_channel["id"], "s2");
        assert_eq!(no_channel["errors"][0]["errorType"], "BadRequestException");
        let no_events = answer(r#"{"type":"publish","id":"p","channel":"/d/a"}"#);
        assert_eq!(
            (&no_events["type"], &no_events["id"]),
            (&json!("publish_error"), &json!("p"))
        );
        for unroutable in ["nope", r#"{"type":"start","id":"x"}"#, "[1]"] {
            assert_eq!(answer(unroutable)["type"], "error", "{unroutable}");
        }
    }

    #[test]
    fn frames_have_the_shapes_the_clients_read() {
        let ack = encode(Reply::Ack {
            connection_timeout_ms: 300000,
        });
        let Message::Text(first) = &ack.frames[0] else {
            panic!("text");
        };
        let ack: Json = serde_json::from_str(first).unwrap();
        assert_eq!(ack["connectionTimeoutMs"], 300000);
        assert_eq!(ack["payload"]["connectionTimeoutMs"], 300000);
        let at = super::super::At {
            epoch: "E",
            offset: 4,
        };
        let data = frame(encode(Reply::Data {
            id: "s\"1",
            body: r#""{\"a\":1}""#,
            at: Some(at),
        }));
        assert_eq!(
            data,
            json!({"type": "data", "id": "s\"1", "event": "{\"a\":1}",
                "stream": {"epoch": "E", "offset": 4}})
        );
        let mut outcome = Outcome::default();
        outcome.succeeded("u1", 0);
        outcome.failed("u2", 1, 400, "bad");
        let frame = frame(encode(Reply::Published {
            id: "p",
            outcome: &outcome,
        }));
        assert_eq!(
            frame["successful"][0],
            json!({"identifier": "u1", "index": 0})
        );
        assert_eq!(frame["failed"][0]["errorCode"], 400);
        assert_eq!(frame["failed"][0]["code"], 400);
    }
}

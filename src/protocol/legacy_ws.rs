//! subscriptions-transport-ws, Apollo's legacy protocol (subprotocol `graphql-ws`), as its
//! PROTOCOL.md and reference server behave: bad input gets an `error` message and the connection
//! stays; rejected credentials get `connection_error`; the server sends `ka` keep-alives and
//! answers `stop` with `complete`.

use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::{
    ClientMessage, DecodeError, Encoded, Fault, Reply, decode_as, with_payload, with_position,
};
use crate::operation::{GraphqlError, GraphqlRequest};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Json>,
    },
    Start {
        id: String,
        payload: GraphqlRequest,
    },
    Stop {
        id: String,
    },
    ConnectionTerminate {},
}

pub fn decode(text: &str) -> Result<ClientMessage, DecodeError> {
    let (message, _) = decode_as::<Incoming>(
        text,
        &["connection_init", "start", "stop", "connection_terminate"],
    )?;
    Ok(match message {
        Incoming::ConnectionInit { payload } => ClientMessage::Init { payload },
        Incoming::Start { id, payload } => ClientMessage::Subscribe {
            id,
            request: Box::new(payload),
            authorization: None,
            data: None,
        },
        Incoming::Stop { id } => ClientMessage::Stop { id },
        Incoming::ConnectionTerminate {} => ClientMessage::Terminate,
    })
}

/// `{"type":"error","id"?,"payload":{"message":...}}`, the reference server's shape for a message
/// it cannot handle.
fn error_message(id: Option<&str>, message: &str) -> Encoded {
    let mut frame = json!({"type": "error", "payload": {"message": message}});
    if let Some(id) = id {
        frame["id"] = json!(id);
    }
    Encoded::frame(frame.to_string())
}

fn connection_error(message: &str) -> Encoded {
    Encoded::frame(json!({"type": "connection_error", "payload": {"message": message}}).to_string())
}

pub fn encode(reply: Reply<'_>) -> Encoded {
    match reply {
        // The reference server sends its first `ka` right after the ack.
        Reply::Ack { .. } => Encoded {
            frames: vec![
                axum::extract::ws::Message::Text(r#"{"type":"connection_ack"}"#.into()),
                axum::extract::ws::Message::Text(r#"{"type":"ka"}"#.into()),
            ],
            close: None,
        },
        Reply::KeepAlive => Encoded::frame(r#"{"type":"ka"}"#.to_owned()),
        Reply::Pong(_)
        | Reply::Subscribed {
            id: _,
            stream: None,
        } => Encoded::default(),
        Reply::Subscribed {
            id,
            stream: Some(stream),
        } => Encoded::frame(with_payload("data", id, &super::stream_summary(stream))),
        Reply::Data { id, body, at } => {
            Encoded::frame(with_payload("data", id, &with_position(body, at)))
        }
        // AppSync Events' own replies; no GraphQL client publishes over its socket.
        Reply::Published { .. } | Reply::PublishRefused { .. } => Encoded::default(),
        Reply::OperationError { id, errors } => {
            let errors = Json::Array(errors.iter().map(GraphqlError::to_standard_json).collect());
            Encoded::frame(with_payload("error", id, &errors.to_string()))
        }
        Reply::Stopped(id) | Reply::Ended(id) => {
            Encoded::frame(json!({"type": "complete", "id": id}).to_string())
        }
        Reply::Fault(fault) => match fault {
            Fault::InvalidMessage { reason, id, .. } => error_message(id.as_deref(), &reason),
            Fault::BadHandshake(reason) => {
                connection_error(&reason).then_close(4400, "Bad request")
            }
            Fault::NoSubprotocol => Encoded::close(4406, "Subprotocol not acceptable"),
            Fault::Forbidden(reason) => connection_error(&reason).then_close(4403, "Forbidden"),
            Fault::TooManyRequests(reason) => {
                connection_error(&reason).then_close(4429, "Too many requests")
            }
            Fault::Unauthorized(reason) => connection_error(&reason).then_close(4403, "Forbidden"),
            Fault::NotAcknowledged { id } => {
                error_message(Some(&id), "send connection_init before start")
            }
            Fault::UnknownId(_) => Encoded::default(),
            Fault::DuplicateId(id) => {
                error_message(Some(&id), "an operation with this id is already active")
            }
            Fault::TooManyInits => error_message(None, "the connection is already initialised"),
            Fault::InitTimeout => connection_error("connection initialisation timeout")
                .then_close(4408, "Connection initialisation timeout"),
            Fault::Closing(closing) => closing.encode(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_start_stop_and_terminate() {
        let start = decode(r#"{"type":"start","id":"7","payload":{"query":"subscription{a}","variables":{"x":1}}}"#)
            .unwrap();
        assert!(matches!(start, ClientMessage::Subscribe { ref id, .. } if id == "7"));
        assert_eq!(
            decode(r#"{"type":"stop","id":"7"}"#).unwrap(),
            ClientMessage::Stop { id: "7".into() }
        );
        assert_eq!(
            decode(r#"{"type":"connection_terminate"}"#).unwrap(),
            ClientMessage::Terminate
        );
    }

    #[test]
    fn unknown_type_keeps_the_id_for_the_error() {
        let err = decode(r#"{"type":"subscribe","id":"9"}"#).unwrap_err();
        assert_eq!(err.id.as_deref(), Some("9"));
        let Encoded { frames, close } = encode(Reply::Fault(Fault::InvalidMessage {
            reason: err.reason,
            id: err.id,
            kind: err.kind,
            of: err.of,
        }));
        assert!(close.is_none(), "legacy keeps the connection");
        let axum::extract::ws::Message::Text(text) = &frames[0] else {
            panic!()
        };
        let frame: Json = serde_json::from_str(text).unwrap();
        assert_eq!(
            (frame["type"].as_str(), frame["id"].as_str()),
            (Some("error"), Some("9"))
        );
    }
}

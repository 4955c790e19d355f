//! graphql-transport-ws, as the `graphql-ws` library specifies it (PROTOCOL.md): bad input and
//! protocol violations close the socket with a 44xx code; operation errors are `error` messages.

use axum::extract::ws::Message;
use serde::Deserialize;
use serde_json::Value as Json;

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
    Ping {
        #[serde(default)]
        payload: Option<Json>,
    },
    Pong {},
    Subscribe {
        id: String,
        payload: GraphqlRequest,
    },
    Complete {
        id: String,
    },
}

pub fn decode(text: &str) -> Result<ClientMessage, DecodeError> {
    let (message, _) = decode_as::<Incoming>(
        text,
        &["connection_init", "ping", "pong", "subscribe", "complete"],
    )?;
    Ok(match message {
        Incoming::ConnectionInit { payload } => ClientMessage::Init { payload },
        Incoming::Ping { payload } => ClientMessage::Ping { payload },
        Incoming::Pong {} => ClientMessage::Pong,
        Incoming::Subscribe { id, payload } => ClientMessage::Subscribe {
            id,
            request: Box::new(payload),
            authorization: None,
            data: None,
        },
        Incoming::Complete { id } => ClientMessage::Stop { id },
    })
}

fn errors_json(errors: &[GraphqlError]) -> String {
    Json::Array(errors.iter().map(GraphqlError::to_standard_json).collect()).to_string()
}

pub fn encode(reply: Reply<'_>) -> Encoded {
    match reply {
        Reply::Ack { .. } => Encoded::frame(r#"{"type":"connection_ack"}"#.to_owned()),
        // The protocol's keep-alive is the WebSocket ping, which every client answers by itself.
        Reply::KeepAlive => Encoded {
            frames: vec![Message::Ping(Default::default())],
            close: None,
        },
        Reply::Pong(payload) => Encoded::frame(match payload {
            Some(p) => serde_json::json!({"type": "pong", "payload": p}).to_string(),
            None => r#"{"type":"pong"}"#.to_owned(),
        }),
        // graphql-transport-ws has no acknowledgement per subscription, and no reply to `complete`.
        Reply::Subscribed { stream: None, .. } | Reply::Stopped(_) => Encoded::default(),
        Reply::Ended(id) => {
            Encoded::frame(serde_json::json!({"id": id, "type": "complete"}).to_string())
        }
        Reply::Subscribed {
            id,
            stream: Some(stream),
        } => Encoded::frame(with_payload("next", id, &super::stream_summary(stream))),
        Reply::Data { id, body, at } => {
            Encoded::frame(with_payload("next", id, &with_position(body, at)))
        }
        // AppSync Events' own replies; no GraphQL client publishes over its socket.
        Reply::Published { .. } | Reply::PublishRefused { .. } => Encoded::default(),
        Reply::OperationError { id, errors } => {
            Encoded::frame(with_payload("error", id, &errors_json(errors)))
        }
        Reply::Fault(fault) => match fault {
            Fault::InvalidMessage { reason, .. } => Encoded::close(4400, &reason),
            Fault::Unauthorized(_) => Encoded::close(4403, "Forbidden"),
            Fault::BadHandshake(reason) => Encoded::close(4400, &reason),
            Fault::NoSubprotocol => Encoded::close(4406, "Subprotocol not acceptable"),
            Fault::Forbidden(reason) => Encoded::close(4403, &reason),
            Fault::TooManyRequests(reason) => Encoded::close(4429, &reason),
            Fault::NotAcknowledged { .. } => Encoded::close(4401, "Unauthorized"),
            Fault::UnknownId(_) => Encoded::default(),
            Fault::DuplicateId(id) => {
                Encoded::close(4409, &format!("Subscriber for {id} already exists"))
            }
            Fault::TooManyInits => Encoded::close(4429, "Too many initialisation requests"),
            Fault::InitTimeout => Encoded::close(4408, "Connection initialisation timeout"),
            Fault::Closing(closing) => closing.encode(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_client_messages() {
        assert_eq!(
            decode(r#"{"type":"connection_init"}"#).unwrap(),
            ClientMessage::Init { payload: None }
        );
        let sub = decode(r#"{"type":"subscribe","id":"1","payload":{"query":"subscription{a}","operationName":"X"}}"#)
            .unwrap();
        let ClientMessage::Subscribe { id, request, .. } = sub else {
            panic!("{sub:?}");
        };
        assert_eq!(
            (id.as_str(), request.operation_name.as_deref()),
            ("1", Some("X"))
        );
        assert_eq!(
            decode(r#"{"type":"complete","id":"1"}"#).unwrap(),
            ClientMessage::Stop { id: "1".into() }
        );
    }

    #[test]
    fn bad_input_is_a_decode_error() {
        for bad in [
            "nope",
            "[]",
            r#"{"type":"what"}"#,
            r#"{"type":"subscribe","payload":{"query":""}}"#,
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn faults_close_with_the_spec_codes() {
        let code = |fault| encode(Reply::Fault(fault)).close.unwrap().code;
        assert_eq!(
            code(Fault::InvalidMessage {
                reason: "x".into(),
                id: None,
                kind: crate::protocol::Malformation::BadFields,
                of: None,
            }),
            4400
        );
        assert_eq!(code(Fault::Unauthorized("x".into())), 4403);
        assert_eq!(code(Fault::NotAcknowledged { id: "1".into() }), 4401);
        assert_eq!(code(Fault::DuplicateId("1".into())), 4409);
        assert_eq!(code(Fault::TooManyInits), 4429);
        assert_eq!(code(Fault::InitTimeout), 4408);
    }
}

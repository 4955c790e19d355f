//! AWS AppSync's real-time protocol, as Amplify JS, Apollo's AppSync link, gql and the mobile
//! SDKs speak it (AppSync's "Building a real-time WebSocket client" guide; `docs/protocols.md`
//! says how Switchboard answers):
//!
//! - `start` carries the GraphQL request as a JSON *string* in `payload.data`, and its own
//!   credentials in `payload.extensions.authorization`;
//! - the server answers `start_ack` once the subscription is live, `data` with a non-null
//!   `payload.data`, `complete` after `stop`, and `ka` keep-alives from the `connection_ack` on;
//! - errors are `{"errors":[{"errorType", "message"}]}`: per subscription with its `id`, and
//!   `connection_error` with a numeric `errorCode` for the connection. Only an unknown message
//!   type gets an `error` without an id, as from AppSync itself.

mod wording;

use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::{
    ClientMessage, DecodeError, Encoded, Fault, Malformation, Reply, decode_as, with_payload,
    with_position,
};
use crate::operation::{ErrorType, GraphqlError, GraphqlRequest};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Json>,
    },
    Start {
        id: String,
        payload: StartPayload,
    },
    Stop {
        id: String,
    },
}

#[derive(Deserialize)]
struct StartPayload {
    /// The request, JSON-encoded into a string (an object is accepted too).
    data: Json,
    #[serde(default)]
    extensions: Option<StartExtensions>,
}

#[derive(Deserialize)]
struct StartExtensions {
    #[serde(default)]
    authorization: Option<Json>,
    /// Anything else (`resume`, `replay`): the request's extensions, unless `data` has its own.
    #[serde(flatten)]
    rest: serde_json::Map<String, Json>,
}

pub fn decode(text: &str) -> Result<ClientMessage, DecodeError> {
    let (message, _) = decode_as::<Incoming>(text, &["connection_init", "start", "stop"])?;
    Ok(match message {
        Incoming::ConnectionInit { payload } => ClientMessage::Init { payload },
        Incoming::Start { id, payload } => {
            let raw = match &payload.data {
                Json::String(data) => Some(data.clone()),
                _ => None,
            };
            let mut request = match payload.data {
                Json::String(data) => serde_json::from_str::<GraphqlRequest>(&data),
                object => serde_json::from_value::<GraphqlRequest>(object),
            }
            .map_err(|e| DecodeError {
                reason: format!("payload.data is not a GraphQL request: {e}"),
                id: Some(id.clone()),
                kind: Malformation::BadFields,
                of: Some("start"),
            })?;
            let extensions = payload.extensions;
            let authorization = extensions.as_ref().and_then(|e| e.authorization.clone());
            if let Some(rest) = extensions.map(|e| e.rest).filter(|rest| !rest.is_empty())
                && request.extensions.is_none()
            {
                request.extensions = Some(Json::Object(rest));
            }
            ClientMessage::Subscribe {
                id,
                request: Box::new(request),
                authorization,
                data: raw,
            }
        }
        Incoming::Stop { id: stop } => ClientMessage::Stop { id: stop },
    })
}

/// One AppSync error object: `errorType` at the top level, validation messages in AppSync's
/// words, and `BadRequestException` for errors that have no type of their own.
fn error_json(error: &GraphqlError, id: &str) -> Json {
    let error_type = error.error_type.unwrap_or(ErrorType::BadRequestException);
    let message = match error_type {
        ErrorType::DuplicatedOperationError => format!("Duplicated operation with id {id}"),
        _ => wording::appsync_message(&error.message),
    };
    let mut json = json!({"errorType": error_type.as_str(), "message": message});
    if !error.locations.is_empty() {
        json["locations"] = json!(error.locations);
    }
    json
}

fn errors_payload(errors: impl IntoIterator<Item = Json>) -> String {
    json!({"errors": errors.into_iter().collect::<Vec<_>>()}).to_string()
}

/// A per-subscription `error`.
fn subscription_error(id: &str, error_type: ErrorType, message: &str) -> Encoded {
    let error = GraphqlError::new(Some(error_type), message);
    Encoded::frame(with_payload(
        "error",
        id,
        &errors_payload([error_json(&error, id)]),
    ))
}

/// An `error` without an id: AppSync's answer to a message it cannot route.
fn connection_level_error(error_type: ErrorType, message: &str) -> Encoded {
    Encoded::frame(
        json!({"type": "error", "payload": {"errors": [{"errorType": error_type, "message": message}]}})
            .to_string(),
    )
}

/// `connection_error` (errors an array, element 0 with a numeric `errorCode`, which Amplify
/// reads to decide not to retry), then a policy-violation close.
fn connection_error(error_type: ErrorType, message: &str, code: u16) -> Encoded {
    Encoded::frame(
        json!({"type": "connection_error", "payload": {"errors": [
            {"errorType": error_type, "message": message, "errorCode": code}
        ]}})
        .to_string(),
    )
    .then_close(1008, message)
}

pub fn encode(reply: Reply<'_>) -> Encoded {
    match reply {
        // AppSync sends its first `ka` right after the ack; clients arm their timers on it.
        Reply::Ack {
            connection_timeout_ms,
        } => super::ack_then_keep_alive(
            json!({"type": "connection_ack", "payload": {"connectionTimeoutMs": connection_timeout_ms}}),
        ),
        Reply::KeepAlive => Encoded::frame(r#"{"type":"ka"}"#.to_owned()),
        Reply::Pong(_) => Encoded::default(),
        Reply::Subscribed { id, stream: None } => {
            Encoded::frame(json!({"type": "start_ack", "id": id}).to_string())
        }
        // Amplify ignores `start_ack`'s payload; a client that asked for positions reads it.
        Reply::Subscribed {
            id,
            stream: Some(stream),
        } => Encoded::frame(
            json!({"type": "start_ack", "id": id, "payload": {"extensions": {"stream": stream}}})
                .to_string(),
        ),
        Reply::Data { id, body, at } => {
            Encoded::frame(with_payload("data", id, &with_position(body, at)))
        }
        // AppSync Events' own replies; no GraphQL client publishes over its socket.
        Reply::Published { .. } | Reply::PublishRefused { .. } => Encoded::default(),
        Reply::OperationError { id, errors } => Encoded::frame(with_payload(
            "error",
            id,
            &errors_payload(errors.iter().map(|e| error_json(e, id))),
        )),
        Reply::Stopped(id) | Reply::Ended(id) => {
            Encoded::frame(json!({"type": "complete", "id": id}).to_string())
        }
        Reply::Fault(fault) => match fault {
            Fault::InvalidMessage {
                reason, id, kind, ..
            } => match (kind, id) {
                (Malformation::BadFields, Some(id)) => {
                    subscription_error(&id, ErrorType::BadRequestException, &reason)
                }
                (Malformation::BadFields, None) => {
                    connection_level_error(ErrorType::BadRequestException, &reason)
                }
                (Malformation::NotJson | Malformation::UnknownType, _) => connection_level_error(
                    ErrorType::UnsupportedOperation,
                    "unknown not supported through the realtime channel",
                ),
            },
            Fault::Unauthorized(reason) => {
                connection_error(ErrorType::UnauthorizedException, &reason, 401)
            }
            Fault::BadHandshake(reason) => {
                connection_error(ErrorType::BadRequestException, &reason, 400)
            }
            Fault::Forbidden(reason) => {
                connection_error(ErrorType::UnauthorizedException, &reason, 403)
            }
            Fault::TooManyRequests(reason) => {
                connection_error(ErrorType::LimitExceededError, &reason, 429)
            }
            Fault::NoSubprotocol => connection_error(
                ErrorType::BadRequestException,
                "NoProtocolError: offer the graphql-ws subprotocol",
                400,
            ),
            Fault::NotAcknowledged { id } => subscription_error(
                &id,
                ErrorType::BadRequestException,
                "send connection_init and wait for connection_ack before start",
            ),
            // AppSync replaces a subscription whose id is reused, and acknowledges a repeated
            // `connection_init`; the session never reports these for this protocol.
            Fault::UnknownId(_) => Encoded::default(),
            Fault::DuplicateId(id) => subscription_error(
                &id,
                ErrorType::DuplicatedOperationError,
                "Duplicated operation",
            ),
            Fault::TooManyInits => Encoded::default(),
            Fault::InitTimeout => connection_error(
                ErrorType::BadRequestException,
                "connection_init was not received in time",
                400,
            ),
            Fault::Closing(closing) => closing.encode(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::Message;

    fn frames(encoded: Encoded) -> Vec<Json> {
        encoded
            .frames
            .iter()
            .map(|m| match m {
                Message::Text(t) => serde_json::from_str(t).unwrap(),
                other => panic!("not text: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn start_carries_a_json_string_and_its_own_authorization() {
        let text = r#"{"id":"u1","type":"start","payload":{"data":"{\"query\":\"subscription { a }\"}","extensions":{"authorization":{"x-api-key":"k"}}}}"#;
        let ClientMessage::Subscribe {
            id,
            request,
            authorization,
            ..
        } = decode(text).unwrap()
        else {
            panic!()
        };
        assert_eq!(id, "u1");
        assert_eq!(request.query, "subscription { a }");
        assert_eq!(request.variables, None);
        assert_eq!(authorization.unwrap()["x-api-key"], "k");
    }

    #[test]
    fn bad_data_is_an_error_for_that_id() {
        let err =
            decode(r#"{"id":"x","type":"start","payload":{"data":"{not json"}}"#).unwrap_err();
        assert_eq!(
            (err.id.as_deref(), err.kind),
            (Some("x"), Malformation::BadFields)
        );
        let unknown = decode(r#"{"id":"x","type":"subscribe"}"#).unwrap_err();
        assert_eq!(unknown.kind, Malformation::UnknownType);
        let frame = &frames(encode(Reply::Fault(Fault::InvalidMessage {
            reason: unknown.reason,
            id: unknown.id,
            kind: unknown.kind,
            of: unknown.of,
        })))[0];
        assert!(frame.get("id").is_none(), "{frame}");
        assert_eq!(
            frame["payload"]["errors"][0]["errorType"],
            "UnsupportedOperation"
        );
    }

    #[test]
    fn connection_error_has_an_array_and_a_code() {
        let encoded = encode(Reply::Fault(Fault::Unauthorized("no".into())));
        assert_eq!(encoded.close.as_ref().map(|c| c.code), Some(1008));
        let frame = &frames(encoded)[0];
        assert_eq!(frame["type"], "connection_error");
        assert_eq!(frame["payload"]["errors"][0]["errorCode"], 401);
        assert_eq!(
            frame["payload"]["errors"][0]["errorType"],
            "UnauthorizedException"
        );
    }
}

//! Fuzz targets for every parser of untrusted input in Switchboard.
//!
//! Each target is a `fn(&[u8])` that hands the bytes to the real parser in the `switchboard`
//! library (and, where it is cheap, to what the server does next with the result). A target
//! must never panic, whatever the input: a panic in any of these parsers is a connection, or
//! the whole server task, taken down by a stranger's bytes.
//!
//! Two engines run the same targets:
//! - [`driver`], on stable Rust, as the crate's tests (`tests/targets.rs`): the seed corpus,
//!   then seeded mutations for a bounded time. This is what CI runs.
//! - libFuzzer, through `cargo fuzz` and the entry points in `fuzz/libfuzzer/`, for long
//!   coverage-guided runs (see `fuzz/README.md`).

pub mod driver;
pub mod fixtures;
pub mod mutate;

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::ws::Message;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue};
use serde_json::Value as Json;
use switchboard::auth::credentials::{
    Credentials, decode_auth_object, from_appsync_upgrade, query_parameter,
};
use switchboard::auth::{jwt, sigv4};
use switchboard::operation::{GraphqlError, GraphqlRequest};
use switchboard::protocol::{ClientMessage, Encoded, Fault, Protocol, Reply};
use switchboard::pubsub;

/// A fuzz target: takes any bytes, must not panic.
pub type Target = fn(&[u8]);

/// Every target by name; the name is also its corpus directory, `fuzz/corpus/<name>/`, and its
/// libFuzzer entry point, `fuzz/libfuzzer/fuzz_targets/<name>.rs`.
pub const TARGETS: &[(&str, Target)] = &[
    ("transport_ws_frame", transport_ws_frame),
    ("legacy_ws_frame", legacy_ws_frame),
    ("appsync_frame", appsync_frame),
    ("appsync_events_frame", appsync_events_frame),
    ("appsync_auth", appsync_auth),
    ("sigv4_authorization", sigv4_authorization),
    ("jwt_header", jwt_header),
    ("topic_key", topic_key),
    ("graphql_request", graphql_request),
    ("subscription_filter", subscription_filter),
    ("stream_extensions", stream_extensions),
];

/// The four protocols, for replies every protocol must be able to render.
const PROTOCOLS: [Protocol; 4] = [
    Protocol::GraphqlTransportWs,
    Protocol::SubscriptionsTransportWs,
    Protocol::AppSync,
    Protocol::AppSyncEvents,
];

/// A graphql-transport-ws client frame.
pub fn transport_ws_frame(data: &[u8]) {
    frame(Protocol::GraphqlTransportWs, data);
}

/// A subscriptions-transport-ws (Apollo's legacy protocol) client frame.
pub fn legacy_ws_frame(data: &[u8]) {
    frame(Protocol::SubscriptionsTransportWs, data);
}

/// An AppSync real-time client frame (its `start` nests the request as a JSON string).
pub fn appsync_frame(data: &[u8]) {
    frame(Protocol::AppSync, data);
}

/// An AppSync Events client frame (`subscribe`, `publish`, with resume and replay).
pub fn appsync_events_frame(data: &[u8]) {
    frame(Protocol::AppSyncEvents, data);
}

/// Decodes one text frame as the session does, then renders the replies the session would send
/// for it: an invalid frame's error (whose reason quotes the input), or for a valid one the
/// acknowledgements, errors and credentials that follow.
fn frame(protocol: Protocol, data: &[u8]) {
    // A WebSocket text frame is valid UTF-8 by the time the codec sees it; lossy decoding keeps
    // every mutated input useful instead of discarding the invalid ones.
    let text = String::from_utf8_lossy(data);
    match protocol.decode(&text) {
        Err(error) => {
            let fault = Fault::InvalidMessage {
                reason: error.reason,
                id: error.id,
                kind: error.kind,
                of: error.of,
            };
            check_encoded(protocol.encode(Reply::Fault(fault)));
        }
        Ok(ClientMessage::Init { payload }) => {
            if let Some(payload) = &payload {
                inspect(&Credentials::from_init_payload(payload));
            }
            check_encoded(protocol.encode(Reply::Ack {
                connection_timeout_ms: 300_000,
            }));
        }
        Ok(ClientMessage::Subscribe {
            id,
            request,
            authorization,
            data: _,
        }) => {
            if let Some(credentials) = authorization.as_ref().and_then(Credentials::from_json) {
                inspect(&credentials);
            }
            drop(request.variables());
            let errors = [GraphqlError::new(
                Some(switchboard::operation::ErrorType::BadRequestException),
                &request.query,
            )];
            for reply in [
                Reply::Subscribed {
                    id: &id,
                    stream: None,
                },
                Reply::Data {
                    id: &id,
                    body: r#"{"data":{"onStatusUpdate":null}}"#,
                    at: None,
                },
                Reply::OperationError {
                    id: &id,
                    errors: &errors,
                },
                Reply::Fault(Fault::DuplicateId(id.clone())),
                Reply::Fault(Fault::NotAcknowledged { id: id.clone() }),
                Reply::Stopped(&id),
                Reply::Ended(&id),
            ] {
                check_encoded(protocol.encode(reply));
            }
        }
        Ok(ClientMessage::SubscribeChannel {
            id,
            authorization,
            opening,
            ..
        }) => {
            if let Some(credentials) = authorization.as_ref().and_then(Credentials::from_json) {
                inspect(&credentials);
            }
            let _ = switchboard::session::resume::Opening::from_extensions(opening.as_ref());
            for reply in [
                Reply::Subscribed {
                    id: &id,
                    stream: None,
                },
                Reply::Fault(Fault::DuplicateId(id.clone())),
                Reply::Fault(Fault::UnknownId(id.clone())),
            ] {
                check_encoded(protocol.encode(reply));
            }
        }
        Ok(ClientMessage::Publish { id, events, .. }) => {
            let mut outcome = switchboard::events::Outcome::default();
            for (index, event) in events.iter().enumerate() {
                outcome.failed(&id, index, 400, &event.to_string());
            }
            check_encoded(protocol.encode(Reply::Published {
                id: &id,
                outcome: &outcome,
            }));
        }
        Ok(ClientMessage::Stop { id }) => check_encoded(protocol.encode(Reply::Stopped(&id))),
        Ok(ClientMessage::Ping { payload }) => {
            check_encoded(protocol.encode(Reply::Pong(payload.as_ref())));
        }
        Ok(ClientMessage::Pong | ClientMessage::Terminate) => {}
    }
}

/// What the codecs promise about every reply: text frames are JSON, close reasons fit a close
/// frame. A broken promise is as much a bug as a panic, so it is one here.
fn check_encoded(encoded: Encoded) {
    for frame in &encoded.frames {
        if let Message::Text(text) = frame {
            let parsed = serde_json::from_str::<Json>(text.as_str());
            assert!(parsed.is_ok(), "a reply frame is not JSON: {text:?}");
        }
    }
    if let Some(close) = &encoded.close {
        assert!(close.reason.len() <= 123, "a close reason is too long");
    }
}

/// Every lookup the authenticator makes on credentials.
fn inspect(credentials: &Credentials) {
    for name in ["host", "x-amz-date", "x-amz-security-token"] {
        let _ = credentials.get(name);
    }
    let _ = (credentials.api_key(), credentials.authorization());
    let _ = format!("{credentials:?}");
}

/// AppSync's auth object in each place a client can put it at the upgrade (the `header-`
/// subprotocol, the `header` query parameter, plain HTTP headers), and as the JSON it decodes
/// to (`Credentials::from_json`, `Credentials::from_init_payload`).
pub fn appsync_auth(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let no_headers = HeaderMap::new();
    let graphql_ws = "graphql-ws".to_owned();
    let upgrade = |subprotocols: &[String], query: Option<&str>, headers: &HeaderMap| {
        if let Ok(credentials) = from_appsync_upgrade(subprotocols, query, headers) {
            inspect(&credentials);
        }
    };
    // The input as the already encoded auth object, in the subprotocol and in the query.
    upgrade(
        &[graphql_ws.clone(), format!("header-{text}")],
        None,
        &no_headers,
    );
    let query = format!("header={text}&payload=e30=");
    upgrade(std::slice::from_ref(&graphql_ws), Some(&query), &no_headers);
    // The input as the whole query string.
    upgrade(std::slice::from_ref(&graphql_ws), Some(&text), &no_headers);
    let _ = query_parameter(&text, "header");
    // The input as the auth object itself, encoded the way Amplify (base64url, no padding) and
    // the URL form (standard base64, `+` and `/` unescaped) do: JSON mutations then reach
    // `from_json` through the base64 layer.
    upgrade(
        &[
            graphql_ws.clone(),
            format!("header-{}", URL_SAFE_NO_PAD.encode(data)),
        ],
        None,
        &no_headers,
    );
    let query = format!("header={}&payload=e30=", STANDARD.encode(data));
    upgrade(std::slice::from_ref(&graphql_ws), Some(&query), &no_headers);
    if let Ok(credentials) = decode_auth_object(&text, "fuzz input") {
        inspect(&credentials);
    }
    // The input as HTTP header values, when it is a valid one.
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", value.clone());
        headers.insert("authorization", value);
        upgrade(std::slice::from_ref(&graphql_ws), None, &headers);
    }
    if let Ok(json) = serde_json::from_slice::<Json>(data) {
        if let Some(credentials) = Credentials::from_json(&json) {
            inspect(&credentials);
        }
        inspect(&Credentials::from_init_payload(&json));
    }
}

/// SigV4: the `Authorization` header and `x-amz-date` parsers on the raw input; and, when the
/// input is a JSON signed request (the shape of `tests/fixtures/sigv4/`: `path`, `query`,
/// `body`, `headers`) or a bare AppSync auth object, the whole verification against the test
/// vectors' keys, at the request's own `x-amz-date` so real signatures get through.
pub fn sigv4_authorization(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(authorization) = sigv4::parse_authorization(&text) {
        let _ = format!("{authorization:?}");
    }
    let _ = sigv4::parse_amz_date(&text);
    let Ok(request) = serde_json::from_slice::<Json>(data) else {
        return;
    };
    let headers = request.get("headers").unwrap_or(&request);
    let Some(credentials) = Credentials::from_json(headers) else {
        return;
    };
    let field = |name: &str, default: &'static str| {
        request
            .get(name)
            .and_then(Json::as_str)
            .unwrap_or(default)
            .to_owned()
    };
    let (path, query, body) = (
        field("path", "/graphql/connect"),
        field("query", ""),
        field("body", "{}"),
    );
    let now = credentials
        .get("x-amz-date")
        .and_then(|date| sigv4::parse_amz_date(date).ok())
        .unwrap_or(UNIX_EPOCH);
    let _ = sigv4::verify_credentials(
        &fixtures::get().iam,
        &credentials,
        &path,
        &query,
        body.as_bytes(),
        now,
        Duration::from_secs(300),
    );
}

/// JWTs: the header reader and the `Bearer` stripping on the raw input; the input as a header
/// JSON object inside an otherwise well-formed token; and both tokens through the verifier
/// (HS256 secret and an RS256 JWKS, issuer and audience required).
pub fn jwt_header(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = jwt::read_header(&text);
    let _ = jwt::read_header(jwt::strip_bearer(&text));
    let claims = URL_SAFE_NO_PAD.encode(r#"{"exp":4102444800,"sub":"u1"}"#);
    let wrapped = format!("{}.{claims}.c2lnbmF0dXJl", URL_SAFE_NO_PAD.encode(data));
    let _ = jwt::read_header(&wrapped);
    let fixtures = fixtures::get();
    for token in [&*text, &wrapped] {
        let _ = fixtures.runtime.block_on(fixtures.jwt.verify(token));
    }
}

/// Topic keys, from the input as JSON: `{"field": .., "args": {..}}`, or an object of arguments
/// to `onStatusUpdate`, or any other value as its `userId`. Checks what the index relies on: the
/// key does not depend on the order of the arguments or of the keys of object values.
pub fn topic_key(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<Json>(data) else {
        return;
    };
    let field = json
        .get("field")
        .and_then(Json::as_str)
        .unwrap_or("onStatusUpdate");
    let args = match json.get("args").unwrap_or(&json) {
        Json::Object(args) => args.clone(),
        other => serde_json::Map::from_iter([("userId".to_owned(), other.clone())]),
    };
    let args: Vec<(String, async_graphql::Value)> = args
        .into_iter()
        .filter_map(|(name, value)| Some((name, async_graphql::Value::from_json(value).ok()?)))
        .collect();
    let key = pubsub::topic_key(field, args.iter().map(|(n, v)| (n.as_str(), v)));
    let reversed: Vec<(&str, async_graphql::Value)> = args
        .iter()
        .rev()
        .map(|(name, value)| (name.as_str(), reversed(value)))
        .collect();
    let again = pubsub::topic_key(field, reversed.iter().map(|(n, v)| (*n, v)));
    assert_eq!(
        key, again,
        "the topic key depends on the order of arguments or keys"
    );
}

/// A subscriber's enhanced filter, from the input as JSON: read both as AppSync's `filterGroup`
/// JSON and as an Amplify filter input, checked against AppSync's limits, evaluated against a
/// status, and its refusal rendered in every protocol.
pub fn subscription_filter(data: &[u8]) {
    use switchboard::graphql::filter::{amplify, group};
    let Ok(json) = serde_json::from_slice::<Json>(data) else {
        return;
    };
    let status = async_graphql::Value::from_json(serde_json::json!({
        "userId": "u1", "jobId": "j1", "status": "validating", "tags": ["a", "b"], "n": 3,
        "nested": {"deeper": {"value": 1.5}},
    }))
    .expect("a status");
    let mut outcomes = Vec::new();
    if let Ok(groups) = group::from_json(&json) {
        outcomes.push(group::check(groups));
    }
    if let Ok(value) = async_graphql::Value::from_json(json)
        && let Ok(groups) = amplify::to_groups(&value)
    {
        outcomes.push(group::check(groups));
    }
    for outcome in outcomes {
        match outcome {
            Ok(Some(filter)) => {
                let _ = filter.matches(&status);
                let _ = filter.common_eq();
            }
            Ok(None) => {}
            Err(error) => {
                let errors = [GraphqlError::from(error)];
                for protocol in PROTOCOLS {
                    check_encoded(protocol.encode(Reply::OperationError {
                        id: "s",
                        errors: &errors,
                    }));
                }
            }
        }
    }
}

/// A subscribe message's `extensions` (`resume`, `replay`), as the session reads them.
pub fn stream_extensions(data: &[u8]) {
    use switchboard::session::resume::Opening;
    let Ok(json) = serde_json::from_slice::<Json>(data) else {
        return;
    };
    if let Ok(opening) = Opening::from_extensions(Some(&json)) {
        let _ = opening.or_latest(true).read_from(100);
    }
}

/// `value` with the keys of every object in it in reverse order.
fn reversed(value: &async_graphql::Value) -> async_graphql::Value {
    use async_graphql::Value;
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .rev()
                .map(|(name, value)| (name.clone(), reversed(value)))
                .collect(),
        ),
        Value::List(items) => Value::List(items.iter().map(reversed).collect()),
        other => other.clone(),
    }
}

/// A GraphQL request body (`POST /graphql`, a `subscribe` payload, AppSync's `payload.data`), or,
/// when the input is not one, the input as the query text. Parsed as the server parses it, then
/// put through the access check and, as a subscription of the default schema, through
/// `subscription::prepare` (validation, limits, filter and projection), whose errors every
/// protocol must then be able to render.
pub fn graphql_request(data: &[u8]) {
    let request =
        serde_json::from_slice::<GraphqlRequest>(data).unwrap_or_else(|_| GraphqlRequest {
            query: String::from_utf8_lossy(data).into_owned(),
            ..GraphqlRequest::default()
        });
    drop(request.variables());
    if async_graphql::parser::parse_query(&request.query).is_err() {
        return;
    }
    let fixtures = fixtures::get();
    let document = fixtures
        .api
        .authorize(&request, &fixtures.caller)
        .ok()
        .flatten();
    let prepared = fixtures
        .runtime
        .block_on(switchboard::api::subscription::prepare(
            &fixtures.api,
            &request,
            document,
            fixtures::SUBSCRIBE_TIMEOUT,
            |_, _| Ok(None),
        ));
    match prepared {
        Ok(prepared) => {
            let filter = prepared.filter.iter().map(|(n, v)| (n.as_str(), v));
            let _ = pubsub::topic_key(&prepared.field, filter);
            let _ = prepared.filter_json();
        }
        Err(errors) => {
            for protocol in PROTOCOLS {
                check_encoded(protocol.encode(Reply::OperationError {
                    id: "1",
                    errors: &errors,
                }));
            }
        }
    }
}

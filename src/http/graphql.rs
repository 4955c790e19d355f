//! `POST /graphql`: queries and mutations, with AppSync's error shapes.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json_, json};

use super::body::{self, BodyLimits};
use super::errors;
use crate::api::Answer;
use crate::app::App;
use crate::auth::{AuthError, AuthMode, AuthRequest, Credentials, Identity, Operation, Signed};
use crate::operation::{ErrorType, GraphqlRequest};
use crate::pubsub::{IdempotencyKey, MAX_IDEMPOTENCY_KEY, PublishError};

/// `POST /graphql`. Cheap refusals come first and read nothing: a locked-out address, a
/// declared body over the limit, missing or wrong credentials that the headers alone decide
/// (API keys, tokens). Only then is the body read, within its bounds. IAM callers sign the
/// body and the Lambda authorizer is shown the operation, so those are verified once it is
/// read.
pub async fn execute(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(remaining) = app.limits.locked_out(remote.ip()) {
        return errors::locked_out(remaining);
    }
    let limits = BodyLimits::of(&app.settings);
    if let Err(error) = body::check_declared_length(&headers, &limits) {
        return error.response();
    }
    let credentials = Credentials::from_http(&headers);
    let needs_body = matches!(
        app.auth.mode_of(&credentials),
        Some(AuthMode::Iam | AuthMode::Lambda)
    );
    let early = if needs_body {
        None
    } else {
        let auth = AuthRequest {
            credentials: &credentials,
            signed: Signed::Nothing,
            operation: Operation::Graphql(None),
        };
        match app.auth.authenticate(auth).await {
            Ok(identity) => Some(identity),
            Err(error) => return unauthorized(&app, remote, &credentials, &error),
        }
    };
    let body = match body::read(body, &limits).await {
        Ok(body) => body,
        Err(error) => return error.response(),
    };
    let request: Result<GraphqlRequest, _> = serde_json::from_slice(&body);
    let identity = match early {
        Some(identity) => identity,
        None => {
            let auth = AuthRequest {
                credentials: &credentials,
                signed: Signed::Http {
                    path: "/graphql",
                    query: query.as_deref().unwrap_or_default(),
                    body: &body,
                },
                operation: Operation::Graphql(request.as_ref().ok()),
            };
            match app.auth.authenticate(auth).await {
                Ok(identity) => identity,
                Err(error) => return unauthorized(&app, remote, &credentials, &error),
            }
        }
    };
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            return errors::appsync_error(
                StatusCode::BAD_REQUEST,
                ErrorType::MalformedHttpRequestException,
                &format!("the body must be a JSON object with a `query` string: {error}"),
            );
        }
    };
    let document = match app.api.authorize(&request, &identity) {
        Ok(document) => document,
        Err(denied) => {
            let body = json!({"data": null, "errors": [{"errorType": denied.error_type, "message": denied.message}]});
            return (StatusCode::OK, Json(body)).into_response();
        }
    };
    let idempotency = match idempotency_key(&headers, &identity) {
        Ok(key) => key,
        Err(error) => {
            return errors::appsync_error(
                StatusCode::BAD_REQUEST,
                ErrorType::BadRequestException,
                &error.to_string(),
            );
        }
    };
    match app.api.run(&request, document, idempotency).await {
        Answer::Executed(response) => respond(&response),
        Answer::Fast(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
    }
}

/// An `Idempotency-Key` header that is empty, too long or not visible ASCII.
#[derive(Debug, thiserror::Error)]
#[error("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters")]
struct InvalidIdempotencyKey;

/// The caller's `Idempotency-Key`, scoped to its principal.
fn idempotency_key(
    headers: &HeaderMap,
    identity: &Identity,
) -> Result<Option<IdempotencyKey>, InvalidIdempotencyKey> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => {
            Ok(Some(IdempotencyKey {
                scope: format!("{}\u{1f}{key}", identity.principal),
            }))
        }
        _ => Err(InvalidIdempotencyKey),
    }
}

/// The HTTP answer to an executed operation. A status that could not be published (or a
/// history that could not be read) is not a success: 503, so the publisher retries; which errors
/// are that is decided by their type ([`PublishError`] as the source), not their text.
fn respond(response: &async_graphql::Response) -> Response {
    let failed_publish = response
        .errors
        .iter()
        .find_map(|error| error.source::<PublishError>());
    let mut body = match serde_json::to_value(response) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "cannot serialize a GraphQL response");
            return errors::appsync_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorType::InternalFailure,
                "The response could not be serialized.",
            );
        }
    };
    if let Some(errors) = body.get_mut("errors").and_then(Json_::as_array_mut) {
        for error in errors {
            lift_error_type(error);
        }
    }
    let status = failed_publish.map_or(StatusCode::OK, |e| {
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
    });
    (status, Json(body)).into_response()
}

/// A refused authentication: counted against the address and in the metrics, answered 401.
fn unauthorized(
    app: &App,
    remote: std::net::SocketAddr,
    credentials: &Credentials,
    error: &AuthError,
) -> Response {
    app.auth_failed(remote.ip(), credentials);
    errors::appsync_error(
        StatusCode::UNAUTHORIZED,
        ErrorType::UnauthorizedException,
        &error.to_string(),
    )
}

/// Moves `extensions.errorType` to the top level of a GraphQL error, where AppSync puts it.
fn lift_error_type(error: &mut Json_) {
    let Some(object) = error.as_object_mut() else {
        return;
    };
    let Some(error_type) = object
        .get_mut("extensions")
        .and_then(Json_::as_object_mut)
        .and_then(|extensions| extensions.remove("errorType"))
    else {
        return;
    };
    if object["extensions"]
        .as_object()
        .is_some_and(serde_json::Map::is_empty)
    {
        object.remove("extensions");
    }
    object.insert("errorType".to_owned(), error_type);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_moves_to_the_top_level() {
        let mut error = json!({"message": "m", "extensions": {"errorType": "BadRequestException"}});
        lift_error_type(&mut error);
        assert_eq!(
            error,
            json!({"message": "m", "errorType": "BadRequestException"})
        );
    }

    #[test]
    fn a_failed_publish_is_503_by_its_type_not_its_words() {
        use crate::pubsub::{BusError, PublishError};
        let failed = async_graphql::Error::new_with_source(PublishError::Bus(
            BusError::Unavailable("Redis is down".to_owned()),
        ))
        .into_server_error(async_graphql::Pos::default());
        let response = async_graphql::Response::from_errors(vec![failed]);
        assert_eq!(respond(&response).status(), StatusCode::SERVICE_UNAVAILABLE);
        let unknown = async_graphql::Error::new_with_source(PublishError::Bus(
            BusError::OutcomeUnknown("the link dropped".to_owned()),
        ))
        .into_server_error(async_graphql::Pos::default());
        let response = async_graphql::Response::from_errors(vec![unknown]);
        assert_eq!(respond(&response).status(), StatusCode::GATEWAY_TIMEOUT);
        // The same words without the type are an ordinary error.
        let worded = async_graphql::ServerError::new("ServiceUnavailable", None);
        let response = async_graphql::Response::from_errors(vec![worded]);
        assert_eq!(respond(&response).status(), StatusCode::OK);
    }
}

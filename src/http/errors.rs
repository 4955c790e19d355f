//! The HTTP API's one way of answering an error: AppSync's shape,
//! `{"errors":[{"errorType": .., "message": ..}]}`, with the status code that goes with it.

use std::time::Duration;

use crate::operation::ErrorType;
use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error response in AppSync's shape.
pub fn appsync_error(status: StatusCode, error_type: ErrorType, message: &str) -> Response {
    let body = json!({"errors": [{"errorType": error_type.as_str(), "message": message}]});
    (status, Json(body)).into_response()
}

/// A request to a WebSocket endpoint that is no WebSocket upgrade (axum's `rejection`), in
/// AppSync's shape: which subprotocols to offer, and where the request belongs (`instead`).
pub fn not_an_upgrade(
    rejection: axum::extract::ws::rejection::WebSocketUpgradeRejection,
    path: &str,
    subprotocols: &str,
    instead: &str,
) -> Response {
    let message = format!(
        "{path} is a WebSocket endpoint: connect with a WebSocket client offering {subprotocols} \
         ({rejection}); {instead}"
    );
    appsync_error(rejection.status(), ErrorType::BadRequestException, &message)
}

/// 429 for an address locked out after too many failed authentications; `Retry-After` says
/// when the lockout ends (whole seconds, rounded up).
pub fn locked_out(remaining: Duration) -> Response {
    let mut response = appsync_error(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorType::TooManyRequestsException,
        "Too many failed authentication attempts; try again in a minute.",
    );
    let seconds = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

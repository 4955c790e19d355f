//! `POST /graphql`: queries and mutations, with AppSync's error shapes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json_, json};

use crate::auth::{AuthRequest, Credentials, Signed};
use crate::operation::GraphqlRequest;
use crate::server::App;

/// An error response in AppSync's shape: `{"errors":[{"errorType":..,"message":..}]}`.
fn appsync_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({"errors": [{"errorType": error_type, "message": message}]});
    (status, Json(body)).into_response()
}

pub async fn execute(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<std::net::SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if app.limits.locked_out(remote.ip()) {
        return appsync_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Too many failed authentication attempts; try again in a minute.",
        );
    }
    let request: Result<GraphqlRequest, _> = serde_json::from_slice(&body);
    let credentials = Credentials::from_http(&headers);
    let auth = AuthRequest {
        credentials: &credentials,
        signed: Signed::Http {
            path: "/graphql",
            query: query.as_deref().unwrap_or_default(),
            body: &body,
        },
        operation: request.as_ref().ok(),
    };
    let identity = match app.auth.authenticate(auth).await {
        Ok(identity) => identity,
        Err(error) => {
            app.limits.failed(remote.ip());
            app.metrics
                .exported
                .auth_failed(app.auth.mode_of(&credentials));
            return appsync_error(
                StatusCode::UNAUTHORIZED,
                "UnauthorizedException",
                &error.to_string(),
            );
        }
    };
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            return appsync_error(
                StatusCode::BAD_REQUEST,
                "MalformedHttpRequestException",
                &format!("the body must be a JSON object with a `query` string: {error}"),
            );
        }
    };
    let document = match app
        .api
        .authorize(&request, &identity, app.auth.default_mode)
    {
        Ok(document) => document,
        Err(denied) => {
            let body = json!({"data": null, "errors": [{"errorType": denied.error_type, "message": denied.message}]});
            return (StatusCode::OK, Json(body)).into_response();
        }
    };
    let response = app.api.execute(&request, document).await;
    let mut body = serde_json::to_value(&response).unwrap_or_else(|_| json!({"data": null}));
    let mut unavailable = false;
    if let Some(errors) = body.get_mut("errors").and_then(Json_::as_array_mut) {
        for error in errors {
            unavailable |= lift_error_type(error) == Some("ServiceUnavailable".to_owned());
        }
    }
    // A status that could not be published is not a success: the publisher must retry.
    let status = if unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

/// Moves `extensions.errorType` to the top level of a GraphQL error, where AppSync puts it.
fn lift_error_type(error: &mut Json_) -> Option<String> {
    let object = error.as_object_mut()?;
    let extensions = object.get_mut("extensions")?.as_object_mut()?;
    let error_type = extensions.remove("errorType")?;
    if extensions.is_empty() {
        object.remove("extensions");
    }
    let text = error_type.as_str().map(str::to_owned);
    object.insert("errorType".to_owned(), error_type);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_moves_to_the_top_level() {
        let mut error = json!({"message": "m", "extensions": {"errorType": "BadRequestException"}});
        assert_eq!(
            lift_error_type(&mut error).as_deref(),
            Some("BadRequestException")
        );
        assert_eq!(
            error,
            json!({"message": "m", "errorType": "BadRequestException"})
        );
    }
}

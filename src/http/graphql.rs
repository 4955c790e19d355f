//! `POST /graphql`: queries and mutations, with AppSync's error shapes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json_, json};

use crate::operation::GraphqlRequest;
use crate::server::App;

/// An error response in AppSync's shape: `{"errors":[{"errorType":..,"message":..}]}`.
fn appsync_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({"errors": [{"errorType": error_type, "message": message}]});
    (status, Json(body)).into_response()
}

pub async fn execute(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if let Err(error) = app.keys.check(key) {
        return appsync_error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedException",
            &error.to_string(),
        );
    }
    let request: GraphqlRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return appsync_error(
                StatusCode::BAD_REQUEST,
                "MalformedHttpRequestException",
                &format!("the body must be a JSON object with a `query` string: {error}"),
            );
        }
    };
    let mut gql = async_graphql::Request::new(request.query.clone()).variables(request.variables());
    if let Some(name) = &request.operation_name {
        gql = gql.operation_name(name);
    }
    let response = app.api.schema.execute(gql).await;
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

//! The admin API, for operators: a user's connections across every node, and closing one of
//! them wherever it lives.
//!
//! - `GET /admin/connections?userId=u1` -> `200 {"connections": [record, ...]}` from the store;
//!   without `userId`, a page of every connection, `?after=<next>&limit=<1..1000, 100>` ->
//!   `200 {"connections": [...], "next": <cursor or null>}`.
//! - `DELETE /admin/connections/{id}` -> `204` once the node holding it took the command, `404`
//!   when no record names it (or its node is gone).
//! - `POST /admin/invalidate` with `{"subscriptionField", "payload"}` -> `202` once every node
//!   will end the subscriptions of that field whose invalidation filter the payload passes (as
//!   a mutation declared in `--rules` does).
//!
//! Callers present an admin key (`--admin-api-key`, in `x-api-key`) or a verified token of a
//! member of `--admin-group`. Errors use AppSync's error shape, like the rest of the HTTP API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use crate::auth::{AuthRequest, Credentials, Operation, Signed};

use super::errors::appsync_error as error;
use crate::operation::ErrorType;
use crate::store::StoreError;

/// Whether the caller may use the admin API; the refusal to send when not. A wrong admin key
/// or token counts towards the address's lockout like any other failed authentication, and a
/// locked-out address is refused before anything is checked.
async fn authorize(
    app: &App,
    remote: SocketAddr,
    headers: &HeaderMap,
    path: &str,
) -> Result<(), Response> {
    if let Some(remaining) = app.limits.locked_out(remote.ip()) {
        return Err(super::errors::locked_out(remaining));
    }
    let admin_keys = &app.settings.cluster.admin_api_keys;
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok())
        && admin_keys
            .iter()
            .any(|admin| crate::auth::constant_time_eq(admin.as_bytes(), key.as_bytes()))
    {
        return Ok(());
    }
    let credentials = Credentials::from_http(headers);
    let request = AuthRequest {
        credentials: &credentials,
        signed: Signed::Http {
            path,
            query: "",
            body: &Bytes::new(),
        },
        operation: Operation::Graphql(None),
    };
    match app.auth.authenticate(request).await {
        Ok(identity) if app.api.policy.is_admin(&identity) => Ok(()),
        Ok(_) => Err(error(
            StatusCode::FORBIDDEN,
            ErrorType::UnauthorizedException,
            "The admin API needs an admin API key or membership of the admin group.",
        )),
        Err(_) => {
            app.auth_failed(remote.ip(), &credentials);
            Err(error(
                StatusCode::UNAUTHORIZED,
                ErrorType::UnauthorizedException,
                "You are not authorized to make this call.",
            ))
        }
    }
}

/// `?userId=` (one user's connections), or `?after=&limit=` (a page of all of them).
#[derive(Debug, Deserialize)]
pub struct ByUser {
    #[serde(rename = "userId")]
    user_id: Option<String>,
    /// Where the page starts: the `next` of the previous one.
    after: Option<String>,
    limit: Option<usize>,
}

/// Connections per page of `GET /admin/connections` when the caller names no limit, and the most
/// it may name.
const PAGE: usize = 100;
const MAX_PAGE: usize = 1_000;

pub async fn list(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Query(query): Query<ByUser>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = authorize(&app, remote, &headers, "/admin/connections").await {
        return refusal;
    }
    let listed = match query.user_id.filter(|u| !u.is_empty()) {
        Some(user) => app
            .store
            .by_user(&user)
            .await
            .map(|connections| json!({ "connections": connections })),
        None => {
            let limit = query.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
            app.store
                .page(query.after.as_deref(), limit)
                .await
                .map(|page| json!({ "connections": page.records, "next": page.next }))
        }
    };
    match listed {
        Ok(body) => Json(body).into_response(),
        Err(e @ StoreError::BadCursor(_)) => error(
            StatusCode::BAD_REQUEST,
            ErrorType::BadRequestException,
            &e.to_string(),
        ),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::ServiceUnavailable,
            &e.to_string(),
        ),
    }
}

pub async fn kick(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/admin/connections/{id}");
    if let Err(refusal) = authorize(&app, remote, &headers, &path).await {
        return refusal;
    }
    let record = match app.store.get(&id).await {
        Ok(Some(record)) => record,
        Ok(None) => return not_found(&id),
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorType::ServiceUnavailable,
                &e.to_string(),
            );
        }
    };
    match app.bus.kick(&record.node_id, &id).await {
        Ok(true) => {
            tracing::info!(
                connection = id,
                node = &*record.node_id,
                "admin closed a connection"
            );
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => not_found(&id),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::ServiceUnavailable,
            &e.to_string(),
        ),
    }
}

/// An operator's invalidation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Invalidate {
    subscription_field: String,
    payload: serde_json::Map<String, serde_json::Value>,
}

pub async fn invalidate(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = authorize(&app, remote, &headers, "/admin/invalidate").await {
        return refusal;
    }
    let request: Invalidate = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorType::BadRequestException,
                &format!(
                    "The body must be {{\"subscriptionField\": string, \"payload\": object}}: {e}"
                ),
            );
        }
    };
    let field = request.subscription_field;
    if !app.api.model.subscriptions.contains_key(&field) {
        return error(
            StatusCode::NOT_FOUND,
            ErrorType::NotFoundException,
            &format!("No subscription field {field}."),
        );
    }
    let payload = serde_json::Value::Object(request.payload);
    match app.bus.invalidate(&field, &payload).await {
        Ok(()) => {
            tracing::info!(field, "admin invalidated subscriptions");
            (
                StatusCode::ACCEPTED,
                Json(json!({"subscriptionField": field})),
            )
                .into_response()
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::ServiceUnavailable,
            &e.to_string(),
        ),
    }
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        ErrorType::NotFoundException,
        &format!("No open connection {id}."),
    )
}

//! AppSync Events over HTTP: `POST /event` (publish) and the WebSocket upgrade on
//! `/event/realtime` (subprotocol `aws-appsync-event-ws`, answered exactly; credentials from the
//! `header-` subprotocol, the `header` query or the upgrade's own headers, which is all Swift
//! and Kotlin send).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value as Json;

use super::body::{self, BodyLimits};
use super::errors;
use crate::app::App;
use crate::auth::credentials;
use crate::auth::{AuthMode, AuthRequest, Credentials, Operation, Signed};
use crate::events::MAX_EVENTS_PER_PUBLISH;
use crate::events::channel::{Channel, ChannelAction};
use crate::operation::ErrorType;
use crate::pubsub::publish_events;

/// The Events WebSocket subprotocol.
pub use crate::protocol::appsync_events::SUBPROTOCOL;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    channel: String,
    events: Vec<Json>,
}

/// An AppSync-shaped error, with `x-amzn-ErrorType` so Amplify's AWS error parser names it.
fn error(status: StatusCode, error_type: ErrorType, message: &str) -> Response {
    let mut response = errors::appsync_error(status, error_type, message);
    if let Ok(value) = HeaderValue::from_str(error_type.as_str()) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

/// `POST /event`: `{"channel", "events": [<JSON as string>, …]}` → `200 {"successful",
/// "failed"}`.
pub async fn publish(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
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
    let body = match body::read(body, &limits).await {
        Ok(body) => body,
        Err(error) => return error.response(),
    };
    let credentials = Credentials::from_http(&headers);
    let parsed = parse_publish(&body, &app.settings.events.event_namespaces);
    let operation = match &parsed {
        Ok((_, channel)) => Operation::EventChannel(ChannelAction::Publish, channel),
        // A Lambda authorizer judges a publish by its channel: without one there is nothing to
        // ask it, so the request's own fault is the answer.
        Err(message) if app.auth.mode_of(&credentials) == Some(AuthMode::Lambda) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorType::BadRequestException,
                message,
            );
        }
        // The other modes judge the caller alone.
        Err(_) => Operation::EventConnect,
    };
    let auth = AuthRequest {
        credentials: &credentials,
        signed: Signed::Http {
            path: "/event",
            query: "",
            body: &body,
        },
        operation,
    };
    let caller = match app.auth.authenticate(auth).await {
        Ok(caller) => caller,
        Err(failure) => {
            app.auth_failed(remote.ip(), &credentials);
            return error(
                StatusCode::UNAUTHORIZED,
                ErrorType::UnauthorizedException,
                &failure.to_string(),
            );
        }
    };
    let (request, channel) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorType::BadRequestException,
                &message,
            );
        }
    };
    if !app
        .channels
        .may_use(&caller, &channel, ChannelAction::Publish)
    {
        return error(
            StatusCode::FORBIDDEN,
            ErrorType::UnauthorizedException,
            &format!("Not authorized to use channel {}", channel.path()),
        );
    }
    if request.events.is_empty() || request.events.len() > MAX_EVENTS_PER_PUBLISH {
        return error(
            StatusCode::BAD_REQUEST,
            ErrorType::BadRequestException,
            &format!("A publish carries 1 to {MAX_EVENTS_PER_PUBLISH} events."),
        );
    }
    match publish_events(
        app.bus.as_ref(),
        &channel.path(),
        &request.events,
        app.settings.events.max_event_bytes,
        &app.metrics.exported.events_published,
    )
    .await
    {
        Ok(outcome) => (StatusCode::OK, axum::Json(outcome.body())).into_response(),
        Err(e) => error(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            e.error_type(),
            &e.to_string(),
        ),
    }
}

/// The body of `POST /event` and its channel, or why it is refused.
fn parse_publish(body: &[u8], namespaces: &[String]) -> Result<(PublishBody, Channel), String> {
    let request: PublishBody = serde_json::from_slice(body).map_err(|e| {
        format!("The body must be {{\"channel\": string, \"events\": [string]}}: {e}")
    })?;
    let channel = Channel::parse(&request.channel, false, namespaces).map_err(|e| e.to_string())?;
    Ok((request, channel))
}

/// The upgrade on `/event/realtime`.
pub async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            let instead = "POST events to /event";
            return super::errors::not_an_upgrade(
                rejection,
                "/event/realtime",
                SUBPROTOCOL,
                instead,
            );
        }
    };
    let settings = &app.settings;
    let offered: Vec<String> = ws
        .requested_protocols()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    if !offered.iter().any(|p| p == SUBPROTOCOL) {
        return error(
            StatusCode::BAD_REQUEST,
            ErrorType::BadRequestException,
            "Offer the aws-appsync-event-ws subprotocol.",
        );
    }
    let mut ws = super::websocket::sized(ws, settings);
    // Exactly the protocol's name, never the `header-...` value beside it.
    ws.set_selected_protocol(HeaderValue::from_static(SUBPROTOCOL));
    let credentials = credentials::from_appsync_upgrade(&offered, query.as_deref(), &headers);
    let peer = super::websocket::admit(&app, remote, &headers, credentials);
    let sessions = app.sessions.clone();
    ws.on_upgrade(move |socket| {
        sessions.track_future(crate::session::run(
            app,
            socket,
            crate::protocol::Protocol::AppSyncEvents,
            peer,
        ))
    })
}

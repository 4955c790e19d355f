//! The WebSocket upgrades: picks the protocol from the path and the offered subprotocols, reads
//! the credentials presented with the upgrade, tunes the socket's buffers and limits, and hands
//! it to a session.
//!
//! Two protocols share the subprotocol name `graphql-ws`: Apollo's legacy one and AppSync's. On
//! `/graphql/realtime` (where Amplify JS, Apollo's AppSync link and the iOS SDK dial) it means
//! AppSync. On `/graphql` it means AppSync only when the client also presents an AppSync auth
//! object (a `header` query parameter or a `header-` subprotocol), otherwise the legacy protocol.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{ConnectInfo, MatchedPath, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

use crate::app::App;
use crate::auth::Credentials;
use crate::auth::credentials::{self, HEADER_SUBPROTOCOL_PREFIX, query_parameter};
use crate::protocol::{Fault, Protocol, Reply, close_frame};
use crate::session::{self, Peer};

/// Where a client dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/graphql`: graphql-transport-ws, Apollo's legacy protocol, or AppSync with an auth object.
    Graphql,
    /// `/graphql/realtime`: AppSync (graphql-transport-ws is served there too).
    Realtime,
}

/// The protocol for a connection, or `None` when the client offered nothing we speak.
pub fn choose_protocol(
    endpoint: Endpoint,
    offered: &[String],
    query: Option<&str>,
) -> Option<Protocol> {
    let offers = |name: &str| offered.iter().any(|p| p == name);
    let appsync_auth = offered
        .iter()
        .any(|p| p.starts_with(HEADER_SUBPROTOCOL_PREFIX))
        || query.is_some_and(|q| query_parameter(q, "header").is_some());
    if offers("graphql-ws") && (endpoint == Endpoint::Realtime || appsync_auth) {
        return Some(Protocol::AppSync);
    }
    Protocol::from_offered(offered.iter().map(String::as_str))
}

/// The upgrade on either path; which one the client dialled decides between the protocols that
/// share `graphql-ws`. A browser's plain `GET /graphql` for a page gets GraphiQL instead.
pub async fn upgrade(
    path: MatchedPath,
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let endpoint = if path.as_str().ends_with("/realtime") {
        Endpoint::Realtime
    } else {
        Endpoint::Graphql
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) if endpoint == Endpoint::Graphql && super::graphiql::wants_page(&headers) => {
            return super::graphiql::page(&app, &headers);
        }
        Err(rejection) => {
            let offer = "graphql-transport-ws or graphql-ws";
            let instead =
                "POST queries and mutations to /graphql, or open it in a browser for GraphiQL";
            return super::errors::not_an_upgrade(rejection, path.as_str(), offer, instead);
        }
    };
    let settings = &app.settings;
    let offered: Vec<String> = ws
        .requested_protocols()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let protocol = choose_protocol(endpoint, &offered, query.as_deref());
    let mut ws = sized(ws, settings);
    let Some(protocol) = protocol else {
        return refuse(endpoint, ws);
    };
    // Exactly the protocol's name, never the `header-...` value beside it: browsers abort a
    // handshake whose answer is not one of the offered protocols.
    ws.set_selected_protocol(HeaderValue::from_static(protocol.subprotocol()));
    let credentials = match protocol {
        Protocol::AppSync => {
            credentials::from_appsync_upgrade(&offered, query.as_deref(), &headers)
        }
        _ => Ok(Credentials::from_http(&headers)),
    };
    let peer = admit(&app, remote, &headers, credentials);
    let sessions = app.sessions.clone();
    // The session logs in a span of its own that carries the request's id (`Peer::request_id`).
    ws.on_upgrade(move |socket| sessions.track_future(session::run(app, socket, protocol, peer)))
}

/// The buffers and size limits every WebSocket gets.
pub fn sized(ws: WebSocketUpgrade, settings: &crate::config::Settings) -> WebSocketUpgrade {
    ws.read_buffer_size(settings.websocket.ws_read_buffer_bytes)
        .write_buffer_size(settings.websocket.ws_write_buffer_bytes)
        .max_write_buffer_size(
            settings
                .websocket
                .ws_max_write_buffer_bytes
                .max(settings.websocket.ws_write_buffer_bytes + 1),
        )
        .max_message_size(settings.max_frame_bytes)
        .max_frame_size(settings.max_frame_bytes)
}

/// The connection as its session sees it: its place in its address's count, and a refusal
/// (origin not allowed, too many connections) to report in its protocol once upgraded.
pub fn admit(
    app: &App,
    remote: SocketAddr,
    headers: &HeaderMap,
    credentials: Result<Credentials, crate::auth::CredentialsError>,
) -> Peer {
    let slot = app.limits.connect(remote.ip());
    let refusal = if !origin_allowed(&app.settings.allowed_origins, headers) {
        Some(Fault::Forbidden(
            "this origin may not open WebSockets here".to_owned(),
        ))
    } else if slot.is_none() {
        Some(Fault::TooManyRequests(
            "too many connections from this address".to_owned(),
        ))
    } else {
        None
    };
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Peer {
        remote,
        request_id,
        credentials,
        refusal,
        slot,
    }
}

/// Whether a browser's `Origin` may connect: any when the allow-list is empty or holds `*`;
/// a request without `Origin` comes from no browser, and the allow-list is a browser defence.
pub fn origin_allowed(allowed: &[String], headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    allowed.is_empty()
        || allowed
            .iter()
            .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// No protocol we speak was offered. The upgrade still succeeds so the client learns why in its
/// own protocol: AppSync's `connection_error` on the realtime path, graphql-ws's 4406 elsewhere.
fn refuse(endpoint: Endpoint, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |mut socket| async move {
        let encoded = match endpoint {
            Endpoint::Realtime => Protocol::AppSync.encode(Reply::Fault(Fault::NoSubprotocol)),
            Endpoint::Graphql => {
                Protocol::GraphqlTransportWs.encode(Reply::Fault(Fault::NoSubprotocol))
            }
        };
        for frame in encoded.frames {
            if socket.send(frame).await.is_err() {
                return;
            }
        }
        let close = encoded
            .close
            .unwrap_or_else(|| close_frame(4406, "Subprotocol not acceptable"));
        let _ = socket.send(Message::Close(Some(close))).await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn graphql_ws_means_appsync_only_with_its_auth_or_on_realtime() {
        let legacy = offered(&["graphql-ws"]);
        let with_header = offered(&["graphql-ws", "header-eyJ9"]);
        use Endpoint::*;
        use Protocol::*;
        assert_eq!(choose_protocol(Realtime, &legacy, None), Some(AppSync));
        assert_eq!(
            choose_protocol(Graphql, &legacy, None),
            Some(SubscriptionsTransportWs)
        );
        assert_eq!(choose_protocol(Graphql, &with_header, None), Some(AppSync));
        assert_eq!(
            choose_protocol(Graphql, &legacy, Some("header=eyJ9&payload=e30=")),
            Some(AppSync)
        );
        assert_eq!(
            choose_protocol(Realtime, &offered(&["graphql-transport-ws"]), None),
            Some(GraphqlTransportWs)
        );
        assert_eq!(choose_protocol(Realtime, &offered(&["mqtt"]), None), None);
    }
}

//! The WebSocket upgrade on `/graphql`: picks the protocol from the offered subprotocols, tunes
//! the socket's buffers and limits, and hands it to a session.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

use crate::protocol::{Protocol, close_frame};
use crate::server::App;
use crate::session::{self, Peer};

pub async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let settings = &app.settings;
    let offered: Vec<String> = ws
        .requested_protocols()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let protocol = Protocol::from_offered(offered.iter().map(String::as_str));
    let mut ws = ws
        .read_buffer_size(settings.ws_read_buffer_bytes)
        .write_buffer_size(settings.ws_write_buffer_bytes)
        .max_write_buffer_size(
            settings
                .ws_max_write_buffer_bytes
                .max(settings.ws_write_buffer_bytes + 1),
        )
        .max_message_size(settings.max_frame_bytes)
        .max_frame_size(settings.max_frame_bytes);
    let Some(protocol) = protocol else {
        // As graphql-ws does: accept, then close with 4406 so the client learns why.
        return ws.on_upgrade(|mut socket| async move {
            let _ = socket
                .send(Message::Close(Some(close_frame(
                    4406,
                    "Subprotocol not acceptable",
                ))))
                .await;
        });
    };
    ws.set_selected_protocol(HeaderValue::from_static(protocol.subprotocol()));
    let peer = Peer {
        remote,
        api_key: headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let sessions = app.sessions.clone();
    ws.on_upgrade(move |socket| sessions.track_future(session::run(app, socket, protocol, peer)))
}

//! The live status page at `/`: a user's jobs as timelines, replayed from the user's stream and
//! then live over graphql-transport-ws, resuming from its last position after a reconnection
//! (`web/status/`). Plain HTML, CSS and JavaScript embedded in
//! the binary, so it works offline and needs nothing beside the server. It holds no secret: the
//! visitor supplies the userId and the credential, and the page presents them as any client does.

use axum::http::HeaderName;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../web/status/index.html");
const SCRIPT: &str = include_str!("../../web/status/app.js");
const STYLE: &str = include_str!("../../web/status/style.css");

/// Only this server's own assets, its own `/graphql` (`ws:`/`wss:` for browsers whose `'self'`
/// does not cover WebSocket schemes), and no framing.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the page.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

/// `GET /status/app.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /status/style.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers: [(HeaderName, &'static str); 4] = [
        (CONTENT_TYPE, content_type),
        // Revalidate, so a new binary's page is picked up at once.
        (CACHE_CONTROL, "no-cache"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (CONTENT_SECURITY_POLICY, POLICY),
    ];
    (headers, body).into_response()
}

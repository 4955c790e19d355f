//! The HTTP surface: `POST /graphql` for queries and mutations, and the WebSocket upgrades on the
//! same path and on `/graphql/realtime`. Handlers translate between HTTP and the rest; they hold
//! no business logic.

mod graphql;
pub mod websocket;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use crate::server::App;

pub fn router(app: Arc<App>) -> Router {
    let body_limit = app.settings.max_request_bytes;
    Router::new()
        .route("/graphql", get(websocket::upgrade).post(graphql::execute))
        .route("/graphql/realtime", get(websocket::upgrade))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(app)
}

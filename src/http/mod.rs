//! The HTTP surface: `POST /graphql` for queries and mutations, and the WebSocket upgrade on the
//! same path. Handlers translate between HTTP and the rest; they hold no business logic.

mod graphql;
mod websocket;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use crate::server::App;

pub fn router(app: Arc<App>) -> Router {
    let body_limit = app.settings.max_request_bytes;
    Router::new()
        .route("/graphql", get(websocket::upgrade).post(graphql::execute))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(app)
}

//! The HTTP surface: `POST /graphql` for queries and mutations, and the WebSocket upgrades on the
//! same path and on `/graphql/realtime`; a browser's plain `GET /graphql` gets GraphiQL
//! (`graphiql`). Handlers translate between HTTP and the rest; they hold no business logic.

mod admin;
mod body;
mod errors;
mod events;
mod graphiql;
mod graphql;
mod health;
mod status_page;
pub mod websocket;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use crate::app::App;

pub fn router(app: Arc<App>) -> Router {
    let body_limit = app.settings.max_request_bytes;
    let cors = cors(&app.settings.allowed_origins);
    Router::new()
        .route("/", get(status_page::page))
        .route("/status/app.js", get(status_page::script))
        .route("/status/style.css", get(status_page::style))
        .route("/graphql", get(websocket::upgrade).post(graphql::execute))
        .route("/graphql/realtime", get(websocket::upgrade))
        .route("/graphiql/app.js", get(graphiql::app_js))
        .route("/graphiql/app.css", get(graphiql::app_css))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/event", axum::routing::post(events::publish))
        .route("/event/realtime", get(events::upgrade))
        .route("/admin/connections", get(admin::list))
        .route("/admin/invalidate", axum::routing::post(admin::invalidate))
        .route(
            "/admin/connections/{id}",
            axum::routing::delete(admin::kick),
        )
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(cors)
        .with_state(app)
}

/// CORS for browsers calling `POST /graphql`: the allowed origins (any when none or `*` is
/// configured), the headers AppSync clients send (`x-api-key`, `authorization`, the SigV4 ones).
fn cors(allowed: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins = if allowed.is_empty() || allowed.iter().any(|a| a == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            allowed
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    let headers = [
        "content-type",
        "x-api-key",
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-user-agent",
    ]
    .map(HeaderName::from_static);
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
        .allow_headers(headers)
        .max_age(std::time::Duration::from_secs(600))
}

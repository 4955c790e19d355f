//! `/health`, `/ready` and `/metrics`, for load balancers, orchestrators and Prometheus.
//!
//! - `GET /metrics`: the node's figures in Prometheus text (see `crate::metrics`), served on the
//!   main listener (no extra port).
//! - `GET /health`: the process is alive and serving HTTP (always 200 while it is).
//! - `GET /ready`: the node can do its job: not shutting down, and Redis answers when the node is
//!   part of a cluster (a node that cannot reach Redis would refuse every publish). 503 with the
//!   reason otherwise, so a load balancer sends traffic elsewhere.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::App;

pub async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

pub async fn ready(State(app): State<Arc<App>>) -> Response {
    match readiness(&app).await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "reason": reason})),
        )
            .into_response(),
    }
}

async fn readiness(app: &App) -> Result<(), String> {
    if app.shutdown.is_cancelled() {
        return Err("shutting down".to_owned());
    }
    if let Some(link) = &app.redis {
        link.ping()
            .await
            .map_err(|error| format!("Redis is unreachable: {error}"))?;
    }
    Ok(())
}

pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    // Counts kept elsewhere are copied in when scraped, not counted twice on their paths.
    let exported = &app.metrics.exported;
    exported
        .redis_reconnects
        .absolute(crate::pubsub::BusStats::get(
            &app.bus.stats().disconnections,
        ));
    exported.slow_consumers.absolute(
        app.metrics
            .slow_consumer_disconnects
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

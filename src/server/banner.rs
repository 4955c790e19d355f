//! What `serve` prints once it listens: the endpoints, and what the served schema offers, so a
//! user with a schema of their own sees their fields, not the status schema's.

use std::fmt::Write as _;
use std::path::Path;

use super::Server;
use crate::graphql::schema::SchemaModel;

/// The banner for `server` (`tls_dir`: where `--tls-self-signed` keeps its CA).
pub fn render(server: &Server, tls_dir: Option<&Path>) -> String {
    let app = server.app();
    let addr = server.local_addr();
    let (http, ws) = if server.is_tls() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let mut out = String::from("Switchboard is listening\n");
    let mut line = |label: &str, text: String| {
        let _ = writeln!(out, "  {label:<10} {text}");
    };
    line("HTTP", format!("{http}://{addr}/graphql"));
    line(
        "WebSocket",
        format!("{ws}://{addr}/graphql          (graphql-transport-ws, Apollo legacy)"),
    );
    line(
        "",
        format!("{ws}://{addr}/graphql/realtime (AppSync: Amplify, Apollo's AppSync link)"),
    );
    if server.is_tls() {
        line(
            "",
            "(the same port speaks plain http:// and ws:// too)".to_owned(),
        );
    }
    line(
        "GraphiQL",
        format!("{http}://{addr}/graphql   (in a browser)"),
    );
    let model = &app.api.model;
    for offer in offers(model) {
        line("Schema", offer);
    }
    if status_shaped(model) {
        line("Status", format!("{http}://{addr}/?userId=u1"));
    }
    let namespaces = app.settings.events.event_namespaces.join(", ");
    line(
        "Events",
        format!("{http}://{addr}/event, {ws}://{addr}/event/realtime   (namespaces: {namespaces})"),
    );
    if let Some(url) = &app.settings.cluster.redis_url {
        line(
            "Cluster",
            format!(
                "node {} on Redis {}",
                app.node_id,
                crate::redis_link::redacted_url(url)
            ),
        );
    }
    if let Some(dir) = tls_dir {
        line(
            "CA",
            format!(
                "{}   (trust it: NODE_EXTRA_CA_CERTS, or the browser's certificate store)",
                dir.join("ca.pem").display()
            ),
        );
    }
    if let Some(key) = server.generated_key() {
        line(
            "API key",
            format!("{key}   (generated for this run; pass --api-key to choose one)"),
        );
    }
    out
}

/// One line per mutation with the subscriptions it fires, then the history queries, sorted.
fn offers(model: &SchemaModel) -> Vec<String> {
    let mut routes: Vec<String> = model
        .routes
        .iter()
        .map(|(mutation, fields)| {
            let fired: Vec<&str> = fields.iter().map(|f| &**f).collect();
            match fired.is_empty() {
                true => mutation.clone(),
                false => format!("{mutation} -> {}", fired.join(", ")),
            }
        })
        .collect();
    routes.sort();
    let mut history: Vec<&str> = model.history.iter().map(|h| h.field.as_str()).collect();
    history.sort_unstable();
    if !history.is_empty() {
        routes.push(format!("history: {}", history.join(", ")));
    }
    routes
}

/// Whether the status page works with this schema: it follows `onStatusUpdate(userId)`.
fn status_shaped(model: &SchemaModel) -> bool {
    model.subscriptions.contains_key("onStatusUpdate")
}

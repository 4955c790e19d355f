//! GraphiQL on `GET /graphql` for a browser (a GET without `Upgrade: websocket` that accepts
//! `text/html`), and its two assets. The JS and CSS are built from npm packages by
//! `web/graphiql` (`npm run build`) and embedded here, so the page loads nothing from elsewhere.
//!
//! The page runs queries and mutations over `POST /graphql` and subscriptions over
//! graphql-transport-ws on the same URL; the headers editor's JSON is sent as HTTP headers and as
//! `connection_init`'s payload, so `{"x-api-key": ...}` there authenticates both.
//!
//! The API key is prefilled only for local use: when the server listens on a loopback address,
//! the request names a loopback host (not a DNS-rebound name), comes from no other origin (the
//! CORS layer would let that origin read the page) and through no proxy. Anywhere else the page
//! asks for the key.

use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::app::App;
use crate::auth::{AuthMode, KeyCheck};

const APP_JS: &[u8] = include_bytes!("../../web/graphiql/dist/app.js");
const APP_CSS: &[u8] = include_bytes!("../../web/graphiql/dist/app.css");

/// The assets' URLs carry a hash of their content, so a year's caching never serves a browser
/// the previous build's bundle.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (APP_JS, APP_CSS).hash(&mut hasher);
    format!("{:016x}", hasher.finish())
});

/// Scripts and styles from this server only; requests (HTTP and WebSocket) to it only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether a `GET /graphql` that is no WebSocket upgrade comes from a browser asking for a page.
pub fn wants_page(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|accept| accept.to_ascii_lowercase().contains("text/html"))
}

/// The GraphiQL page.
pub fn page(app: &App, headers: &HeaderMap) -> Response {
    let key = local_key(app, headers).unwrap_or_default();
    // Inside a non-executing `<script type="application/json">`: `<` escaped, so nothing in it
    // can close the element.
    let example = crate::graphql::schema::example::example(&app.api.model);
    let config = serde_json::json!({
        "apiKey": key,
        "subscription": example.as_ref().map(|e| e.subscription.as_str()),
        "mutation": example.as_ref().and_then(|e| e.mutation.as_deref()),
    })
    .to_string()
    .replace('<', "\\u003c");
    let version = VERSION.as_str();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="graphiql/app.css?v={version}">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script id="switchboard-config" type="application/json">{config}</script>
<script src="graphiql/app.js?v={version}"></script>
</body>
</html>
"#
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page may hold the key: never stored, never shared between hosts.
            (header::CACHE_CONTROL, "no-store"),
            (header::VARY, "Accept"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

/// `GET /graphiql/app.js`.
pub async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /graphiql/app.css`.
pub async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", VERSION.as_str()))
        .expect("a hex ETag is a valid header value");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// The API key to prefill, when this request is local use (see the module docs): the first
/// configured key that is valid now, else (a generated key, or one from `--api-keys-file`) the
/// first valid one in sorted order.
fn local_key(app: &App, headers: &HeaderMap) -> Option<String> {
    if !app.auth.enabled(AuthMode::ApiKey)
        || !app.settings.listen.ip().is_loopback()
        || !is_local_request(headers)
    {
        return None;
    }
    let keys = app.auth.api_keys();
    let now = Utc::now();
    let configured = app
        .settings
        .api_keys
        .iter()
        .map(|entry| entry.split('@').next().unwrap_or_default().trim());
    let mut others: Vec<&str> = keys.secrets().collect();
    others.sort_unstable();
    configured
        .chain(others)
        .find(|key| !key.is_empty() && keys.check(key, now) == KeyCheck::Valid)
        .map(str::to_owned)
}

/// A request from a browser on this machine, for itself: a loopback `Host`, no `Origin` but its
/// own, and no proxy's forwarding headers.
fn is_local_request(headers: &HeaderMap) -> bool {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(host) = header(header::HOST) else {
        return false;
    };
    let proxied = [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-real-ip",
    ]
    .iter()
    .any(|name| headers.contains_key(*name));
    let own_origin = header(header::ORIGIN).is_none_or(|origin| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host))
    });
    is_loopback_host(host) && own_origin && !proxied
}

/// `localhost` (and `*.localhost`), `127.0.0.0/8` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => return false,
        }
    } else {
        host.split(':').next().unwrap_or_default()
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    axum::http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn a_browser_asking_for_html_gets_the_page() {
        let browser = [(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )];
        assert!(wants_page(&headers(&browser)));
        assert!(!wants_page(&headers(&[("accept", "application/json")])));
        assert!(!wants_page(&headers(&[])));
        assert!(!wants_page(&headers(&[
            browser[0],
            ("upgrade", "websocket")
        ])));
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:4000",
            "app.localhost:4000",
            "127.0.0.1:4000",
            "127.8.9.10",
            "[::1]:4000",
            "[::1]",
            "LOCALHOST.",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "example.com",
            "localhost.example.com:4000",
            "10.0.0.1:4000",
            "[::2]:4000",
            "[::1]x",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn only_a_local_same_origin_request_is_local() {
        let host = ("host", "127.0.0.1:4000");
        assert!(is_local_request(&headers(&[host])));
        assert!(is_local_request(&headers(&[
            host,
            ("origin", "http://127.0.0.1:4000")
        ])));
        // Another site reading the page through CORS.
        assert!(!is_local_request(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        // A name rebound to 127.0.0.1.
        assert!(!is_local_request(&headers(&[(
            "host",
            "evil.example:4000"
        )])));
        // A proxy in front of the loopback listener.
        assert!(!is_local_request(&headers(&[
            host,
            ("x-forwarded-for", "203.0.113.9")
        ])));
        assert!(!is_local_request(&headers(&[])));
    }
}

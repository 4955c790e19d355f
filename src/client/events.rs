//! `switchboard publish --channel` and `switchboard subscribe --channel`: AppSync Events as any
//! client speaks it, `POST /event` and `aws-appsync-event-ws` on `/event/realtime` with the API
//! key in the upgrade's headers (as the Swift and Kotlin clients send it).

use futures_util::SinkExt;
use serde_json::{Value as Json, json};
use tokio_tungstenite::tungstenite::Message;

use super::{ClientError, Endpoint, next_json, open, websocket_url};

/// The server's URL with `path` in place of the GraphQL endpoint's.
fn with_path(url: &str, path: &str) -> Result<String, ClientError> {
    let mut parsed = url::Url::parse(url).map_err(|_| ClientError::Url(url.to_owned()))?;
    parsed.set_path(path);
    parsed.set_query(None);
    Ok(parsed.to_string())
}

/// Publishes `events` (each a JSON value's text) to `channel`; the server's answer, with the
/// `successful` and `failed` lists.
pub async fn publish(
    endpoint: &Endpoint,
    channel: &str,
    events: &[String],
) -> Result<Json, ClientError> {
    let url = with_path(&endpoint.url, "/event")?;
    let response = crate::net::http_client::with_tls(endpoint.tls.clone())
        .map_err(ClientError::HttpClient)?
        .post(url)
        .header("x-api-key", &endpoint.api_key)
        .json(&json!({"channel": channel, "events": events}))
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        return Err(ClientError::Status {
            status: status.as_u16(),
            body: text,
        });
    }
    serde_json::from_str(&text).map_err(|_| ClientError::Status {
        status: status.as_u16(),
        body: text,
    })
}

/// Subscribes to `channel`, calls `on_subscribed` once the server confirms it (with the
/// stream's state), then `on_event` with each event (parsed; with `resume`, as
/// `{"epoch","offset","event"}`), until `count` have arrived (or forever).
pub async fn subscribe(
    endpoint: &Endpoint,
    channel: &str,
    count: Option<usize>,
    resume: Option<super::ResumeFrom>,
    on_subscribed: impl FnOnce(&Json),
    mut on_event: impl FnMut(Json),
) -> Result<(), ClientError> {
    let url = with_path(&websocket_url(&endpoint.url)?, "/event/realtime")?;
    let mut ws = open(
        endpoint,
        &url,
        "aws-appsync-event-ws",
        &[("x-api-key", &endpoint.api_key)],
    )
    .await?;
    let mut subscribe = json!({"type": "subscribe", "id": "1", "channel": channel});
    if let (Some(resume), Some(fields)) = (&resume, subscribe.as_object_mut())
        && let Json::Object(asked) = resume.extensions()
    {
        fields.extend(asked);
    }
    ws.send(Message::text(subscribe.to_string())).await?;
    let mut on_subscribed = Some(on_subscribed);
    let mut received = 0;
    while count.is_none_or(|n| received < n) {
        let Some(message) = next_json(&mut ws).await? else {
            continue;
        };
        match message["type"].as_str() {
            Some("subscribe_success") => {
                if let Some(subscribed) = on_subscribed.take() {
                    subscribed(&message["stream"]);
                }
            }
            Some("data") => {
                received += 1;
                let event = message["event"].as_str().unwrap_or("null");
                let event = serde_json::from_str(event).unwrap_or(Json::Null);
                on_event(match &resume {
                    Some(_) => json!({"epoch": message["stream"]["epoch"],
                        "offset": message["stream"]["offset"], "event": event}),
                    None => event,
                });
            }
            Some("subscribe_error" | "connection_error" | "error") => {
                return Err(ClientError::Graphql(message["errors"].to_string()));
            }
            _ => {}
        }
    }
    ws.send(Message::text(r#"{"type":"unsubscribe","id":"1"}"#))
        .await?;
    ws.close(None).await?;
    Ok(())
}

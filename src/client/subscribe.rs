//! `switchboard subscribe`: any GraphQL subscription of the served schema (`--query`, or the
//! status schema's `onStatusUpdate` shorthand), over graphql-transport-ws or AppSync's real-time
//! protocol, each with TLS and resume. One loop reads either wire's messages as [`Heard`].

use base64::Engine as _;
use futures_util::SinkExt;
use serde_json::{Value as Json, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::{ClientError, Endpoint, Io, ResumeFrom, STATUS_FIELDS, next_json, open, websocket_url};

/// The WebSocket protocol the CLI subscribes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Wire {
    /// graphql-transport-ws, as `graphql-ws` and Apollo speak it.
    TransportWs,
    /// AppSync's real-time protocol on `/graphql/realtime`, as Amplify speaks it.
    Appsync,
}

/// A subscription as the CLI asks for it: the document, its variables, and what of each
/// response is printed.
#[derive(Debug, Clone)]
pub struct SubscriptionRequest {
    pub query: String,
    pub variables: Json,
    /// The root field whose value is printed; `None` prints the whole `data`.
    pub field: Option<String>,
}

impl SubscriptionRequest {
    /// The status schema's `onStatusUpdate(userId)`, printing each `Status`.
    pub fn status(user_id: &str) -> Self {
        Self {
            query: format!(
                "subscription OnStatus($userId: ID!) {{ onStatusUpdate(userId: $userId) {{ {STATUS_FIELDS} }} }}"
            ),
            variables: json!({"userId": user_id}),
            field: Some("onStatusUpdate".to_owned()),
        }
    }

    /// What a printed line with a position names its value: `status` for the shorthand, `data`
    /// for any other document.
    fn label(&self) -> &'static str {
        if self.field.is_some() {
            "status"
        } else {
            "data"
        }
    }
}

/// What the server said, in either wire's words.
enum Heard {
    /// The subscription is live; with the stream's state when resuming.
    Live(Option<Json>),
    /// One response: its `data` and, when asked, its position.
    Data {
        data: Json,
        stream: Json,
    },
    /// A keep-alive to answer (graphql-transport-ws's `ping`).
    Ping,
    /// The server ended the subscription (completed, or invalidated by a mutation).
    Ended,
    Failed(String),
    Other,
}

/// Subscribes with `request` over `wire`, calls `on_subscribed` once the server has it (with
/// the stream's state when resuming), then `on_data` with each response's value (with
/// `resume`: `{"epoch","offset",<label>}`), until `count` have arrived (or forever). The server
/// ending the subscription is an error ([`ClientError::Ended`]).
pub async fn subscribe(
    endpoint: &Endpoint,
    request: &SubscriptionRequest,
    wire: Wire,
    count: Option<usize>,
    resume: Option<ResumeFrom>,
    on_subscribed: impl FnOnce(Option<&Json>),
    mut on_data: impl FnMut(Json),
) -> Result<(), ClientError> {
    let mut ws = connect(endpoint, request, wire, resume.as_ref()).await?;
    let mut on_subscribed = Some(on_subscribed);
    let mut received = 0;
    while count.is_none_or(|n| received < n) {
        let Some(message) = next_json(&mut ws).await? else {
            continue;
        };
        match heard(wire, &message) {
            Heard::Live(stream) => {
                if let Some(subscribed) = on_subscribed.take() {
                    subscribed(stream.as_ref());
                }
            }
            Heard::Data { data, stream } => {
                received += 1;
                let value = match &request.field {
                    Some(field) => data[field].clone(),
                    None => data,
                };
                on_data(match resume {
                    Some(_) => json!({"epoch": stream["epoch"], "offset": stream["offset"],
                        request.label(): value}),
                    None => value,
                });
            }
            Heard::Ping => ws.send(Message::text(r#"{"type":"pong"}"#)).await?,
            Heard::Ended => return Err(ClientError::Ended),
            Heard::Failed(errors) => return Err(ClientError::Graphql(errors)),
            Heard::Other => {}
        }
    }
    let stop = match wire {
        Wire::TransportWs => r#"{"type":"complete","id":"1"}"#,
        Wire::Appsync => r#"{"type":"stop","id":"1"}"#,
    };
    ws.send(Message::text(stop)).await?;
    ws.close(None).await?;
    Ok(())
}

/// Opens the socket, is acknowledged, and sends the subscription (with graphql-transport-ws a
/// `ping` after it: the server answers frames in order and files a subscription before it
/// reads the next one, so the `pong` means the subscription is live).
async fn connect(
    endpoint: &Endpoint,
    request: &SubscriptionRequest,
    wire: Wire,
    resume: Option<&ResumeFrom>,
) -> Result<WebSocketStream<Box<dyn Io>>, ClientError> {
    let graphql = json!({"query": request.query, "variables": request.variables});
    let url = websocket_url(&endpoint.url)?;
    let (mut ws, subscribe, init) = match wire {
        Wire::TransportWs => {
            let ws = open(endpoint, &url, "graphql-transport-ws", &[]).await?;
            let mut payload = graphql;
            if let Some(resume) = resume {
                payload["extensions"] = resume.extensions();
            }
            let subscribe = json!({"id": "1", "type": "subscribe", "payload": payload});
            let init =
                json!({"type": "connection_init", "payload": {"x-api-key": endpoint.api_key}});
            (ws, subscribe, init)
        }
        Wire::Appsync => {
            let parsed = url::Url::parse(&url).map_err(|_| ClientError::Url(url.clone()))?;
            let host = parsed.host_str().unwrap_or_default();
            let authorization = json!({"host": host, "x-api-key": endpoint.api_key});
            let header =
                base64::engine::general_purpose::STANDARD.encode(authorization.to_string());
            let mut realtime = url::Url::parse(&format!("{}/realtime", url.trim_end_matches('/')))
                .map_err(|_| ClientError::Url(url.clone()))?;
            realtime
                .query_pairs_mut()
                .append_pair("header", &header)
                .append_pair("payload", "e30=");
            let ws = open(endpoint, realtime.as_str(), "graphql-ws", &[]).await?;
            let mut extensions = match resume {
                Some(resume) => resume.extensions(),
                None => json!({}),
            };
            extensions["authorization"] = authorization;
            let subscribe = json!({"id": "1", "type": "start", "payload": {
                "data": graphql.to_string(), "extensions": extensions}});
            (ws, subscribe, json!({"type": "connection_init"}))
        }
    };
    ws.send(Message::text(init.to_string())).await?;
    loop {
        let Some(message) = next_json(&mut ws).await? else {
            continue;
        };
        match message["type"].as_str() {
            Some("connection_ack") => break,
            Some("connection_error" | "error") => {
                let errors = &message["payload"]["errors"];
                return Err(ClientError::Graphql(errors.to_string()));
            }
            _ => {}
        }
    }
    ws.send(Message::text(subscribe.to_string())).await?;
    if wire == Wire::TransportWs {
        ws.send(Message::text(r#"{"type":"ping"}"#)).await?;
    }
    Ok(ws)
}

fn heard(wire: Wire, message: &Json) -> Heard {
    let payload = &message["payload"];
    let stream = &payload["extensions"]["stream"];
    match (wire, message["type"].as_str()) {
        // graphql-transport-ws: the stream's state comes as a `next` without data, before the
        // pong; the pong says the subscription is live.
        (Wire::TransportWs, Some("next")) if payload["data"].is_null() && stream.is_object() => {
            Heard::Live(Some(stream.clone()))
        }
        (Wire::TransportWs, Some("pong")) => Heard::Live(None),
        (Wire::TransportWs, Some("ping")) => Heard::Ping,
        (Wire::Appsync, Some("start_ack")) => {
            Heard::Live(stream.is_object().then(|| stream.clone()))
        }
        (Wire::TransportWs, Some("next")) | (Wire::Appsync, Some("data")) => Heard::Data {
            data: payload["data"].clone(),
            stream: stream.clone(),
        },
        (_, Some("complete")) => Heard::Ended,
        (Wire::TransportWs, Some("error")) => Heard::Failed(payload.to_string()),
        (Wire::Appsync, Some("error")) => Heard::Failed(payload["errors"].to_string()),
        _ => Heard::Other,
    }
}

//! The client side of the CLI: `switchboard publish` and `switchboard subscribe` against a running
//! server, over the same HTTP and WebSocket protocols any client uses ([`subscribe`]: any
//! subscription, over graphql-transport-ws or AppSync's), and their AppSync Events forms
//! (`--channel`, see [`events`]).

pub mod amplify;
pub mod args;
pub mod events;
mod failure;
pub mod subscribe;

use std::sync::Arc;

use futures_util::StreamExt;
use rustls_pki_types::ServerName;
use serde::Serialize;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The fields of a `Status` the CLI asks for.
pub(crate) const STATUS_FIELDS: &str = "jobId userId agentName status message timestamp";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached, or the connection failed: one line, with what to try.
    #[error("cannot reach {url}: {cause}{hint}")]
    Unreachable {
        url: String,
        cause: String,
        hint: failure::Hint,
    },
    #[error("the server answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the server returned errors: {0}")]
    Graphql(String),
    #[error("invalid URL `{0}`: use http(s)://host:port/graphql or ws(s)://host:port/graphql")]
    Url(String),
    #[error("the server closed the connection: {0}")]
    Closed(String),
    #[error("the server ended the subscription (it completed, or a mutation invalidated it)")]
    Ended,
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

impl ClientError {
    /// A failure to reach `url` (or of the connection to it), diagnosed.
    pub fn unreachable(url: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        let (cause, hint) = failure::diagnose(error);
        Self::Unreachable {
            url: url.to_owned(),
            cause,
            hint,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(error: reqwest::Error) -> Self {
        let url = error.url().map(|u| u.to_string()).unwrap_or_default();
        Self::unreachable(&url, &error)
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(error: tokio_tungstenite::tungstenite::Error) -> Self {
        Self::unreachable("the WebSocket", &error)
    }
}

/// A `StatusInput` of the default schema.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusInput {
    pub job_id: String,
    pub user_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A running server, as the CLI reaches it.
pub struct Endpoint {
    /// `http(s)://host:port/graphql` (`ws(s)://` for the WebSocket is derived from it).
    pub url: String,
    pub api_key: String,
    /// What `https://` and `wss://` trust (`http_client::cli_tls`).
    pub tls: Arc<ClientConfig>,
}

/// Publishes a status (`publishStatus`) and returns the published `Status`; with
/// `idempotency_key`, a retry with the same key gets the first answer and publishes nothing new.
pub async fn publish_status(
    endpoint: &Endpoint,
    input: &StatusInput,
    idempotency_key: Option<&str>,
) -> Result<Json, ClientError> {
    let query = format!(
        "mutation Publish($input: StatusInput!) {{ publishStatus(input: $input) {{ {STATUS_FIELDS} }} }}"
    );
    let data = execute(endpoint, &query, &json!({"input": input}), idempotency_key).await?;
    Ok(data["publishStatus"].clone())
}

/// Runs any query or mutation over HTTP and returns its `data`; an answer with `errors` is an
/// error. With `idempotency_key`, a retried mutation publishes nothing new.
pub async fn execute(
    endpoint: &Endpoint,
    query: &str,
    variables: &Json,
    idempotency_key: Option<&str>,
) -> Result<Json, ClientError> {
    let body = json!({"query": query, "variables": variables});
    let mut post = crate::net::http_client::with_tls(endpoint.tls.clone())
        .map_err(ClientError::HttpClient)?
        .post(&endpoint.url)
        .header("x-api-key", &endpoint.api_key);
    if let Some(key) = idempotency_key {
        post = post.header("idempotency-key", key);
    }
    let response = post.json(&body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    let body: Json = serde_json::from_str(&text).map_err(|_| ClientError::Status {
        status: status.as_u16(),
        body: text.clone(),
    })?;
    if let Some(errors) = body.get("errors") {
        return Err(ClientError::Graphql(errors.to_string()));
    }
    if !status.is_success() {
        return Err(ClientError::Status {
            status: status.as_u16(),
            body: text,
        });
    }
    Ok(body["data"].clone())
}

/// The WebSocket URL for an HTTP GraphQL endpoint (`http` -> `ws`, `https` -> `wss`).
pub fn websocket_url(url: &str) -> Result<String, ClientError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| ClientError::Url(url.to_owned()))?;
    let scheme = match scheme {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(ClientError::Url(url.to_owned())),
    };
    let rest = if rest.contains('/') {
        rest.to_owned()
    } else {
        format!("{rest}/graphql")
    };
    Ok(format!("{scheme}://{rest}"))
}

/// Where a `subscribe --resume` starts in the user's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumeFrom {
    /// From now on, with each status's position.
    Now,
    /// After `offset` of `epoch`: every kept status since, then the live ones.
    After { epoch: String, offset: u64 },
}

impl ResumeFrom {
    /// `""` (from now on) or `EPOCH:OFFSET`, as `subscribe --resume` prints positions.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Self::Now);
        }
        let (epoch, offset) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("`{text}` is not a position like Qm9vTnGh:41"))?;
        let offset = offset
            .parse()
            .map_err(|_| format!("`{offset}` is not an offset (a whole number)"))?;
        Ok(Self::After {
            epoch: epoch.to_owned(),
            offset,
        })
    }

    /// What a subscribe asks of the stream: GraphQL's `extensions`, Events' top-level fields.
    pub(crate) fn extensions(&self) -> Json {
        match self {
            Self::Now => json!({"replay": {"last": 0}}),
            Self::After { epoch, offset } => {
                json!({"resume": {"epoch": epoch, "offset": offset}})
            }
        }
    }
}

/// The next text message as JSON (`None` for a frame of another kind); the server's close is
/// an error that says why.
pub(crate) async fn next_json<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
) -> Result<Option<Json>, ClientError> {
    let Some(message) = ws.next().await else {
        return Err(ClientError::Closed("end of stream".to_owned()));
    };
    match message? {
        Message::Text(text) => Ok(Some(serde_json::from_str(&text).unwrap_or_default())),
        Message::Close(frame) => Err(ClientError::Closed(
            frame
                .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                .unwrap_or_default(),
        )),
        _ => Ok(None),
    }
}

/// A byte stream to the server, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Opens the WebSocket at `url` (`ws://`, or `wss://` trusting what `endpoint` trusts),
/// offering `subprotocol`, with extra request `headers`.
pub(crate) async fn open(
    endpoint: &Endpoint,
    url: &str,
    subprotocol: &'static str,
    headers: &[(&'static str, &str)],
) -> Result<WebSocketStream<Box<dyn Io>>, ClientError> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(subprotocol),
    );
    for (name, value) in headers {
        let value = HeaderValue::from_str(value).map_err(|_| ClientError::Url(url.to_owned()))?;
        request.headers_mut().insert(*name, value);
    }
    let parsed = url::Url::parse(url).map_err(|_| ClientError::Url(url.to_owned()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| ClientError::Url(url.to_owned()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| ClientError::Url(url.to_owned()))?;
    let unreachable =
        |error: &(dyn std::error::Error + 'static)| ClientError::unreachable(url, error);
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| unreachable(&e))?;
    let stream: Box<dyn Io> = if parsed.scheme() == "wss" {
        let name = ServerName::try_from(host).map_err(|_| ClientError::Url(url.to_owned()))?;
        Box::new(
            TlsConnector::from(endpoint.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| unreachable(&e))?,
        )
    } else {
        Box::new(tcp)
    };
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| unreachable(&e))?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls() {
        assert_eq!(
            websocket_url("http://127.0.0.1:4000/graphql").unwrap(),
            "ws://127.0.0.1:4000/graphql"
        );
        assert_eq!(
            websocket_url("https://api.example.com").unwrap(),
            "wss://api.example.com/graphql"
        );
        assert!(websocket_url("ftp://x").is_err());
    }
}

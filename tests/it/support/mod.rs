//! Test support: a real server on 127.0.0.1:0 and real WebSocket clients for each protocol.
#![allow(dead_code)]

pub mod auth;
pub mod cli;
pub mod cluster;
pub mod failover;
pub mod moto;
pub mod node;
pub mod redis;
pub mod redis_cluster;
pub mod redis_sentinel;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use switchboard::{App, Server, Settings};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const KEY: &str = "test-key";

/// How long a test waits for any one message before failing.
pub const WAIT: Duration = Duration::from_secs(5);

pub const STATUS_QUERY: &str = "subscription OnStatus($userId: ID!) { onStatusUpdate(userId: $userId) { jobId userId agentName status message timestamp } }";

/// A server running in this test's runtime; shut down on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    http: reqwest::Client,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with_args(&[]).await
    }

    /// A server with extra command-line settings.
    pub async fn with_args(extra: &[&str]) -> Self {
        let mut args = vec!["--listen", "127.0.0.1:0", "--api-key", KEY];
        args.extend_from_slice(extra);
        let settings = Settings::from_args(args).expect("valid test settings");
        let server = Server::bind(settings).await.expect("server starts");
        let addr = server.local_addr();
        let app = server.app().clone();
        tokio::spawn(server.run());
        Self {
            addr,
            app,
            http: switchboard::net::http_client::client().unwrap(),
        }
    }

    pub fn http_url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/graphql", self.addr)
    }

    /// `POST /graphql` with the given API key; returns the status code and the JSON body.
    pub async fn post(&self, key: Option<&str>, body: Json) -> (u16, Json) {
        let mut request = self.http.post(self.http_url()).json(&body);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    pub async fn graphql(&self, query: &str, variables: Json) -> Json {
        let (status, body) = self
            .post(Some(KEY), json!({"query": query, "variables": variables}))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Publishes a status and returns the published `Status`.
    pub async fn publish(&self, user: &str, job: &str, status: &str) -> Json {
        self.publish_input(json!({"userId": user, "jobId": job, "status": status}))
            .await
    }

    pub async fn publish_input(&self, input: Json) -> Json {
        let body = self
            .graphql(
                "mutation P($input: StatusInput!) { publishStatus(input: $input) { jobId userId agentName status message timestamp } }",
                json!({"input": input}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["publishStatus"].clone()
    }

    pub fn visited(&self) -> u64 {
        self.app.index.stats.visited.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.app.shutdown.cancel();
    }
}

/// The protocols, as a test client speaks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    TransportWs,
    Legacy,
    /// AppSync's real-time protocol on `/graphql/realtime`, credentials in the `header-`
    /// subprotocol, as current Amplify JS dials it.
    AppSync,
}

impl Proto {
    /// The two standard GraphQL protocols.
    pub const ALL: [Proto; 2] = [Proto::TransportWs, Proto::Legacy];
    /// Every protocol the server speaks.
    pub const EVERY: [Proto; 3] = [Proto::TransportWs, Proto::Legacy, Proto::AppSync];

    pub fn subprotocol(self) -> &'static str {
        match self {
            Proto::TransportWs => "graphql-transport-ws",
            Proto::Legacy | Proto::AppSync => "graphql-ws",
        }
    }

    /// The protocol's name in connection records.
    pub fn name(self) -> &'static str {
        match self {
            Proto::TransportWs => "graphql-transport-ws",
            Proto::Legacy => "subscriptions-transport-ws",
            Proto::AppSync => "appsync",
        }
    }

    pub fn subscribe_type(self) -> &'static str {
        match self {
            Proto::TransportWs => "subscribe",
            Proto::Legacy | Proto::AppSync => "start",
        }
    }

    fn stop_type(self) -> &'static str {
        match self {
            Proto::TransportWs => "complete",
            Proto::Legacy | Proto::AppSync => "stop",
        }
    }

    pub fn data_type(self) -> &'static str {
        match self {
            Proto::TransportWs => "next",
            Proto::Legacy | Proto::AppSync => "data",
        }
    }
}

/// A WebSocket client speaking one protocol, with tokio-tungstenite underneath.
pub struct WsClient {
    pub proto: Proto,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Opens the socket (no `connection_init` yet).
    pub async fn connect(server: &TestServer, proto: Proto) -> Self {
        Self::connect_with(server, proto, None).await
    }

    /// Connects; for the standard protocols `api_key_header` goes in an `x-api-key` header, for
    /// AppSync in the `header-` subprotocol (the test key when `None`).
    pub async fn connect_with(
        server: &TestServer,
        proto: Proto,
        api_key_header: Option<&str>,
    ) -> Self {
        Self::connect_at(server.addr, proto, api_key_header).await
    }

    /// [`WsClient::connect_with`] for a server known by its address only (another process).
    pub async fn connect_at(addr: SocketAddr, proto: Proto, api_key_header: Option<&str>) -> Self {
        let (url, subprotocols, headers) = match proto {
            Proto::AppSync => {
                let auth =
                    json!({"host": addr.to_string(), "x-api-key": api_key_header.unwrap_or(KEY)});
                let url = format!("ws://{addr}/graphql/realtime");
                (
                    url,
                    vec!["graphql-ws".to_owned(), header_subprotocol(&auth)],
                    vec![],
                )
            }
            _ => {
                let headers = api_key_header
                    .map(|key| ("x-api-key".to_owned(), key.to_owned()))
                    .into_iter()
                    .collect();
                (
                    format!("ws://{addr}/graphql"),
                    vec![proto.subprotocol().to_owned()],
                    headers,
                )
            }
        };
        let (client, selected) = Self::dial(proto, &url, &subprotocols, &headers).await;
        assert_eq!(
            selected.as_deref(),
            Some(proto.subprotocol()),
            "the server selects the offered protocol"
        );
        client
    }

    /// Opens a WebSocket to `url` offering `subprotocols` with extra request `headers`; returns
    /// the client and the subprotocol the server selected.
    pub async fn dial(
        proto: Proto,
        url: &str,
        subprotocols: &[String],
        headers: &[(String, String)],
    ) -> (Self, Option<String>) {
        let mut request = url.into_client_request().unwrap();
        let request_headers = request.headers_mut();
        if !subprotocols.is_empty() {
            request_headers.insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_str(&subprotocols.join(", ")).unwrap(),
            );
        }
        for (name, value) in headers {
            request_headers.insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let (ws, response) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .expect("WebSocket connects");
        let selected = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        (Self { proto, ws }, selected)
    }

    /// Connects and initialises with the test API key.
    pub async fn ready(server: &TestServer, proto: Proto) -> Self {
        Self::ready_at(server.addr, proto).await
    }

    /// [`WsClient::ready`] for a server known by its address only.
    pub async fn ready_at(addr: SocketAddr, proto: Proto) -> Self {
        let mut client = Self::connect_at(addr, proto, None).await;
        match proto {
            // AppSync clients send no payload; the credentials came with the upgrade.
            Proto::AppSync => client.send(json!({"type": "connection_init"})).await,
            _ => client.init(json!({"x-api-key": KEY})).await,
        }
        let ack = client.next_json().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    pub async fn init(&mut self, payload: Json) {
        self.send(json!({"type": "connection_init", "payload": payload}))
            .await;
    }

    pub async fn send(&mut self, message: Json) {
        self.send_text(&message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Json) {
        if self.proto == Proto::AppSync {
            let data = json!({"query": query, "variables": variables}).to_string();
            return self.start(id, &data, Some(json!({"x-api-key": KEY}))).await;
        }
        let kind = self.proto.subscribe_type();
        self.send(
            json!({"id": id, "type": kind, "payload": {"query": query, "variables": variables}}),
        )
        .await;
    }

    /// An AppSync `start` with `data` (the JSON-encoded request) and its own authorization.
    pub async fn start(&mut self, id: &str, data: &str, authorization: Option<Json>) {
        let mut payload = json!({ "data": data });
        if let Some(authorization) = authorization {
            payload["extensions"] = json!({ "authorization": authorization });
        }
        self.send(json!({"id": id, "type": "start", "payload": payload}))
            .await;
    }

    pub async fn subscribe_user(&mut self, id: &str, user: &str) {
        self.subscribe(id, STATUS_QUERY, json!({"userId": user}))
            .await;
    }

    /// Subscribes and waits until the server has processed the subscription: the server handles a
    /// connection's messages in order, so the answer to a message sent after the subscription
    /// (`pong` to a `ping`; for the legacy protocol, which has no ping, the `error` for an
    /// unknown message) proves the subscription is live.
    /// AppSync says so itself: `start_ack` comes once the subscription is live.
    pub async fn subscribe_live(&mut self, id: &str, user: &str) {
        self.subscribe_user(id, user).await;
        if self.proto == Proto::AppSync {
            let ack = self.next_json().await;
            assert_eq!(
                (ack["type"].as_str(), ack["id"].as_str()),
                (Some("start_ack"), Some(id)),
                "{ack}"
            );
            return;
        }
        self.barrier().await;
    }

    pub async fn barrier(&mut self) {
        match self.proto {
            Proto::TransportWs => {
                self.send(json!({"type": "ping"})).await;
                let pong = self.next_json().await;
                assert_eq!(pong["type"], "pong", "{pong}");
            }
            Proto::Legacy => {
                self.send(json!({"type": "barrier"})).await;
                let error = self.next_json().await;
                assert_eq!(error["type"], "error", "{error}");
            }
            // AppSync answers an unknown type with an id-less error; `start_ack`s for the
            // subscriptions sent before it may come first.
            Proto::AppSync => {
                self.send(json!({"type": "barrier"})).await;
                loop {
                    let message = self.next_json().await;
                    match message["type"].as_str() {
                        Some("start_ack") => continue,
                        Some("error") if message.get("id").is_none() => return,
                        _ => panic!("expected the barrier's error, got {message}"),
                    }
                }
            }
        }
    }

    pub async fn stop(&mut self, id: &str) {
        let kind = self.proto.stop_type();
        self.send(json!({"id": id, "type": kind})).await;
    }

    /// Stops a subscription and waits until the server has processed the stop (the legacy
    /// protocol answers `complete`; graphql-transport-ws answers nothing, so a ping barrier).
    pub async fn stop_live(&mut self, id: &str) {
        self.stop(id).await;
        match self.proto {
            Proto::Legacy | Proto::AppSync => {
                let complete = self.next_json().await;
                assert_eq!(
                    (complete["type"].as_str(), complete["id"].as_str()),
                    (Some("complete"), Some(id))
                );
            }
            Proto::TransportWs => self.barrier().await,
        }
    }

    /// The next text message as JSON, skipping keep-alives; panics after [`WAIT`].
    pub async fn next_json(&mut self) -> Json {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message in time")
                .expect("the connection is open")
                .expect("a valid frame");
            match message {
                Message::Text(text) => {
                    let value: Json = serde_json::from_str(&text).expect("JSON from the server");
                    assert_ne!(
                        value.get("id"),
                        Some(&Json::Null),
                        "never \"id\":null: {value}"
                    );
                    if value["type"] != "ka" {
                        return value;
                    }
                }
                Message::Close(frame) => panic!("unexpected close: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The next data message: its id and its `payload.data`.
    pub async fn next_data(&mut self) -> (String, Json) {
        let message = self.next_json().await;
        assert_eq!(message["type"], self.proto.data_type(), "{message}");
        (
            message["id"].as_str().unwrap().to_owned(),
            message["payload"]["data"].clone(),
        )
    }

    /// The next message is an operation `error` for `id`, in any protocol; returns its first
    /// error object and its `errorType` (top level in AppSync, `extensions` elsewhere).
    pub async fn next_operation_error(&mut self, id: &str) -> (Json, Option<String>) {
        let error = self.next_json().await;
        assert_eq!(
            (error["type"].as_str(), error["id"].as_str()),
            (Some("error"), Some(id)),
            "{error}"
        );
        let first = match self.proto {
            Proto::AppSync => error["payload"]["errors"][0].clone(),
            _ => error["payload"][0].clone(),
        };
        let error_type = first
            .get("errorType")
            .or_else(|| first["extensions"].get("errorType"))
            .and_then(Json::as_str)
            .map(str::to_owned);
        (first, error_type)
    }

    /// Waits for the server to close; returns the close code and reason.
    pub async fn expect_close(&mut self) -> (u16, String) {
        self.close_after(false).await
    }

    /// [`WsClient::expect_close`], letting data that was already on its way arrive first.
    pub async fn expect_close_after_data(&mut self) -> (u16, String) {
        self.close_after(true).await
    }

    async fn close_after(&mut self, data_allowed: bool) -> (u16, String) {
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a close in time");
            match next {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (frame.code.into(), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
                Some(Ok(Message::Text(text))) if text.contains("\"ka\"") => {}
                Some(Ok(Message::Text(text)))
                    if data_allowed
                        && text.contains(&format!("\"{}\"", self.proto.data_type())) => {}
                Some(Ok(Message::Text(text))) => panic!("expected a close, got {text}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => return (1006, e.to_string()),
            }
        }
    }

    /// Asserts that nothing but keep-alives arrives for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Text(text)))) if text.contains("\"ka\"") => {}
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Counts the data messages that arrive until the server closes; returns the count and the
    /// close code (1005 without one, 1006 for a broken connection).
    pub async fn data_until_close(&mut self) -> (usize, u16) {
        let mut data = 0;
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("data or a close in time");
            match next {
                Some(Ok(Message::Close(frame))) => {
                    return (data, frame.map_or(1005, |f| f.code.into()));
                }
                Some(Ok(Message::Text(text)))
                    if text.contains(&format!("\"{}\"", self.proto.data_type())) =>
                {
                    data += 1;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return (data, 1006),
            }
        }
    }

    /// Sends any WebSocket message (a binary frame, say).
    pub async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// The next message of any kind (a close included), within the usual wait.
    pub async fn next_message(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.ws.next()).await {
            Ok(Some(Ok(message))) => Some(message),
            _ => None,
        }
    }

    /// The next frame of any kind, or `None` once the connection has ended (closed or broken).
    pub async fn try_next(&mut self) -> Option<Message> {
        match self.ws.next().await {
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => None,
            Some(Ok(message)) => Some(message),
        }
    }

    /// The next text frame as JSON, keep-alives included.
    pub async fn next_frame_json(&mut self) -> Json {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message in time")
                .expect("the connection is open")
                .expect("a valid frame");
            if let Message::Text(text) = message {
                return serde_json::from_str(&text).expect("JSON from the server");
            }
        }
    }

    /// Sends a close frame and returns the code of the server's answering close frame, or `None`
    /// when the server dropped the connection without one.
    pub async fn close_handshake(&mut self, code: u16) -> Option<u16> {
        use tokio_tungstenite::tungstenite::protocol::CloseFrame;
        let frame = CloseFrame {
            code: code.into(),
            reason: "bye".into(),
        };
        self.ws
            .send(Message::Close(Some(frame)))
            .await
            .expect("send close");
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("an answer in time")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The `header-<base64url>` subprotocol carrying an AppSync auth object.
pub fn header_subprotocol(auth: &Json) -> String {
    use base64::Engine as _;
    format!(
        "header-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(auth.to_string())
    )
}

/// Asserts that `data` is one `onStatusUpdate` of `user` with `status`, and a valid timestamp.
pub fn assert_status(data: &Json, user: &str, status: &str) {
    let s = &data["onStatusUpdate"];
    assert_eq!(s["userId"], user, "{data}");
    assert_eq!(s["status"], status, "{data}");
    let ts = s["timestamp"].as_str().expect("a timestamp");
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z') && ts.len() == 24,
        "AWSDateTime with milliseconds and Z: {ts}"
    );
}

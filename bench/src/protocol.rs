//! The client side of the three GraphQL WebSocket protocols and AppSync Events: where to connect,
//! what to send to subscribe (serde-tagged messages), and which answer proves a subscription live
//! (replies are decoded in `incoming`).
//!
//! None of the protocols acknowledges every subscription the same way, so each says what proves
//! a subscription live ([`Protocol::confirms`]): AppSync's `start_ack`; for graphql-transport-ws
//! a `pong` to a `ping` sent right after `subscribe` (a server handles one connection's messages
//! in order); for the legacy protocol the `error` answering a probe of an unknown type, sent
//! right after `start` for the same reason. AppSync Events answers `subscribe_success`.

use std::net::SocketAddr;

use base64::Engine as _;
use clap::ValueEnum;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use thiserror::Error;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::incoming::ServerMessage;

/// The subscription every subscriber runs, with `$u` its user.
pub const SUBSCRIPTION: &str = "subscription S($u: ID!) { onStatusUpdate(userId: $u) { jobId userId status message timestamp } }";

/// The same with an enhanced filter (`--filter`), for a schema whose `onStatusUpdate` takes
/// `filter: AWSJSON` (`bench/filter_s1.sh` makes one from `schema.graphql`).
pub const FILTERED_SUBSCRIPTION: &str = "subscription S($u: ID!, $f: AWSJSON) { onStatusUpdate(userId: $u, filter: $f) { jobId userId status message timestamp } }";

/// The one subscription id each connection uses.
pub const SUBSCRIPTION_ID: &str = "s1";

/// The id of the legacy protocol's liveness probe.
const PROBE_ID: &str = "bench-probe";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// graphql-transport-ws (subprotocol `graphql-transport-ws`).
    TransportWs,
    /// subscriptions-transport-ws, Apollo's legacy protocol (subprotocol `graphql-ws`).
    Legacy,
    /// AWS AppSync's real-time protocol (subprotocol `graphql-ws`, auth in the URL).
    Appsync,
    /// AppSync Events (subprotocol `aws-appsync-event-ws` on `/event/realtime`, the API key in
    /// the upgrade's headers as Swift and Kotlin send it): user `u{n}` subscribes to channel
    /// `/default/u{n}`, and statuses are published with `POST /event`.
    Events,
}

/// The channel of user `u{user}` in the Events scenarios.
pub fn channel(user: u32) -> String {
    format!("/default/u{user}")
}

#[derive(Debug, Error)]
pub enum EndpointError {
    #[error("--url: {0}")]
    Url(#[from] url::ParseError),
    #[error("--url must be a plain http:// URL, not {0}://")]
    Scheme(String),
    #[error("--url has no host")]
    NoHost,
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, std::io::Error),
}

/// Where the server is, derived once from `--url`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub http_url: String,
    /// `ws://host:port/path`, without AppSync's query.
    pub ws_url: String,
    /// `host:port` as written in the URL, which AppSync's auth object names.
    pub host: String,
    pub addr: SocketAddr,
    pub api_key: String,
    /// An AppSync `filterGroup` JSON every subscriber subscribes with, if any.
    pub filter: Option<String>,
    /// `http://host:port/event` when statuses are AppSync Events, published there.
    pub events_url: Option<String>,
}

/// Which of several nodes the `index`-th subscriber, publisher or churner (or the idle probe's
/// `index`-th publish) goes to: `index % n`, so every kind of work spreads evenly over the
/// nodes, and with one node everything goes to it. `nodes` is never empty (`--url` has a
/// default).
pub fn node_for<T>(nodes: &[T], index: usize) -> &T {
    &nodes[index % nodes.len()]
}

impl Endpoint {
    /// The endpoint of `url`; `events`: the statuses are AppSync Events.
    pub async fn resolve(
        url: &str,
        api_key: &str,
        filter: Option<String>,
        events: bool,
    ) -> Result<Self, EndpointError> {
        let parsed = url::Url::parse(url)?;
        if parsed.scheme() != "http" {
            return Err(EndpointError::Scheme(parsed.scheme().to_owned()));
        }
        let name = parsed.host_str().ok_or(EndpointError::NoHost)?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let host = format!("{name}:{port}");
        let addr = tokio::net::lookup_host(&host)
            .await
            .map_err(|e| EndpointError::Resolve(host.clone(), e))?
            .next()
            .ok_or_else(|| {
                EndpointError::Resolve(host.clone(), std::io::ErrorKind::NotFound.into())
            })?;
        Ok(Self {
            http_url: url.to_owned(),
            ws_url: format!("ws://{host}{}", parsed.path()),
            events_url: events.then(|| format!("http://{host}/event")),
            host,
            addr,
            api_key: api_key.to_owned(),
            filter,
        })
    }
}

impl Protocol {
    fn subprotocol(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::Legacy | Protocol::Appsync => "graphql-ws",
            Protocol::Events => "aws-appsync-event-ws",
        }
    }

    /// The URL to connect to: AppSync carries its credentials in the `header` query parameter.
    pub fn url(self, endpoint: &Endpoint) -> String {
        match self {
            Protocol::TransportWs | Protocol::Legacy => endpoint.ws_url.clone(),
            Protocol::Appsync => {
                let auth = json!({"host": endpoint.host, "x-api-key": endpoint.api_key});
                let header = base64::engine::general_purpose::STANDARD.encode(auth.to_string());
                let header = utf8_percent_encode(&header, NON_ALPHANUMERIC);
                format!("{}?header={header}&payload=e30=", endpoint.ws_url)
            }
            Protocol::Events => format!("ws://{}/event/realtime", endpoint.host),
        }
    }

    /// The upgrade request, offering this protocol's subprotocol (and for Events, the API key).
    pub fn request(
        self,
        url: &str,
        endpoint: &Endpoint,
    ) -> Result<Request, tokio_tungstenite::tungstenite::Error> {
        let mut request = url.into_client_request()?;
        let headers = request.headers_mut();
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(self.subprotocol()),
        );
        if self == Protocol::Events {
            let key = HeaderValue::from_str(&endpoint.api_key)
                .map_err(|e| tokio_tungstenite::tungstenite::Error::HttpFormat(e.into()))?;
            headers.insert("x-api-key", key);
        }
        Ok(request)
    }

    pub fn init(self, endpoint: &Endpoint) -> ClientMessage {
        let payload = match self {
            Protocol::Appsync | Protocol::Events => None,
            Protocol::TransportWs | Protocol::Legacy => {
                Some(json!({"x-api-key": endpoint.api_key}))
            }
        };
        ClientMessage::ConnectionInit { payload }
    }

    /// What to send, in order, to subscribe `user` and then learn that it is live.
    pub fn subscribe(self, user: u32, endpoint: &Endpoint) -> Vec<ClientMessage> {
        let request = match &endpoint.filter {
            Some(filter) => json!({"query": FILTERED_SUBSCRIPTION,
                "variables": {"u": format!("u{user}"), "f": filter}}),
            None => json!({"query": SUBSCRIPTION, "variables": {"u": format!("u{user}")}}),
        };
        let id = SUBSCRIPTION_ID.to_owned();
        match self {
            Protocol::TransportWs => vec![
                ClientMessage::Subscribe {
                    id,
                    payload: request,
                },
                ClientMessage::Ping,
            ],
            Protocol::Legacy => vec![
                ClientMessage::Start {
                    id,
                    payload: request,
                },
                ClientMessage::BenchProbe {
                    id: PROBE_ID.to_owned(),
                },
            ],
            Protocol::Appsync => vec![ClientMessage::Start {
                id,
                payload: json!({
                    "data": request.to_string(),
                    "extensions": {"authorization": {
                        "host": endpoint.host,
                        "x-api-key": endpoint.api_key,
                    }},
                }),
            }],
            Protocol::Events => vec![ClientMessage::ChannelSubscribe {
                id,
                channel: channel(user),
            }],
        }
    }

    /// Whether `message` proves the subscription live (see the module's doc).
    pub fn confirms(self, message: &ServerMessage) -> bool {
        match (self, message) {
            (Protocol::TransportWs, ServerMessage::Pong) => true,
            (Protocol::Legacy, ServerMessage::Error { id, .. }) => id.as_deref() == Some(PROBE_ID),
            (Protocol::Appsync, ServerMessage::StartAck { id })
            | (Protocol::Events, ServerMessage::SubscribeSuccess { id }) => id == SUBSCRIPTION_ID,
            _ => false,
        }
    }
}

/// Every message a client sends, in any of the protocols.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    ConnectionInit {
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<Json>,
    },
    Subscribe {
        id: String,
        payload: Json,
    },
    Start {
        id: String,
        payload: Json,
    },
    /// AppSync Events' `subscribe`.
    #[serde(rename = "subscribe")]
    ChannelSubscribe {
        id: String,
        channel: String,
    },
    Ping,
    Pong,
    /// A type no protocol has, which a legacy server answers with an `error` naming its id.
    BenchProbe {
        id: String,
    },
}

impl ClientMessage {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        endpoint_on(4100)
    }

    fn endpoint_on(port: u16) -> Endpoint {
        Endpoint {
            http_url: format!("http://127.0.0.1:{port}/graphql"),
            ws_url: format!("ws://127.0.0.1:{port}/graphql"),
            host: format!("127.0.0.1:{port}"),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            api_key: "k".into(),
            filter: None,
            events_url: None,
        }
    }

    #[test]
    fn work_spreads_round_robin_over_the_nodes() {
        let nodes = [endpoint_on(4100), endpoint_on(4101), endpoint_on(4102)];
        let ports: Vec<u16> = (0..7).map(|i| node_for(&nodes, i).addr.port()).collect();
        assert_eq!(ports, [4100, 4101, 4102, 4100, 4101, 4102, 4100]);
        // 16 publishers over 3 nodes: 6, 5 and 5.
        let mut shares = [0; 3];
        for p in 0..16 {
            shares[(node_for(&nodes, p).addr.port() - 4100) as usize] += 1;
        }
        assert_eq!(shares, [6, 5, 5]);
        // One node takes everything, as before there could be several.
        let one = [endpoint()];
        assert!((0..5).all(|i| node_for(&one, i).http_url == "http://127.0.0.1:4100/graphql"));
    }

    #[test]
    fn events_subscribe_to_their_users_channel_with_the_key_in_the_upgrade() {
        let url = Protocol::Events.url(&endpoint());
        assert_eq!(url, "ws://127.0.0.1:4100/event/realtime");
        let request = Protocol::Events.request(&url, &endpoint()).unwrap();
        assert_eq!(request.headers()["x-api-key"], "k");
        assert_eq!(
            request.headers()["sec-websocket-protocol"],
            "aws-appsync-event-ws"
        );
        let sent = Protocol::Events.subscribe(7, &endpoint())[0].to_text();
        assert_eq!(
            sent,
            r#"{"type":"subscribe","id":"s1","channel":"/default/u7"}"#
        );
        assert_eq!(
            Protocol::Events.init(&endpoint()).to_text(),
            r#"{"type":"connection_init"}"#
        );
    }

    #[test]
    fn appsync_url_and_start_carry_the_credentials() {
        let url = Protocol::Appsync.url(&endpoint());
        let header = url
            .strip_prefix("ws://127.0.0.1:4100/graphql?header=")
            .and_then(|rest| rest.strip_suffix("&payload=e30="))
            .unwrap();
        let header = percent_encoding::percent_decode_str(header)
            .decode_utf8()
            .unwrap();
        let header = base64::engine::general_purpose::STANDARD
            .decode(header.as_bytes())
            .unwrap();
        let header: Json = serde_json::from_slice(&header).unwrap();
        assert_eq!(header, json!({"host": "127.0.0.1:4100", "x-api-key": "k"}));

        let start = Protocol::Appsync.subscribe(3, &endpoint())[0].to_text();
        let start: Json = serde_json::from_str(&start).unwrap();
        assert_eq!(start["type"], "start");
        let data: Json = serde_json::from_str(start["payload"]["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["variables"]["u"], "u3");
    }

    #[test]
    fn transport_ws_init_and_subscribe_shapes() {
        let init = Protocol::TransportWs.init(&endpoint()).to_text();
        assert_eq!(
            init,
            r#"{"type":"connection_init","payload":{"x-api-key":"k"}}"#
        );
        let sent: Vec<String> = Protocol::TransportWs
            .subscribe(0, &endpoint())
            .iter()
            .map(ClientMessage::to_text)
            .collect();
        assert!(sent[0].starts_with(r#"{"type":"subscribe","id":"s1","payload":{"#));
        assert_eq!(sent[1], r#"{"type":"ping"}"#);
    }
}

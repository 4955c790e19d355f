//! The settings of WebSocket connections: keep-alives, timeouts, lifetime and buffers, one group
//! of `serve --help` flattened into `Settings` as `settings.websocket`.

use std::time::Duration;

use clap::Args;

use super::duration::{parse_duration, parse_keepalive};

#[derive(Debug, Clone, Args)]
pub struct WebSocketSettings {
    /// Interval between keep-alives on graphql-transport-ws (a WebSocket ping) and AppSync
    /// (`ka`). At most 60 s: Amplify marks a connection as disrupted after 65 s without one.
    #[arg(hide_short_help = true, help_heading = "WebSocket", long, env = "SWITCHBOARD_KEEPALIVE", default_value = "60s", value_parser = parse_keepalive)]
    pub keepalive: Duration,

    /// The `connectionTimeoutMs` AppSync clients are told in `connection_ack`: how long they wait
    /// without a keep-alive before they reconnect. AppSync's value; must exceed `--keepalive`.
    #[arg(hide_short_help = true, help_heading = "WebSocket", long, env = "SWITCHBOARD_CONNECTION_TIMEOUT", default_value = "300s", value_parser = parse_duration)]
    pub connection_timeout: Duration,

    /// How long one WebSocket connection may live before the server closes it normally (1000);
    /// clients reconnect. AppSync's limit is 24 hours.
    #[arg(hide_short_help = true, help_heading = "WebSocket", long, env = "SWITCHBOARD_MAX_CONNECTION_LIFETIME", default_value = "24h", value_parser = parse_duration)]
    pub max_connection_lifetime: Duration,

    /// Interval between `ka` messages on the legacy subscriptions-transport-ws protocol. Apollo's
    /// legacy client drops a connection that hears no `ka` for 30 s (its default `timeout`), so
    /// this stays well below that.
    #[arg(hide_short_help = true, help_heading = "WebSocket", long, env = "SWITCHBOARD_LEGACY_KEEPALIVE", default_value = "20s", value_parser = parse_duration)]
    pub legacy_keepalive: Duration,

    /// How long a new WebSocket may take to send `connection_init`.
    #[arg(hide_short_help = true, help_heading = "WebSocket", long, env = "SWITCHBOARD_CONNECTION_INIT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub connection_init_timeout: Duration,

    /// How long validating and registering a subscription may take before it is refused.
    #[arg(hide_short_help = true, help_heading = "WebSocket", long, env = "SWITCHBOARD_SUBSCRIBE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub subscribe_timeout: Duration,

    /// WebSocket read buffer per connection, in bytes (allocated up front for every socket, so it
    /// weighs on every idle connection; it is also the most one read takes, so a larger client
    /// message arrives in more reads: a subscribe is a few hundred bytes).
    #[arg(
        hide_short_help = true,
        help_heading = "WebSocket",
        long,
        env = "SWITCHBOARD_WS_READ_BUFFER_BYTES",
        default_value_t = 512
    )]
    pub ws_read_buffer_bytes: usize,

    /// WebSocket bytes buffered before a write goes to the socket.
    #[arg(hide_short_help = true, help_heading = "WebSocket", long, env = "SWITCHBOARD_WS_WRITE_BUFFER_BYTES", default_value_t = 16 * 1024)]
    pub ws_write_buffer_bytes: usize,

    /// Most WebSocket bytes buffered for a socket that does not drain.
    #[arg(hide_short_help = true, help_heading = "WebSocket", long, env = "SWITCHBOARD_WS_MAX_WRITE_BUFFER_BYTES", default_value_t = 1024 * 1024)]
    pub ws_max_write_buffer_bytes: usize,
}

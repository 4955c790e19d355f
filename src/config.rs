//! Every setting of the server, as one clap struct: each flag is also an environment variable
//! `SWITCHBOARD_*`. Nothing else reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::caller::auth_mode::AuthMode;

mod cluster;
mod duration;
mod websocket;

pub use crate::events::settings::{EventSettings, NamespaceModes, parse_owner_segment};
pub use cluster::{ClusterSettings, StoreKind};
pub use duration::parse_duration;
pub use websocket::WebSocketSettings;

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the request and connection spans' fields.
    Json,
}

/// The settings of `switchboard serve`.
#[derive(Debug, Clone, Parser)]
#[command(name = "switchboard")]
#[command(
    after_help = "These are the common settings; `--help` lists every one, by group (the README's Settings table too).",
    after_long_help = "Every setting is also in the README's Settings table."
)]
pub struct Settings {
    /// Address to listen on for HTTP and WebSocket.
    #[arg(
        help_heading = "Serving",
        long,
        env = "SWITCHBOARD_LISTEN",
        default_value = "127.0.0.1:4000"
    )]
    pub listen: SocketAddr,

    /// AppSync schema (SDL) to serve; the embedded status schema when absent.
    #[arg(help_heading = "Serving", long, env = "SWITCHBOARD_SCHEMA")]
    pub schema: Option<PathBuf>,

    /// Server-side subscription filters and invalidations (JSON), beside the schema so that it
    /// stays deployable to AppSync; see the README.
    #[arg(help_heading = "Serving", long, env = "SWITCHBOARD_RULES")]
    pub rules: Option<PathBuf>,

    /// The auth mode that applies wherever the schema has no auth directive: `api-key`,
    /// `oidc`, `cognito`, `lambda` or `iam`.
    #[arg(
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_AUTH_DEFAULT",
        default_value = "api-key"
    )]
    pub auth_default: AuthMode,

    /// Further auth modes, usable where the schema's directives allow them (comma-separated).
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_AUTH_ADDITIONAL",
        value_delimiter = ','
    )]
    pub auth_additional: Vec<AuthMode>,

    /// An accepted API key, optionally with an expiry: `KEY` or `KEY@2027-01-01T00:00:00Z`
    /// (repeatable; comma-separated in the environment). With no key at all in `api-key` mode,
    /// one is generated at start-up and printed.
    #[arg(
        help_heading = "Auth",
        long = "api-key",
        env = "SWITCHBOARD_API_KEY",
        value_delimiter = ','
    )]
    pub api_keys: Vec<String>,

    /// A file of API keys, one `KEY[@RFC3339-EXPIRY]` per line (`#` starts a comment).
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_API_KEYS_FILE"
    )]
    pub api_keys_file: Option<PathBuf>,

    /// JWKS document (JSON) with the keys that sign OIDC / Cognito tokens.
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_JWKS_FILE"
    )]
    pub jwks_file: Option<PathBuf>,

    /// URL of the JWKS; without it (and without `--jwks-file`) the issuer's
    /// `/.well-known/openid-configuration` names it.
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_JWKS_URL"
    )]
    pub jwks_url: Option<String>,

    /// The `iss` tokens must carry (e.g. `https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc`).
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_JWT_ISSUER"
    )]
    pub jwt_issuer: Option<String>,

    /// An accepted `aud` (ID tokens) or `client_id` (Cognito access tokens); repeatable. None:
    /// no audience check.
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_JWT_AUDIENCE",
        value_delimiter = ','
    )]
    pub jwt_audience: Vec<String>,

    /// Shared secret for HS256 tokens, for local development (verified under `oidc`).
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_JWT_HS256_SECRET",
        hide_env_values = true
    )]
    pub jwt_hs256_secret: Option<String>,

    /// Clock skew tolerated on a token's `exp`, `nbf` and `iat`.
    #[arg(hide_short_help = true, help_heading = "Auth", long, env = "SWITCHBOARD_JWT_LEEWAY", default_value = "60s", value_parser = parse_duration)]
    pub jwt_leeway: Duration,

    /// How often the JWKS is read again.
    #[arg(hide_short_help = true, help_heading = "Auth", long, env = "SWITCHBOARD_JWKS_REFRESH", default_value = "1h", value_parser = parse_duration)]
    pub jwks_refresh: Duration,

    /// The least time between two reloads of the JWKS caused by an unknown `kid`.
    #[arg(hide_short_help = true, help_heading = "Auth", long, env = "SWITCHBOARD_JWKS_MIN_REFETCH", default_value = "30s", value_parser = parse_duration)]
    pub jwks_min_refetch: Duration,

    /// URL that receives AppSync's Lambda authorizer request (a POST) in `lambda` mode.
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_AUTHORIZER_URL"
    )]
    pub authorizer_url: Option<String>,

    /// How long an authorizer's answer is cached per token when it sets no `ttlOverride`.
    #[arg(hide_short_help = true, help_heading = "Auth", long, env = "SWITCHBOARD_AUTHORIZER_TTL", default_value = "300s", value_parser = parse_duration)]
    pub authorizer_ttl: Duration,

    /// How long the authorizer may take to answer.
    #[arg(hide_short_help = true, help_heading = "Auth", long, env = "SWITCHBOARD_AUTHORIZER_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub authorizer_timeout: Duration,

    /// The `apiId` the authorizer is told (AppSync's `requestContext.apiId`).
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_API_ID",
        default_value = "switchboard"
    )]
    pub api_id: String,

    /// The `accountId` the authorizer is told (AppSync's `requestContext.accountId`).
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_ACCOUNT_ID",
        default_value = "000000000000"
    )]
    pub account_id: String,

    /// JSON file of IAM access key pairs accepted in `iam` mode:
    /// `[{"accessKeyId": "...", "secretAccessKey": "...", "sessionToken"?: "...", "name"?: "..."}]`.
    #[arg(
        hide_short_help = true,
        help_heading = "Auth",
        long,
        env = "SWITCHBOARD_IAM_CREDENTIALS"
    )]
    pub iam_credentials: Option<PathBuf>,

    /// How far a SigV4 `x-amz-date` may be from now.
    #[arg(hide_short_help = true, help_heading = "Auth", long, env = "SWITCHBOARD_IAM_MAX_SKEW", default_value = "5m", value_parser = parse_duration)]
    pub iam_max_skew: Duration,

    /// A subscription argument bound to the caller's identity (e.g. `userId`): a caller who
    /// signed in by token or authorizer may only subscribe with it equal to its `--owner-claim`.
    #[arg(
        hide_short_help = true,
        help_heading = "Access",
        long,
        env = "SWITCHBOARD_OWNER_ARG"
    )]
    pub owner_arg: Option<String>,

    /// The claim (or authorizer `resolverContext` key) the owner argument must equal.
    #[arg(
        hide_short_help = true,
        help_heading = "Access",
        long,
        env = "SWITCHBOARD_OWNER_CLAIM",
        default_value = "sub"
    )]
    pub owner_claim: String,

    /// Members of this group (`cognito:groups`, or `groups`) may subscribe to anyone.
    #[arg(
        hide_short_help = true,
        help_heading = "Access",
        long,
        env = "SWITCHBOARD_ADMIN_GROUP"
    )]
    pub admin_group: Option<String>,

    /// Modes whose callers may subscribe to any owner (AppSync's behaviour for these).
    #[arg(
        hide_short_help = true,
        help_heading = "Access",
        long,
        env = "SWITCHBOARD_TRUSTED_MODES",
        value_delimiter = ',',
        default_value = "api-key,iam"
    )]
    pub trusted_modes: Vec<AuthMode>,

    /// Origins allowed to open WebSockets and call `POST /graphql` from a browser
    /// (comma-separated, e.g. `https://app.example.com`); `*` or none: any origin (local use).
    #[arg(
        hide_short_help = true,
        help_heading = "Access",
        long,
        env = "SWITCHBOARD_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Open WebSocket connections allowed from one client address (behind a trusted proxy, the
    /// forwarded client's).
    #[arg(
        hide_short_help = true,
        help_heading = "Limits",
        long,
        env = "SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 10_000
    )]
    pub max_connections_per_address: usize,

    /// Connections still speaking HTTP (requests, not yet upgraded WebSockets) allowed from one
    /// client address; past it a new connection is answered 429 and closed. Trusted proxies
    /// are exempt (their clients are limited by their own addresses).
    #[arg(
        hide_short_help = true,
        help_heading = "Limits",
        long,
        env = "SWITCHBOARD_MAX_HTTP_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_http_connections_per_address: usize,

    /// Connections (HTTP and WebSocket) the node holds in all; past it a new connection is
    /// answered 503 and closed. Default: the open-file limit less a reserve.
    #[arg(
        hide_short_help = true,
        help_heading = "Limits",
        long,
        env = "SWITCHBOARD_MAX_CONNECTIONS"
    )]
    pub max_connections: Option<usize>,

    /// How long a request body may take to arrive, from the end of its headers; past it the
    /// request is answered 408 and the connection closed.
    #[arg(hide_short_help = true, help_heading = "Limits", long, env = "SWITCHBOARD_REQUEST_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub request_body_timeout: Duration,

    /// The slowest a request body may arrive, in bytes per second averaged since the headers
    /// (checked from the first second on); a slower one is answered 408. 0 turns it off.
    #[arg(
        hide_short_help = true,
        help_heading = "Limits",
        long,
        env = "SWITCHBOARD_REQUEST_BODY_MIN_RATE",
        default_value_t = 1024
    )]
    pub request_body_min_rate: u64,

    /// Proxies (CIDR blocks or addresses, comma-separated) whose `X-Forwarded-For` or
    /// `Forwarded` header names the client for per-address limits and logs. None by default:
    /// the TCP peer is the client.
    #[arg(hide_short_help = true, help_heading = "Access", long, env = "SWITCHBOARD_TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::net::proxies::parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Failed authentications allowed per client address per `--auth-failure-window` (a minute
    /// by default); past it, requests from that address are refused without being checked until
    /// the window is over. Every door counts: HTTP, each WebSocket protocol, the admin API.
    #[arg(
        hide_short_help = true,
        help_heading = "Limits",
        long,
        env = "SWITCHBOARD_MAX_AUTH_FAILURES_PER_MINUTE",
        default_value_t = 60
    )]
    pub max_auth_failures_per_minute: u32,

    /// The window failed authentications are counted in, and how long an address that used
    /// them up is refused (429 with `Retry-After`).
    #[arg(hide_short_help = true, help_heading = "Limits", long, env = "SWITCHBOARD_AUTH_FAILURE_WINDOW", default_value = "1m", value_parser = parse_duration)]
    pub auth_failure_window: Duration,

    /// How long a shutdown (SIGTERM, Ctrl-C) may take: in-flight requests finish and every
    /// WebSocket gets a close frame within it; the process exits when it passes regardless.
    #[arg(hide_short_help = true, help_heading = "Serving", long, env = "SWITCHBOARD_SHUTDOWN_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_deadline: Duration,

    /// After a shutdown starts, how long an idle HTTP keep-alive connection stays open for a
    /// request already on its way (it is answered, with `Connection: close`).
    #[arg(hide_short_help = true, help_heading = "Serving", long, env = "SWITCHBOARD_SHUTDOWN_DRAIN_WINDOW", default_value = "500ms", value_parser = parse_duration)]
    pub shutdown_drain_window: Duration,

    /// Log lines as `text` or `json` (one object per line); both go to stderr, and `RUST_LOG`
    /// filters them.
    #[arg(help_heading = "Serving", long, env = "SWITCHBOARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Accept backlog of the listening socket (the kernel caps it at `net.core.somaxconn`).
    #[arg(
        hide_short_help = true,
        help_heading = "Serving",
        long,
        env = "SWITCHBOARD_LISTEN_BACKLOG",
        default_value_t = 4096
    )]
    pub listen_backlog: u32,

    /// At start-up, print a ready `amplify_outputs.json` and `Amplify.configure` snippet for
    /// this server (endpoint, auth mode, API key) after the banner.
    #[arg(
        help_heading = "Serving",
        long,
        env = "SWITCHBOARD_PRINT_AMPLIFY_CONFIG"
    )]
    pub print_amplify_config: bool,

    /// This node's id in connection records; a random one when absent.
    #[arg(help_heading = "Serving", long, env = "SWITCHBOARD_NODE_ID")]
    pub node_id: Option<String>,

    #[command(flatten)]
    pub websocket: WebSocketSettings,

    #[command(flatten)]
    pub cluster: ClusterSettings,

    #[command(flatten)]
    pub events: EventSettings,

    /// Messages queued per connection before it is closed as a slow consumer.
    #[arg(
        hide_short_help = true,
        help_heading = "Limits",
        long,
        env = "SWITCHBOARD_OUTBOUND_QUEUE",
        default_value_t = 1024
    )]
    pub outbound_queue: usize,

    /// Largest WebSocket message or frame a client may send, in bytes.
    #[arg(hide_short_help = true, help_heading = "Limits", long, env = "SWITCHBOARD_MAX_FRAME_BYTES", default_value_t = 256 * 1024)]
    pub max_frame_bytes: usize,

    /// Largest rendered subscription payload sent to a client, in bytes (AppSync: 240 KB). A
    /// larger one is not sent: the subscriber gets an error and the subscription ends.
    #[arg(hide_short_help = true, help_heading = "Limits", long, env = "SWITCHBOARD_MAX_PAYLOAD_BYTES", default_value_t = 240 * 1024)]
    pub max_payload_bytes: usize,

    /// Largest `POST /graphql` body, in bytes; a larger `Content-Length` is answered 413
    /// before the body is read.
    #[arg(hide_short_help = true, help_heading = "Limits", long, alias = "max-body-bytes", env = "SWITCHBOARD_MAX_REQUEST_BYTES", default_value_t = 1024 * 1024)]
    pub max_request_bytes: usize,

    /// Active subscriptions allowed on one connection.
    #[arg(
        hide_short_help = true,
        help_heading = "Limits",
        long,
        env = "SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 100
    )]
    pub max_subscriptions_per_connection: usize,

    /// Deepest selection nesting an operation may have.
    #[arg(
        hide_short_help = true,
        help_heading = "Limits",
        long,
        env = "SWITCHBOARD_MAX_QUERY_DEPTH",
        default_value_t = 16
    )]
    pub max_query_depth: usize,

    /// Highest complexity (selected fields, weighted) an operation may have.
    #[arg(
        hide_short_help = true,
        help_heading = "Limits",
        long,
        env = "SWITCHBOARD_MAX_QUERY_COMPLEXITY",
        default_value_t = 1000
    )]
    pub max_query_complexity: usize,

    /// Parsed operations kept by their text (publishers repeat the same mutation text); 0 keeps
    /// none.
    #[arg(
        hide_short_help = true,
        help_heading = "History",
        long,
        env = "SWITCHBOARD_PARSED_DOCUMENT_CACHE",
        default_value_t = 1000
    )]
    pub parsed_document_cache: usize,

    /// Events kept per topic stream (per userId in the status schema): what `statusHistory`,
    /// resume, replay and a node's catch-up read; the oldest go first.
    #[arg(
        hide_short_help = true,
        help_heading = "History",
        long,
        env = "SWITCHBOARD_HISTORY_PER_TOPIC",
        default_value_t = 100
    )]
    pub history_per_topic: usize,

    /// Topic streams kept in memory; past it the least recently written topic is dropped (its
    /// next events start a new epoch).
    #[arg(
        hide_short_help = true,
        help_heading = "History",
        long,
        env = "SWITCHBOARD_HISTORY_MAX_TOPICS",
        default_value_t = 100_000
    )]
    pub history_max_topics: usize,

    /// Bytes one topic's stream keeps (memory and Redis); the newest event always stays.
    #[arg(hide_short_help = true, help_heading = "History", long, env = "SWITCHBOARD_HISTORY_TOPIC_BYTES", default_value_t = 256 * 1024)]
    pub history_topic_bytes: usize,

    /// Bytes all topic streams keep in memory together; past it the least recently written
    /// topics are dropped.
    #[arg(hide_short_help = true, help_heading = "History", long, env = "SWITCHBOARD_HISTORY_MAX_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub history_max_bytes: usize,

    /// How long an event is kept after it was published; on Redis a stream also expires this
    /// long after its last publish.
    #[arg(hide_short_help = true, help_heading = "History", long, alias = "redis-history-ttl", env = "SWITCHBOARD_HISTORY_MAX_AGE", default_value = "24h", value_parser = parse_duration)]
    pub history_max_age: Duration,

    /// Subscription fields that replay their latest event to every new subscriber, even one
    /// that asked for nothing (stock Amplify), so a job page shows the current step at once.
    #[arg(
        hide_short_help = true,
        help_heading = "History",
        long,
        env = "SWITCHBOARD_REPLAY_LATEST",
        value_delimiter = ','
    )]
    pub replay_latest: Vec<String>,

    /// How long a publish's `Idempotency-Key` is remembered: a retry with the same key within it
    /// gets the first answer and publishes nothing.
    #[arg(hide_short_help = true, help_heading = "History", long, env = "SWITCHBOARD_IDEMPOTENCY_TTL", default_value = "5m", value_parser = parse_duration)]
    pub idempotency_ttl: Duration,

    /// Idempotency keys a single node remembers (the oldest are forgotten first; on Redis they
    /// expire instead).
    #[arg(
        hide_short_help = true,
        help_heading = "History",
        long,
        env = "SWITCHBOARD_IDEMPOTENCY_MAX_KEYS",
        default_value_t = 100_000
    )]
    pub idempotency_max_keys: usize,

    /// Events a resume or a replay sends before going live; a client that missed more is told
    /// `recovered: false`.
    #[arg(
        hide_short_help = true,
        help_heading = "History",
        long,
        env = "SWITCHBOARD_REPLAY_MAX",
        default_value_t = 100
    )]
    pub replay_max: usize,

    /// The subscription argument that names a connection's user in its records.
    #[arg(
        hide_short_help = true,
        help_heading = "Serving",
        long,
        env = "SWITCHBOARD_USER_ARG",
        default_value = "userId"
    )]
    pub user_arg: String,

    /// Certificate chain (PEM) to serve HTTPS and WSS with; needs `--tls-key`.
    #[arg(
        hide_short_help = true,
        help_heading = "TLS",
        long,
        env = "SWITCHBOARD_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM) of `--tls-cert`.
    #[arg(
        hide_short_help = true,
        help_heading = "TLS",
        long,
        env = "SWITCHBOARD_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Serve TLS with a certificate for localhost and 127.0.0.1 signed by a local CA kept in this
    /// directory (created on first use; `ca.pem` is what clients trust, e.g. with
    /// `NODE_EXTRA_CA_CERTS`). For local development, where Amplify JS always dials `wss://`.
    #[arg(
        help_heading = "TLS",
        long,
        env = "SWITCHBOARD_TLS_SELF_SIGNED",
        conflicts_with = "tls_cert"
    )]
    pub tls_self_signed: Option<PathBuf>,
}

impl Settings {
    /// Settings from explicit arguments, as the command line would give them (tests use this).
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_from(
            std::iter::once("switchboard".into()).chain(args.into_iter().map(Into::into)),
        )
    }
}

#[cfg(test)]
mod tests;

//! The settings of running several nodes: the Redis link, where connection records live, the
//! heartbeat that keeps them, and the admin API. Flattened into [`super::Settings`].

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse_duration;

/// Where connection records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// In this process: for one node.
    Memory,
    /// In Redis (needs `--redis-url`): shared by every node.
    Redis,
    /// In a DynamoDB table (built with the `dynamodb` feature).
    Dynamodb,
}

#[derive(Debug, Clone, Args)]
pub struct ClusterSettings {
    /// Redis to run several nodes over (`redis://host:6379`): events travel between nodes on
    /// its pub/sub, history lives in its streams, and connection records in its keys (unless
    /// `--store` says otherwise). Without it the node stands alone.
    #[arg(help_heading = "Cluster", long, env = "SWITCHBOARD_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel, so several APIs (or test runs) can share a server.
    #[arg(
        hide_short_help = true,
        help_heading = "Cluster",
        long,
        env = "SWITCHBOARD_REDIS_PREFIX",
        default_value = "switchboard"
    )]
    pub redis_prefix: String,

    /// How long a Redis command may take before the call fails (a publish then answers 503).
    #[arg(hide_short_help = true, help_heading = "Cluster", long, env = "SWITCHBOARD_REDIS_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub redis_timeout: Duration,

    /// Behind Redis Sentinel (`redis+sentinel://`), how often a node asks the sentinels which
    /// server is the master, besides at once when a command fails and when a sentinel announces
    /// a failover: the longest it keeps writing to a master Sentinel replaced without either
    /// (a partition that hid the announcement).
    #[arg(hide_short_help = true, help_heading = "Cluster", long, env = "SWITCHBOARD_REDIS_SENTINEL_LOOKUP", default_value = "1s", value_parser = parse_duration)]
    pub redis_sentinel_lookup: Duration,

    /// Events from Redis waiting to be dispatched on this node; past it they are dropped,
    /// counted, and recovered from the catch-up streams.
    #[arg(
        hide_short_help = true,
        help_heading = "Cluster",
        long,
        env = "SWITCHBOARD_REDIS_INBOX",
        default_value_t = 65_536
    )]
    pub redis_inbox: usize,

    /// Where connection records live: `memory`, `redis` or `dynamodb`. Default: `redis` when
    /// `--redis-url` is set, else `memory`.
    #[arg(
        hide_short_help = true,
        help_heading = "Cluster",
        long,
        env = "SWITCHBOARD_STORE"
    )]
    pub store: Option<StoreKind>,

    /// How often a node refreshes its connection records; a record expires after three
    /// heartbeats without one, so a crashed node's connections vanish by themselves.
    #[arg(hide_short_help = true, help_heading = "Cluster", long, env = "SWITCHBOARD_HEARTBEAT", default_value = "10s", value_parser = parse_duration)]
    pub heartbeat: Duration,

    /// The DynamoDB table of connection records (partition key `user_id`, sort key
    /// `connection_id`, TTL attribute `expires_at`).
    #[arg(
        hide_short_help = true,
        help_heading = "Cluster",
        long,
        env = "SWITCHBOARD_DYNAMODB_TABLE",
        default_value = "appsync_connections"
    )]
    pub dynamodb_table: String,

    /// DynamoDB endpoint, for a local DynamoDB-compatible server; AWS's own when absent.
    #[arg(
        hide_short_help = true,
        help_heading = "Cluster",
        long,
        env = "SWITCHBOARD_DYNAMODB_ENDPOINT"
    )]
    pub dynamodb_endpoint: Option<String>,

    /// DynamoDB region.
    #[arg(
        hide_short_help = true,
        help_heading = "Cluster",
        long,
        env = "SWITCHBOARD_DYNAMODB_REGION",
        default_value = "us-east-1"
    )]
    pub dynamodb_region: String,

    /// A key that opens the admin API (`/admin/...`), repeatable. Members of `--admin-group`
    /// with a verified token may use it too.
    #[arg(
        help_heading = "Cluster",
        long = "admin-api-key",
        env = "SWITCHBOARD_ADMIN_API_KEY",
        value_delimiter = ','
    )]
    pub admin_api_keys: Vec<String>,
}

impl ClusterSettings {
    /// The store in use, after the default that follows `--redis-url`.
    pub fn store_kind(&self) -> StoreKind {
        self.store.unwrap_or(if self.redis_url.is_some() {
            StoreKind::Redis
        } else {
            StoreKind::Memory
        })
    }

    /// How long a record outlives its last heartbeat.
    pub fn record_ttl(&self) -> Duration {
        self.heartbeat * 3
    }
}

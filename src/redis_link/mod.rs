//! The node's link to Redis (one server, a Redis Cluster, or a master watched by Sentinel): a connection for commands, shared
//! by the bus, the history and the store, a way to open the pub/sub connection, and the names
//! every Redis piece gives its keys.
//!
//! redis-rs reconnects by itself after Redis went away (on a cluster, to the node that now owns
//! a slot); commands issued while it is gone fail within `--redis-timeout`, so a caller is told
//! rather than kept waiting.

mod clock;
mod commands;
mod push_connection;
mod sentinel;
mod target;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::{Client, RedisResult};

pub use clock::RedisClock;
pub use commands::Commands;
pub use push_connection::PushConnection;
pub use sentinel::{SentinelMaster, SentinelPushConnection};
pub use target::{SentinelTarget, Target, redacted as redacted_url};

/// Redis could not be reached or refused a command.
#[derive(Debug, thiserror::Error)]
pub enum RedisLinkError {
    #[error("invalid Redis URL: {0}")]
    Url(String),
    /// A command failed; redis-rs's message, whose own chain would repeat it.
    #[error("Redis is unavailable: {0}")]
    Unavailable(String),
    /// The first connection failed: where to, and what to try.
    #[error(
        "cannot reach Redis at {url}: {cause}; is redis-server running there? (--redis-url, and --redis-timeout for a slow one)"
    )]
    Unreachable { url: String, cause: String },
    /// The schema asks for routing the Redis bus does not do.
    #[error("{0}")]
    Unroutable(String),
    /// The server Sentinel named does not say it is a master (yet).
    #[error("Redis at {0} is not a master")]
    NotMaster(String),
    /// No sentinel knows a master by this name.
    #[error("no Redis Sentinel knows a master named `{0}`")]
    UnknownMaster(String),
    /// The reader of the pub/sub connection is gone (the node is shutting down).
    #[error("the pub/sub reader is gone")]
    Closed,
}

impl From<redis::RedisError> for RedisLinkError {
    fn from(error: redis::RedisError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// A connection to Redis and the prefix of every key and channel this API uses.
#[derive(Clone)]
pub struct RedisLink {
    /// Where the pub/sub connection is opened: where the commands go.
    origin: Origin,
    /// The command connection; cloning shares it.
    pub commands: Commands,
    prefix: String,
    timeout: Duration,
    /// Redis's clock, for deadlines a script checks against `TIME`.
    clock: Arc<RedisClock>,
}

impl RedisLink {
    /// Connects (RESP3, needed for pub/sub on a managed connection) and checks Redis answers.
    /// `sentinel_lookup`: behind Sentinel, how often to ask which server is the master.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
        sentinel_lookup: Duration,
    ) -> Result<Self, RedisLinkError> {
        let target = Target::parse(url)?;
        if matches!(target, Target::Cluster(_)) && prefix.contains(['{', '}']) {
            // Redis hashes a key's first `{…}`: braces in the prefix would put every key in
            // one slot, defeating the shards.
            return Err(RedisLinkError::Url(format!(
                "--redis-prefix `{prefix}` has braces, which a Redis Cluster reads as a hash tag"
            )));
        }
        // The first connection's failure names where it went.
        let unreachable = |error: RedisLinkError| match error {
            RedisLinkError::Unavailable(cause) => RedisLinkError::Unreachable {
                url: target::redacted(url),
                cause,
            },
            other => other,
        };
        let (origin, commands) = match target {
            Target::Server(info) => {
                let client = server(&info)?;
                let commands = ConnectionManager::new_with_config(client, server_config(timeout))
                    .await
                    .map_err(|e| unreachable(e.into()))?;
                (Origin::Server(Box::new(info)), Commands::Server(commands))
            }
            Target::Cluster(seeds) => {
                let commands = cluster(&seeds, timeout)
                    .build()?
                    .get_async_connection()
                    .await
                    .map_err(|e| unreachable(e.into()))?;
                (Origin::Cluster(seeds), Commands::Cluster(commands))
            }
            Target::Sentinel(sentinel) => {
                let master = SentinelMaster::connect(sentinel, timeout, sentinel_lookup)
                    .await
                    .map_err(unreachable)?;
                (Origin::Sentinel(master.clone()), Commands::Sentinel(master))
            }
        };
        let clock = Arc::new(RedisClock::default());
        clock
            .measure(&mut commands.clone())
            .await
            .map_err(|e| unreachable(e.into()))?;
        Ok(Self {
            origin,
            commands,
            prefix: prefix.to_owned(),
            timeout,
            clock,
        })
    }

    /// How long a command may take (`--redis-timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Redis's clock as this node reads it.
    pub fn clock(&self) -> &RedisClock {
        &self.clock
    }

    /// Measures Redis's clock again every `every` until `shutdown` (a failed measurement keeps
    /// the last offset).
    pub async fn follow_clock(
        self,
        every: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(error) = self.clock.measure(&mut self.commands.clone()).await {
                tracing::debug!(%error, "measuring Redis's clock failed");
            }
        }
    }

    /// Whether Redis is a cluster: topics' channels are sharded and a script's keys share a
    /// slot.
    pub fn is_cluster(&self) -> bool {
        self.commands.is_cluster()
    }

    /// A second, dedicated connection whose pub/sub messages (and disconnections) go to `push`;
    /// it subscribes again by itself after a reconnect.
    pub async fn subscriber(
        &self,
        push: impl redis::aio::AsyncPushSender,
    ) -> Result<PushConnection, RedisLinkError> {
        Ok(match &self.origin {
            Origin::Server(info) => PushConnection::Server(
                ConnectionManager::new_with_config(
                    server(info)?,
                    subscriber_config(self.timeout, push),
                )
                .await?,
            ),
            Origin::Cluster(seeds) => PushConnection::Cluster(
                cluster(seeds, self.timeout)
                    .push_sender(push)
                    .build()?
                    .get_async_connection()
                    .await?,
            ),
            Origin::Sentinel(master) => {
                PushConnection::Sentinel(master.subscriber(Arc::new(push)).await?)
            }
        })
    }

    /// Whether Redis answers now (within the command timeout).
    pub async fn ping(&self) -> Result<(), RedisLinkError> {
        let mut commands = self.commands.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut commands)
            .await
            .map(drop)
            .map_err(RedisLinkError::from)
    }

    /// Publishes `message` on a channel a node listens to with [`PushConnection::listen`]; returns
    /// how many subscribers got it (on a cluster, `SPUBLISH` to the shard that owns it).
    pub async fn publish(&self, channel: &str, message: &str) -> RedisResult<i64> {
        let command = if self.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        let mut commands = self.commands.clone();
        redis::cmd(command)
            .arg(channel)
            .arg(message)
            .query_async(&mut commands)
            .await
    }

    /// The prefix of every key and channel of this API.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>:<kind>:<name>`: every key and channel of this API.
    pub fn key(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.prefix)
    }
}

/// Where a link's connections go, as `--redis-url` named it (a Sentinel-watched master
/// resolved to the one that follows failovers).
#[derive(Clone)]
enum Origin {
    /// Boxed: with TLS settings it is several times the other variants.
    Server(Box<redis::ConnectionInfo>),
    Cluster(Vec<redis::ConnectionInfo>),
    Sentinel(Arc<SentinelMaster>),
}

pub(super) fn server(info: &redis::ConnectionInfo) -> Result<Client, RedisLinkError> {
    Client::open(info.clone()).map_err(|e| RedisLinkError::Url(format!("{e}; {}", target::FORMS)))
}

pub(super) fn server_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        // Few quick retries: a caller waiting on a command must hear about an outage within
        // about the timeout; the next command tries again.
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
}

/// A pub/sub connection's: its pushes go to `push`, and it subscribes again by itself after a
/// reconnect.
pub(super) fn subscriber_config(
    timeout: Duration,
    push: impl redis::aio::AsyncPushSender,
) -> ConnectionManagerConfig {
    server_config(timeout)
        .set_push_sender(push)
        .set_automatic_resubscription()
}

fn cluster(seeds: &[redis::ConnectionInfo], timeout: Duration) -> ClusterClientBuilder {
    ClusterClientBuilder::new(seeds.to_vec())
        .use_protocol(redis::ProtocolVersion::RESP3)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        // As for one server: a failover shows as errors for about its duration, and commands
        // after it go to the promoted replica (redis-rs refreshes its slot map on `MOVED` and on
        // a lost connection).
        .retries(2)
        .min_retry_wait(50)
        .max_retry_wait(500)
}

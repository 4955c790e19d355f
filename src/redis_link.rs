//! The node's link to Redis: one multiplexed connection for commands, shared by the bus, the
//! history and the store, and the settings every Redis piece names its keys with.
//!
//! redis-rs's `ConnectionManager` reconnects by itself after Redis went away; commands issued
//! while it is gone fail within `--redis-timeout`, so a caller is told rather than kept waiting.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, ProtocolVersion};

/// Redis could not be reached or refused a command.
#[derive(Debug, thiserror::Error)]
pub enum RedisLinkError {
    #[error("invalid Redis URL: {0}")]
    Url(String),
    #[error("Redis is unavailable: {0}")]
    Unavailable(#[from] redis::RedisError),
    /// The schema asks for routing the Redis bus does not do.
    #[error("{0}")]
    Unroutable(String),
}

/// A connection to Redis and the prefix of every key and channel this API uses.
#[derive(Clone)]
pub struct RedisLink {
    client: Client,
    /// The command connection; cloning shares it.
    pub commands: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

impl RedisLink {
    /// Connects (RESP3, needed for pub/sub on a managed connection) and checks the server
    /// answers.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, RedisLinkError> {
        let mut info = url
            .into_connection_info()
            .map_err(|e| RedisLinkError::Url(e.to_string()))?;
        let redis = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        info = info.set_redis_settings(redis);
        let client = Client::open(info).map_err(|e| RedisLinkError::Url(e.to_string()))?;
        let commands =
            ConnectionManager::new_with_config(client.clone(), Self::config(timeout)).await?;
        Ok(Self {
            client,
            commands,
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    /// A second, dedicated connection whose pub/sub messages (and disconnections) go to `push`;
    /// it resubscribes by itself after a reconnect.
    pub async fn subscriber(
        &self,
        push: impl redis::aio::AsyncPushSender,
    ) -> Result<ConnectionManager, RedisLinkError> {
        let config = Self::config(self.timeout)
            .set_push_sender(push)
            .set_automatic_resubscription();
        Ok(ConnectionManager::new_with_config(self.client.clone(), config).await?)
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

    /// `<prefix>:<kind>:<name>`: every key and channel of this API.
    pub fn key(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.prefix)
    }

    fn config(timeout: Duration) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Few quick retries: a caller waiting on a command must hear about an outage within
            // about the timeout; the next command tries again.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
    }
}

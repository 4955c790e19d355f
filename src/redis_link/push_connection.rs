//! The pub/sub connection: its messages, subscription confirmations and disconnections go to
//! the push sender it was made with, and it subscribes again by itself after a reconnect.
//!
//! Two kinds of channel. A **topic's channel** carries that topic's events: on one server it is
//! an ordinary channel; on a cluster a sharded one (`SSUBSCRIBE`), served by the shard that owns
//! the channel's slot, so events spread over the shards and each node hears only the shards of
//! the topics it wants. A **broadcast channel** (invalidations) reaches every node: an ordinary
//! channel in both cases (a cluster passes ordinary messages to every shard).
//!
//! Behind Sentinel, the connection follows the master: it moves to each new one and subscribes
//! there to what it held.

use std::sync::Arc;

use redis::RedisResult;
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;

use super::SentinelPushConnection;

#[derive(Clone)]
pub enum PushConnection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelPushConnection>),
}

impl PushConnection {
    /// Subscribes to topics' channels (or this node's control channel, addressed the same way):
    /// one command on one server; on a cluster each at its own shard, all at once (the first
    /// error is returned).
    pub async fn listen(&self, channels: &[String]) -> RedisResult<()> {
        match self.clone() {
            Self::Server(mut connection) => connection.subscribe(channels).await,
            Self::Cluster(connection) => {
                let results = futures_util::future::join_all(channels.iter().map(|channel| {
                    let mut connection = connection.clone();
                    async move { connection.ssubscribe(channel).await }
                }))
                .await;
                results.into_iter().collect()
            }
            Self::Sentinel(subscriber) => subscriber.subscribe(channels).await,
        }
    }

    /// Unsubscribes from topics' channels. On a cluster each goes to its own shard, all at
    /// once; one shard failing leaves the others' unsubscribed (the first error is returned).
    pub async fn forget(&self, channels: &[String]) -> RedisResult<()> {
        match self.clone() {
            Self::Server(mut connection) => connection.unsubscribe(channels).await,
            Self::Cluster(connection) => {
                let results = futures_util::future::join_all(channels.iter().map(|channel| {
                    let mut connection = connection.clone();
                    async move { connection.sunsubscribe(channel).await }
                }))
                .await;
                results.into_iter().collect()
            }
            Self::Sentinel(subscriber) => subscriber.unsubscribe(channels).await,
        }
    }

    /// Subscribes to a broadcast channel.
    pub async fn broadcast(&self, channel: &str) -> RedisResult<()> {
        match self.clone() {
            Self::Server(mut connection) => connection.subscribe(channel).await,
            Self::Cluster(mut connection) => connection.subscribe(channel).await,
            Self::Sentinel(subscriber) => subscriber.subscribe(&[channel.to_owned()]).await,
        }
    }

    /// Whether Redis answers on this connection (on a cluster, some node of it); asking also
    /// makes redis-rs reconnect and subscribe again if its own retries ran out.
    pub async fn ping(&self) -> RedisResult<()> {
        let ping = redis::cmd("PING");
        match self.clone() {
            Self::Server(mut connection) => ping.query_async(&mut connection).await,
            Self::Cluster(mut connection) => ping.query_async(&mut connection).await,
            Self::Sentinel(subscriber) => ping.query_async(&mut subscriber.connection()).await,
        }
    }
}

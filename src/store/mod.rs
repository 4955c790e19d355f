//! Connection records: who is connected, from where, to which node, subscribed to what.
//!
//! The records serve operators and the admin API, never the delivery path (that is the
//! subscription index). The trait is async and keyed by ids only, so the Redis and DynamoDB stores
//! can implement it as they are; [`MemoryStore`] is the default.

#[cfg(feature = "dynamodb")]
mod dynamodb;
mod memory;
mod redis;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;
pub use redis::RedisStore;

/// One WebSocket connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub connection_id: String,
    /// The user the connection belongs to, once known: the user named by its first subscription's
    /// user argument (`userId` by default).
    pub user_id: Option<String>,
    /// The WebSocket protocol it speaks (`graphql-transport-ws`, `graphql-ws`, ...): a static
    /// name on the node that writes it, so a record held in memory allocates nothing for it.
    pub protocol: Cow<'static, str>,
    pub remote_addr: String,
    /// The node holding the socket, so a cluster can route admin actions to it. Shared by every
    /// record the node writes (one allocation, not one per connection).
    pub node_id: Arc<str>,
    pub connected_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub subscriptions: Vec<SubscriptionRecord>,
}

impl ConnectionRecord {
    /// The users the connection belongs to: its own user and every user it subscribes for.
    /// A store lists the connection under each of them.
    pub fn users(&self) -> HashSet<String> {
        self.user_id
            .iter()
            .chain(self.subscriptions.iter().filter_map(|s| s.user_id.as_ref()))
            .cloned()
            .collect()
    }

    /// Adds or replaces a subscription; the first subscription with a user names the
    /// connection's user when it had none.
    pub fn add_subscription(&mut self, subscription: SubscriptionRecord) {
        if self.user_id.is_none() {
            self.user_id = subscription.user_id.clone();
        }
        self.subscriptions.retain(|s| s.id != subscription.id);
        // Most connections hold one subscription: grow one at a time, not by doubling from 4.
        self.subscriptions.reserve_exact(1);
        self.subscriptions.push(subscription);
    }

    /// Removes the subscription the client called `id`, if any.
    pub fn remove_subscription(&mut self, id: &str) {
        self.subscriptions.retain(|s| s.id != id);
    }
}

/// One active subscription of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    /// The id the client chose for it.
    pub id: String,
    /// The subscription field (`onStatusUpdate`).
    pub field: String,
    /// The arguments it supplied, which are its filter.
    pub arguments: serde_json::Map<String, serde_json::Value>,
    /// The value of its user argument, when it supplied one.
    pub user_id: Option<String>,
}

/// A page of connection records, and where the next one starts (`None`: this was the last).
#[derive(Debug, Default)]
pub struct Page {
    pub records: Vec<ConnectionRecord>,
    pub next: Option<String>,
}

impl Page {
    /// The page of `ids` (in order) after `cursor`, at most `limit`, and the cursor after it:
    /// the stores that keep their ids in order page them by the last id.
    pub fn of_sorted_ids(
        ids: &[String],
        cursor: Option<&str>,
        limit: usize,
    ) -> (Vec<String>, Option<String>) {
        let start = cursor.map_or(0, |after| ids.partition_point(|id| id.as_str() <= after));
        let page: Vec<String> = ids[start..].iter().take(limit.max(1)).cloned().collect();
        let next = (start + page.len() < ids.len())
            .then(|| page.last().cloned())
            .flatten();
        (page, next)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the connection store is unavailable: {0}")]
    Unavailable(String),
    /// A page was asked from a cursor this store did not give.
    #[error("`{0}` is not a cursor of this store")]
    BadCursor(String),
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Records a new connection (with no subscriptions yet).
    async fn connect(&self, record: ConnectionRecord) -> Result<(), StoreError>;
    /// Adds or replaces a subscription of a connection.
    async fn subscribe(
        &self,
        connection_id: &str,
        subscription: SubscriptionRecord,
    ) -> Result<(), StoreError>;
    /// Removes one subscription of a connection.
    async fn unsubscribe(
        &self,
        connection_id: &str,
        subscription_id: &str,
    ) -> Result<(), StoreError>;
    /// Notes that the connection is alive at `at`.
    async fn touch(&self, connection_id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Forgets a connection and all its subscriptions.
    async fn disconnect(&self, connection_id: &str) -> Result<(), StoreError>;
    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError>;
    /// Every connection of a user: its own user id, or a subscription for that user.
    async fn by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError>;

    /// One page of every connection, at most `limit` (at least one), from `cursor` (`None`:
    /// the start); [`Page::next`] continues it. The cursor is the store's own: opaque to callers.
    async fn page(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError>;
    /// Keeps this node's records alive. Stores shared by several nodes give every record an
    /// expiry (three heartbeats), so the records of a node that died without cleaning up vanish
    /// by themselves; the node calls this once per heartbeat. A store private to one process
    /// has nothing to do.
    async fn heartbeat(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

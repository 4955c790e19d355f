//! Connection records in Redis, shared by every node of a cluster.
//!
//! Keys (all under the API's prefix):
//! - `conn:<id>`: the record as JSON, expiring `ttl` after the node's last heartbeat;
//! - `user:<user>`: a set of the connection ids that belong to or subscribe for that user;
//! - `node:<node>`: a set of the connection ids a node holds, which its heartbeat walks.
//!
//! A node that dies without cleaning up stops refreshing, so its records expire by themselves.
//! The sets may briefly name connections whose record is gone; reads skip (and remove) those.
//! Each connection's record is written only by its own session, one change at a time, so the
//! read-change-write of a record needs no transaction.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::{AsyncCommands, Script};

use super::{ConnectionRecord, ConnectionStore, StoreError, SubscriptionRecord};
use crate::redis_link::RedisLink;

/// Refreshes the expiry of every record a node holds (and of its users' sets), and drops the
/// ids whose record is already gone. One round trip per heartbeat, whatever the count.
const HEARTBEAT: &str = r"
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  local rec = redis.call('GET', key)
  if rec then
    redis.call('PEXPIRE', key, ARGV[1])
    local ok, r = pcall(cjson.decode, rec)
    if ok then
      if type(r.user_id) == 'string' then redis.call('PEXPIRE', ARGV[3] .. r.user_id, ARGV[1]) end
      for _, s in ipairs(r.subscriptions or {}) do
        if type(s.user_id) == 'string' then redis.call('PEXPIRE', ARGV[3] .. s.user_id, ARGV[1]) end
      end
    end
  else
    redis.call('SREM', KEYS[1], id)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ids
";

/// The Redis connection store of one node.
pub struct RedisStore {
    link: RedisLink,
    /// This node's id: its heartbeat refreshes the records in `node:<node_id>`.
    node_id: String,
    /// How long a record outlives the last heartbeat (three heartbeats).
    ttl: Duration,
    heartbeat: Script,
}

impl RedisStore {
    pub fn new(link: RedisLink, node_id: &str, ttl: Duration) -> Self {
        Self {
            link,
            node_id: node_id.to_owned(),
            ttl,
            heartbeat: Script::new(HEARTBEAT),
        }
    }

    fn conn_key(&self, id: &str) -> String {
        self.link.key("conn", id)
    }

    fn user_key(&self, user: &str) -> String {
        self.link.key("user", user)
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    async fn load(&self, id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let mut conn = self.link.commands.clone();
        let json: Option<String> = conn.get(self.conn_key(id)).await.map_err(unavailable)?;
        Ok(json.and_then(|json| decode(id, &json)))
    }

    /// Writes `record` (with a fresh expiry) and files it under the users it gained, and out
    /// of those it lost since `before`.
    async fn save(
        &self,
        record: &ConnectionRecord,
        before: &HashSet<String>,
    ) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(record).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let id = &record.connection_id;
        let after = record.users();
        let mut pipe = redis::pipe();
        pipe.set(self.conn_key(id), json)
            .arg("PX")
            .arg(self.ttl_ms())
            .ignore();
        let node = self.link.key("node", &record.node_id);
        pipe.sadd(&node, id)
            .ignore()
            .pexpire(&node, self.ttl_ms() as i64)
            .ignore();
        for user in after.difference(before) {
            let key = self.user_key(user);
            pipe.sadd(&key, id)
                .ignore()
                .pexpire(&key, self.ttl_ms() as i64)
                .ignore();
        }
        for user in before.difference(&after) {
            pipe.srem(self.user_key(user), id).ignore();
        }
        let mut conn = self.link.commands.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(unavailable)
    }

    /// Changes a stored record; a connection that is not recorded is left alone.
    async fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut ConnectionRecord),
    ) -> Result<(), StoreError> {
        let Some(mut record) = self.load(id).await? else {
            return Ok(());
        };
        let before = record.users();
        change(&mut record);
        self.save(&record, &before).await
    }
}

#[async_trait]
impl ConnectionStore for RedisStore {
    async fn connect(&self, record: ConnectionRecord) -> Result<(), StoreError> {
        self.save(&record, &HashSet::new()).await
    }

    async fn subscribe(
        &self,
        connection_id: &str,
        subscription: SubscriptionRecord,
    ) -> Result<(), StoreError> {
        self.update(connection_id, |record| {
            record.add_subscription(subscription)
        })
        .await
    }

    async fn unsubscribe(
        &self,
        connection_id: &str,
        subscription_id: &str,
    ) -> Result<(), StoreError> {
        self.update(connection_id, |record| {
            record.remove_subscription(subscription_id)
        })
        .await
    }

    async fn touch(&self, connection_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.update(connection_id, |record| record.last_seen = at)
            .await
    }

    async fn disconnect(&self, connection_id: &str) -> Result<(), StoreError> {
        let Some(record) = self.load(connection_id).await? else {
            return Ok(());
        };
        let mut pipe = redis::pipe();
        pipe.del(self.conn_key(connection_id)).ignore();
        pipe.srem(self.link.key("node", &record.node_id), connection_id)
            .ignore();
        for user in record.users() {
            pipe.srem(self.user_key(&user), connection_id).ignore();
        }
        let mut conn = self.link.commands.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(unavailable)
    }

    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        self.load(connection_id).await
    }

    async fn by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        let mut conn = self.link.commands.clone();
        let user_key = self.user_key(user_id);
        let mut ids: Vec<String> = conn.smembers(&user_key).await.map_err(unavailable)?;
        ids.sort();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.conn_key(id)).collect();
        let found: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut records = Vec::new();
        let mut stale = Vec::new();
        for (id, json) in ids.iter().zip(found) {
            match json.and_then(|json| decode(id, &json)) {
                Some(record) if record.users().contains(user_id) => records.push(record),
                _ => stale.push(id),
            }
        }
        if !stale.is_empty() {
            conn.srem::<_, _, ()>(&user_key, stale)
                .await
                .map_err(unavailable)?;
        }
        Ok(records)
    }

    async fn heartbeat(&self) -> Result<(), StoreError> {
        let mut conn = self.link.commands.clone();
        self.heartbeat
            .key(self.link.key("node", &self.node_id))
            .arg(self.ttl_ms())
            .arg(self.link.key("conn", ""))
            .arg(self.link.key("user", ""))
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// A record that does not parse (written by another version, say) is treated as absent and
/// logged, rather than failing every read of its user.
fn decode(id: &str, json: &str) -> Option<ConnectionRecord> {
    serde_json::from_str(json)
        .inspect_err(|error| tracing::warn!(connection = id, %error, "unreadable connection record in Redis"))
        .ok()
}

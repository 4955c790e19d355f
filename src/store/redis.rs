//! Connection records in Redis, shared by every node of a cluster.
//!
//! Keys (all under the API's prefix):
//! - `conn:<id>`: the record as JSON, expiring `ttl` after the node's last heartbeat;
//! - `user:<user>`: a set of the connection ids that belong to or subscribe for that user;
//! - `node:<node>`: a set of the connection ids a node holds, which its heartbeat walks;
//! - `conns:all`: every connection id, a sorted set (all scores 0, so ordered by id) that the
//!   admin API pages through; a connection leaves it when it disconnects, and one whose record
//!   expired (its node died) when a page finds it gone.
//!
//! Each key stands alone (no command or script touches two), so on a Redis Cluster every key
//! lives in a slot of its own: a change is a handful of commands sent together, each to the
//! shard that owns its key.
//!
//! A node that dies without cleaning up stops refreshing, so its records expire by themselves.
//! The sets may briefly name connections whose record is gone; reads skip (and remove) those.
//! Each connection's record is written only by its own session, one change at a time, so the
//! read-change-write of a record needs no transaction.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::{AsyncCommands, Cmd};

use super::{ConnectionRecord, ConnectionStore, Page, StoreError, SubscriptionRecord};
use crate::redis_link::RedisLink;

/// Records read per `MGET` while a heartbeat walks a node's set.
const HEARTBEAT_PAGE: usize = 500;

/// The Redis connection store of one node.
pub struct RedisStore {
    link: RedisLink,
    /// This node's id: its heartbeat refreshes the records in `node:<node_id>`.
    node_id: String,
    /// How long a record outlives the last heartbeat (three heartbeats).
    ttl: Duration,
}

impl RedisStore {
    pub fn new(link: RedisLink, node_id: &str, ttl: Duration) -> Self {
        Self {
            link,
            node_id: node_id.to_owned(),
            ttl,
        }
    }

    fn conn_key(&self, id: &str) -> String {
        self.link.key("conn", id)
    }

    fn user_key(&self, user: &str) -> String {
        self.link.key("user", user)
    }

    fn all_key(&self) -> String {
        self.link.key("conns", "all")
    }

    fn ttl_ms(&self) -> i64 {
        self.ttl.as_millis() as i64
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
        let ttl = self.ttl_ms();
        // The record first: a heartbeat that finds an id in the node's set without its record
        // drops the id (on a cluster the two live on different shards).
        self.run(vec![Cmd::pset_ex(self.conn_key(id), &json, ttl as u64)])
            .await?;
        let node = self.link.key("node", &record.node_id);
        let mut commands = vec![Cmd::sadd(&node, id), Cmd::pexpire(&node, ttl)];
        for user in after.difference(before) {
            let key = self.user_key(user);
            commands.extend([Cmd::sadd(&key, id), Cmd::pexpire(&key, ttl)]);
        }
        for user in before.difference(&after) {
            commands.push(Cmd::srem(self.user_key(user), id));
        }
        self.run(commands).await
    }

    /// The records of `ids` as stored (`None` where gone), with their keys, in one `MGET`
    /// (split by slot on a cluster).
    async fn read_records(
        &self,
        ids: &[String],
    ) -> Result<(Vec<String>, Vec<Option<String>>), StoreError> {
        let keys: Vec<String> = ids.iter().map(|id| self.conn_key(id)).collect();
        let mut conn = self.link.commands.clone();
        let found = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok((keys, found))
    }

    /// Sends `commands` together (one server takes them in one write; a cluster sends each to
    /// the shard that owns its key) and fails if any failed.
    async fn run(&self, commands: Vec<Cmd>) -> Result<(), StoreError> {
        let connection = &self.link.commands;
        futures_util::future::try_join_all(commands.iter().map(|command| {
            let mut connection = connection.clone();
            async move { command.query_async::<()>(&mut connection).await }
        }))
        .await
        .map(drop)
        .map_err(unavailable)
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
        self.save(&record, &HashSet::new()).await?;
        self.run(vec![Cmd::zadd(self.all_key(), &record.connection_id, 0)])
            .await
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
        let mut commands = vec![
            Cmd::del(self.conn_key(connection_id)),
            Cmd::zrem(self.all_key(), connection_id),
            Cmd::srem(self.link.key("node", &record.node_id), connection_id),
        ];
        for user in record.users() {
            commands.push(Cmd::srem(self.user_key(&user), connection_id));
        }
        self.run(commands).await
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
        let (_, found) = self.read_records(&ids).await?;
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

    async fn page(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        let limit = limit.max(1);
        let from = cursor.map_or_else(|| "-".to_owned(), |after| format!("({after}"));
        let mut conn = self.link.commands.clone();
        // One more than asked: whether another page follows.
        let mut ids: Vec<String> = redis::cmd("ZRANGEBYLEX")
            .arg(self.all_key())
            .arg(&from)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let more = ids.len() > limit;
        ids.truncate(limit);
        if ids.is_empty() {
            return Ok(Page::default());
        }
        let (_, found) = self.read_records(&ids).await?;
        let mut records = Vec::new();
        let mut stale = Vec::new();
        for (id, json) in ids.iter().zip(found) {
            match json.and_then(|json| decode(id, &json)) {
                Some(record) => records.push(record),
                None => stale.push(id),
            }
        }
        if !stale.is_empty() {
            conn.zrem::<_, _, ()>(self.all_key(), stale)
                .await
                .map_err(unavailable)?;
        }
        let next = more.then(|| ids.last().cloned()).flatten();
        Ok(Page { records, next })
    }

    /// Refreshes the expiry of every record this node holds and of its users' sets, and drops
    /// the ids whose record is already gone: a page of records read at a time, the refreshes of
    /// a page sent together.
    async fn heartbeat(&self) -> Result<(), StoreError> {
        let ttl = self.ttl_ms();
        let node = self.link.key("node", &self.node_id);
        let mut conn = self.link.commands.clone();
        let ids: Vec<String> = conn.smembers(&node).await.map_err(unavailable)?;
        for page in ids.chunks(HEARTBEAT_PAGE) {
            let (keys, found) = self.read_records(page).await?;
            let mut commands = Vec::new();
            let mut users = HashSet::new();
            let mut gone = Vec::new();
            for ((id, key), json) in page.iter().zip(&keys).zip(found) {
                match json {
                    Some(json) => {
                        commands.push(Cmd::pexpire(key, ttl));
                        users.extend(decode(id, &json).map(|r| r.users()).unwrap_or_default());
                    }
                    None => gone.push(id.as_str()),
                }
            }
            commands.extend(
                users
                    .iter()
                    .map(|user| Cmd::pexpire(self.user_key(user), ttl)),
            );
            if !gone.is_empty() {
                commands.push(Cmd::srem(&node, gone));
            }
            self.run(commands).await?;
        }
        self.run(vec![Cmd::pexpire(&node, ttl)]).await
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

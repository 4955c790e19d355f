//! History in Redis: a capped stream per topic, so every node serves the same `statusHistory`.
//!
//! `XADD ... MAXLEN ~ n` keeps at least the last `n` events (Redis trims in whole blocks), and
//! reads take the newest `n`, so a query sees exactly what the memory history would. Each
//! stream expires `ttl` after its last write, which bounds the number of topics kept.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::streams::StreamRangeReply;

use super::{History, HistoryError};
use crate::event::Event;
use crate::redis_link::RedisLink;

pub struct RedisHistory {
    link: RedisLink,
    per_topic: usize,
    ttl: Duration,
}

impl RedisHistory {
    pub fn new(link: RedisLink, per_topic: usize, ttl: Duration) -> Self {
        Self {
            link,
            per_topic,
            ttl,
        }
    }
}

#[async_trait]
impl History for RedisHistory {
    async fn append(&self, topic: &str, event: Arc<Event>) -> Result<(), HistoryError> {
        if self.per_topic == 0 {
            return Ok(());
        }
        let key = self.link.key("hist", topic);
        let mut pipe = redis::pipe();
        pipe.cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.per_topic)
            .arg("*")
            .arg("e")
            .arg(event.to_json())
            .ignore()
            .pexpire(&key, self.ttl.as_millis() as i64)
            .ignore();
        let mut conn = self.link.commands.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| HistoryError::Unavailable(e.to_string()))
    }

    async fn recent(&self, topic: &str) -> Result<Vec<Arc<Event>>, HistoryError> {
        if self.per_topic == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.link.commands.clone();
        let reply: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(self.link.key("hist", topic))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(self.per_topic)
            .query_async(&mut conn)
            .await
            .map_err(|e| HistoryError::Unavailable(e.to_string()))?;
        let mut events: Vec<Arc<Event>> = reply
            .ids
            .iter()
            .filter_map(|entry| entry.get::<String>("e"))
            .filter_map(|json| Event::from_json(&json))
            .map(Arc::new)
            .collect();
        events.reverse();
        Ok(events)
    }
}

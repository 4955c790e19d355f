//! Recent events per topic, for history queries (`statusHistory`) and, later, catch-up after a
//! reconnect. Always bounded: a fixed number of events per topic and of topics.

mod memory;
mod redis;

use std::sync::Arc;

use async_trait::async_trait;

pub use memory::MemoryHistory;
pub use redis::RedisHistory;

use crate::event::Event;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("the history store is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait History: Send + Sync {
    /// Keeps `event` as the newest of `topic`, dropping the oldest past the cap.
    async fn append(&self, topic: &str, event: Arc<Event>) -> Result<(), HistoryError>;
    /// The kept events of `topic`, oldest first.
    async fn recent(&self, topic: &str) -> Result<Vec<Arc<Event>>, HistoryError>;
}

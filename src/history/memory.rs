//! The in-memory history: a ring of recent events per topic, and a cap on topics.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{History, HistoryError};
use crate::event::Event;

/// Keeps the last `per_topic` events of at most `max_topics` topics. When a new topic would pass
/// the cap, the topic that was written least recently is forgotten.
pub struct MemoryHistory {
    per_topic: usize,
    max_topics: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    topics: HashMap<String, Ring>,
    /// Topics by the sequence number of their last write, oldest first, to find whom to evict.
    by_age: BTreeMap<u64, String>,
    next_seq: u64,
}

struct Ring {
    last_write: u64,
    events: VecDeque<Arc<Event>>,
}

impl MemoryHistory {
    pub fn new(per_topic: usize, max_topics: usize) -> Self {
        Self {
            per_topic,
            max_topics: max_topics.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// How many topics are kept now.
    pub fn topic_count(&self) -> usize {
        self.lock().topics.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters for reads, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl History for MemoryHistory {
    async fn append(&self, topic: &str, event: Arc<Event>) -> Result<(), HistoryError> {
        if self.per_topic == 0 {
            return Ok(());
        }
        let mut inner = self.lock();
        let inner = &mut *inner;
        let seq = inner.next_seq;
        inner.next_seq += 1;
        if !inner.topics.contains_key(topic)
            && inner.topics.len() >= self.max_topics
            && let Some((_, oldest)) = inner.by_age.pop_first()
        {
            inner.topics.remove(&oldest);
        }
        let ring = inner
            .topics
            .entry(topic.to_owned())
            .or_insert_with(|| Ring {
                last_write: seq,
                events: VecDeque::new(),
            });
        inner.by_age.remove(&ring.last_write);
        ring.last_write = seq;
        inner.by_age.insert(seq, topic.to_owned());
        if ring.events.len() == self.per_topic {
            ring.events.pop_front();
        }
        ring.events.push_back(event);
        Ok(())
    }

    async fn recent(&self, topic: &str) -> Result<Vec<Arc<Event>>, HistoryError> {
        Ok(self
            .lock()
            .topics
            .get(topic)
            .map(|ring| ring.events.iter().cloned().collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Value;

    fn event(n: i32) -> Arc<Event> {
        Arc::new(Event::new("m", "T", Value::from(n)))
    }

    #[tokio::test]
    async fn keeps_the_newest_per_topic_and_evicts_the_stalest_topic() {
        let history = MemoryHistory::new(2, 2);
        for n in 0..3 {
            history.append("a", event(n)).await.unwrap();
        }
        let kept: Vec<_> = history
            .recent("a")
            .await
            .unwrap()
            .iter()
            .map(|e| e.payload.clone())
            .collect();
        assert_eq!(kept, [Value::from(1), Value::from(2)]);
        history.append("b", event(9)).await.unwrap();
        history.append("a", event(3)).await.unwrap();
        history.append("c", event(9)).await.unwrap();
        assert_eq!(history.topic_count(), 2);
        assert!(
            history.recent("b").await.unwrap().is_empty(),
            "b was written least recently"
        );
        assert_eq!(history.recent("a").await.unwrap().len(), 2);
    }
}

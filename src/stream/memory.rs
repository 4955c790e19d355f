//! The streams of a single node: per topic, the newest entries within a count, a byte budget
//! and an age, in stripes so that publishes to different topics do not wait on one lock.
//!
//! A stripe's lock is held while an event is appended *and* handed to its subscribers (the
//! caller's `deliver`), so a topic's deliveries leave in offset order, as on Redis, where
//! scripts run one at a time and one task reads what they publish.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{Entry, Position, ReadFrom, StreamRead, new_epoch};
use crate::publication::Publication;

/// Independent locks; a power of two well above the core count.
const STRIPES: usize = 64;

/// What keeping an entry costs beyond its event's estimate: the entry and its slot in the ring,
/// and the allocator's rounding. With it the budget tracks RSS: a small status (~320 bytes of
/// JSON) is counted 1.29 KB and measured at 1.28 KB (`bench/history_cost.sh`).
const ENTRY_OVERHEAD: usize = 256;

/// How much the streams keep.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Entries kept per topic.
    pub per_topic: usize,
    /// Bytes kept per topic; the newest entry always stays, however large.
    pub topic_bytes: usize,
    /// Bytes kept over all topics (memory only); past it the least recently written topics
    /// are dropped whole.
    pub total_bytes: usize,
    /// Topics kept; past it the least recently written one is dropped.
    pub max_topics: usize,
    /// How long an entry is kept after it was published.
    pub max_age: Duration,
}

/// Every topic's stream on this node.
pub struct MemoryStreams {
    stripes: Box<[Mutex<Stripe>]>,
    hasher: std::collections::hash_map::RandomState,
    /// The limits of one stripe: the totals divided by [`STRIPES`].
    stripe_limits: StreamLimits,
}

#[derive(Default)]
struct Stripe {
    topics: HashMap<String, TopicStream>,
    /// Topics by the sequence number of their last write, oldest first: whom to drop.
    by_age: BTreeMap<u64, String>,
    next_seq: u64,
    bytes: usize,
}

struct TopicStream {
    epoch: Arc<str>,
    top: u64,
    entries: VecDeque<Kept>,
    bytes: usize,
    last_write: u64,
}

struct Kept {
    entry: Entry,
    bytes: usize,
}

impl MemoryStreams {
    pub fn new(limits: StreamLimits) -> Self {
        let stripe_limits = StreamLimits {
            total_bytes: (limits.total_bytes / STRIPES).max(1),
            max_topics: limits.max_topics.div_ceil(STRIPES).max(1),
            ..limits
        };
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
            hasher: Default::default(),
            stripe_limits,
        }
    }

    fn stripe(&self, topic: &str) -> MutexGuard<'_, Stripe> {
        let index = self.hasher.hash_one(topic) as usize % STRIPES;
        // Every update leaves the maps consistent before anything that could panic, so a
        // poisoned lock is still usable.
        self.stripes[index]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `event` to `topic`'s stream, then runs `deliver` with its position while the
    /// topic is still locked, and returns what `deliver` returned.
    pub fn append<R>(
        &self,
        topic: &str,
        event: &Arc<Publication>,
        deliver: impl FnOnce(&Position) -> R,
    ) -> R {
        let limits = &self.stripe_limits;
        let mut stripe = self.stripe(topic);
        let stripe = &mut *stripe;
        let seq = stripe.touch(topic, limits);
        let bytes = event.approx_bytes() + ENTRY_OVERHEAD;
        let stream = stripe.topics.get_mut(topic).expect("touch keeps the topic");
        stream.last_write = seq;
        stream.top += 1;
        let position = Position {
            epoch: stream.epoch.clone(),
            offset: stream.top,
        };
        if limits.per_topic > 0 {
            stream.entries.push_back(Kept {
                entry: Entry {
                    offset: stream.top,
                    event: event.clone(),
                },
                bytes,
            });
            stream.bytes += bytes;
            stripe.bytes += bytes;
            let freed = stream.trim(limits);
            stripe.bytes -= freed;
        }
        stripe.shrink(topic, limits);
        deliver(&position)
    }

    /// Reads `topic`'s stream. A topic never written gets its epoch now, so a subscriber that
    /// comes before the first publish learns the epoch that publish will use.
    pub fn read(&self, topic: &str, from: ReadFrom, max: usize) -> StreamRead {
        let limits = &self.stripe_limits;
        let mut stripe = self.stripe(topic);
        let stripe = &mut *stripe;
        let known = stripe.topics.contains_key(topic);
        if !known {
            stripe.touch(topic, limits);
        }
        let stream = stripe.topics.get_mut(topic).expect("touch keeps the topic");
        let freed = stream.expire(limits.max_age);
        stripe.bytes -= freed;
        let stream = &stripe.topics[topic];
        let read = StreamRead {
            epoch: stream.epoch.clone(),
            top: stream.top,
            fork: 0,
            previous: None,
            entries: stream.entries.iter().map(|k| k.entry.clone()).collect(),
        };
        read.select(from, max)
    }

    /// Bytes kept now, by the estimate the budget uses.
    pub fn bytes(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).bytes)
            .sum()
    }

    /// Topics kept now.
    pub fn topic_count(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).topics.len())
            .sum()
    }
}

impl Stripe {
    /// Makes `topic` the most recently used, creating it (with a new epoch) if needed and
    /// dropping the least recently written topic when that passes the cap. Returns its
    /// sequence number.
    fn touch(&mut self, topic: &str, limits: &StreamLimits) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        match self.topics.get_mut(topic) {
            Some(stream) => {
                self.by_age.remove(&stream.last_write);
                stream.last_write = seq;
            }
            None => {
                if self.topics.len() >= limits.max_topics {
                    self.drop_oldest();
                }
                self.topics.insert(
                    topic.to_owned(),
                    TopicStream {
                        epoch: new_epoch(),
                        top: 0,
                        entries: VecDeque::new(),
                        bytes: 0,
                        last_write: seq,
                    },
                );
            }
        }
        self.by_age.insert(seq, topic.to_owned());
        seq
    }

    fn drop_oldest(&mut self) -> bool {
        let Some((_, oldest)) = self.by_age.pop_first() else {
            return false;
        };
        if let Some(stream) = self.topics.remove(&oldest) {
            self.bytes -= stream.bytes;
        }
        true
    }

    /// Drops the least recently written topics other than `keep` while over the byte budget.
    fn shrink(&mut self, keep: &str, limits: &StreamLimits) {
        while self.bytes > limits.total_bytes {
            let Some((&seq, oldest)) = self.by_age.first_key_value() else {
                return;
            };
            if oldest == keep {
                return;
            }
            let oldest = oldest.clone();
            self.by_age.remove(&seq);
            if let Some(stream) = self.topics.remove(&oldest) {
                self.bytes -= stream.bytes;
            }
        }
    }
}

impl TopicStream {
    /// Drops the oldest entries past the count, the byte budget or the age, keeping the newest.
    /// Returns the bytes freed.
    fn trim(&mut self, limits: &StreamLimits) -> usize {
        let mut freed = self.expire(limits.max_age);
        while self.entries.len() > 1
            && (self.entries.len() > limits.per_topic || self.bytes > limits.topic_bytes)
        {
            freed += self.pop_front();
        }
        freed
    }

    /// Drops the entries older than `max_age`. Returns the bytes freed.
    fn expire(&mut self, max_age: Duration) -> usize {
        let Ok(max_age) = chrono::Duration::from_std(max_age) else {
            return 0;
        };
        let cutoff = chrono::Utc::now() - max_age;
        let mut freed = 0;
        while self
            .entries
            .front()
            .is_some_and(|k| k.entry.event.published_at < cutoff)
        {
            freed += self.pop_front();
        }
        freed
    }

    fn pop_front(&mut self) -> usize {
        let bytes = self.entries.pop_front().map_or(0, |k| k.bytes);
        self.bytes -= bytes;
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Value;

    fn limits() -> StreamLimits {
        StreamLimits {
            per_topic: 3,
            topic_bytes: usize::MAX,
            total_bytes: usize::MAX,
            max_topics: 1000,
            max_age: Duration::from_secs(3600),
        }
    }

    fn event(n: i32) -> Arc<Publication> {
        Arc::new(Publication::new("m", "T", Value::from(n)))
    }

    fn offsets(read: &StreamRead) -> Vec<u64> {
        read.entries.iter().map(|e| e.offset).collect()
    }

    #[test]
    fn offsets_are_contiguous_and_the_newest_are_kept() {
        let streams = MemoryStreams::new(limits());
        let mut seen = Vec::new();
        for n in 0..5 {
            streams.append("a", &event(n), |p| seen.push(p.clone()));
        }
        assert_eq!(
            seen.iter().map(|p| p.offset).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert!(seen.iter().all(|p| p.epoch == seen[0].epoch));
        let read = streams.read("a", ReadFrom::Last(10), 10);
        assert_eq!((read.top, offsets(&read)), (5, vec![3, 4, 5]));
        assert_eq!(offsets(&streams.read("a", ReadFrom::After(3), 10)), [4, 5]);
        assert_eq!(offsets(&streams.read("a", ReadFrom::After(2), 1)), [3]);
        assert_eq!(offsets(&streams.read("a", ReadFrom::Last(1), 10)), [5]);
        assert!(streams.read("a", ReadFrom::Nothing, 10).entries.is_empty());
    }

    #[test]
    fn a_topic_read_before_its_first_publish_keeps_its_epoch() {
        let streams = MemoryStreams::new(limits());
        let before = streams.read("a", ReadFrom::Nothing, 10);
        assert_eq!(before.top, 0);
        let position = streams.append("a", &event(1), |p| p.clone());
        assert_eq!(position.epoch, before.epoch);
        assert_eq!(position.offset, 1);
    }

    #[test]
    fn a_dropped_topic_comes_back_with_a_new_epoch() {
        let streams = MemoryStreams::new(StreamLimits {
            max_topics: 1,
            ..limits()
        });
        let first = streams.append("a", &event(1), |p| p.clone());
        // With one topic per stripe, writing enough other topics drops "a" from its stripe.
        for n in 0..(STRIPES * 8) {
            streams.append(&format!("t{n}"), &event(0), |_| ());
        }
        let again = streams.read("a", ReadFrom::Last(10), 10);
        assert_ne!(again.epoch, first.epoch);
        assert_eq!(again.top, 0);
    }

    #[test]
    fn the_byte_budget_holds_and_the_newest_entry_stays() {
        let big = || Arc::new(Publication::new("m", "T", Value::from("x".repeat(1000))));
        let streams = MemoryStreams::new(StreamLimits {
            per_topic: 100,
            topic_bytes: 3500,
            total_bytes: STRIPES * 10_000,
            ..limits()
        });
        for _ in 0..10 {
            streams.append("a", &big(), |_| ());
        }
        let read = streams.read("a", ReadFrom::Last(100), 100);
        assert_eq!(read.entries.len(), 2, "two of about 1.5 KB fit in 3.5 KB");
        let huge = Arc::new(Publication::new("m", "T", Value::from("x".repeat(5000))));
        streams.append("a", &huge, |_| ());
        assert_eq!(streams.read("a", ReadFrom::Last(100), 100).entries.len(), 1);
        for n in 0..2000 {
            streams.append(&format!("u{n}"), &big(), |_| ());
        }
        assert!(streams.bytes() <= STRIPES * 10_000, "{}", streams.bytes());
    }

    #[test]
    fn two_hundred_thousand_users_stay_within_a_small_budget() {
        let budget = 2 << 20;
        let streams = MemoryStreams::new(StreamLimits {
            per_topic: 100,
            topic_bytes: 256 << 10,
            total_bytes: budget,
            max_topics: 100_000,
            max_age: Duration::from_secs(3600),
        });
        for user in 0..200_000 {
            let status = serde_json::json!({
                "userId": format!("u{user}"), "jobId": "j", "status": "validating",
                "timestamp": "2026-12-01T10:00:00.000Z",
            });
            let event = Arc::new(Publication::new(
                "publishStatus",
                "Status",
                Value::from_json(status).unwrap(),
            ));
            streams.append(
                &format!("onStatusUpdate(userId:\"u{user}\")"),
                &event,
                |_| (),
            );
            if user % 10_000 == 0 {
                assert!(streams.bytes() <= budget, "{} > {budget}", streams.bytes());
            }
        }
        assert!(streams.bytes() <= budget, "{} > {budget}", streams.bytes());
        assert!(
            streams.bytes() > budget / 2,
            "the budget is used, not wasted"
        );
        // The newest users are kept, the oldest gone.
        let newest = streams.read("onStatusUpdate(userId:\"u199999\")", ReadFrom::Last(1), 1);
        assert_eq!(newest.top, 1);
        let oldest = streams.read("onStatusUpdate(userId:\"u0\")", ReadFrom::Last(1), 1);
        assert_eq!(oldest.top, 0);
    }
}

//! The per-topic stream: every event a topic received, with its position, kept within bounds.
//!
//! One stream per topic key serves everything that looks back: `statusHistory`, a node catching
//! up after a lost Redis link, a client resuming after a reconnect, and replay on subscribe. The
//! bus owns the streams (in memory, [`MemoryStreams`]; on Redis, the publish script), so an event
//! is written to its topics' streams and delivered in one step.
//!
//! A position is an **offset** (1, 2, 3, … per topic, contiguous) within an **epoch** (eight
//! random letters naming one incarnation of the stream). When a stream is lost (a memory node
//! restarts, Redis is flushed, the stream expires or is evicted) its next incarnation has a new
//! epoch, so an old offset can never be mistaken for a new one.

mod memory;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::Rng;

pub use memory::{MemoryStreams, StreamLimits};

use crate::publication::Publication;

/// Where an event sits in one topic's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub epoch: Arc<str>,
    pub offset: u64,
}

/// One kept event and its offset.
#[derive(Debug, Clone)]
pub struct Entry {
    pub offset: u64,
    pub event: Arc<Publication>,
}

/// What a read of one topic's stream returns, as of one instant: its epoch, its newest offset
/// (`top`, 0 when nothing was ever written in this epoch) and the entries asked for, oldest first.
#[derive(Debug, Clone)]
pub struct StreamRead {
    pub epoch: Arc<str>,
    pub top: u64,
    /// Where this epoch forked from the one before: entries up to this offset are the same in
    /// both (a Redis failover or restart starts a new epoch over the history it kept). 0 when
    /// the epoch began with an empty stream.
    pub fork: u64,
    /// The epoch this one forked from, if it did: a position of it up to `fork` names the same
    /// event in this one.
    pub previous: Option<Arc<str>>,
    pub entries: Vec<Entry>,
}

/// Which entries a read returns; never more than its `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReadFrom {
    /// Every kept entry after this offset (resume); the oldest first.
    After(u64),
    /// The newest `n` kept entries (replay, history).
    Last(usize),
    /// The kept entries published at or after this instant.
    Since(DateTime<Utc>),
    /// Only the epoch and the top.
    Nothing,
}

impl StreamRead {
    /// Leaves out the entries published more than `max_age` ago.
    pub fn expire(mut self, max_age: std::time::Duration) -> Self {
        if let Ok(max_age) = chrono::Duration::from_std(max_age) {
            let cutoff = Utc::now() - max_age;
            self.entries.retain(|e| e.event.published_at >= cutoff);
        }
        self
    }

    /// Keeps the entries `from` asks for, at most `max` of them (the newest, except for
    /// [`ReadFrom::After`], which keeps the oldest: a resume continues from where it was).
    pub fn select(mut self, from: ReadFrom, max: usize) -> Self {
        match from {
            ReadFrom::After(offset) => {
                self.entries.retain(|e| e.offset > offset);
                self.entries.truncate(max);
            }
            ReadFrom::Last(n) => keep_newest(&mut self.entries, n.min(max)),
            ReadFrom::Since(at) => {
                self.entries.retain(|e| e.event.published_at >= at);
                keep_newest(&mut self.entries, max);
            }
            ReadFrom::Nothing => self.entries.clear(),
        }
        self
    }
}

fn keep_newest(entries: &mut Vec<Entry>, n: usize) {
    let skip = entries.len().saturating_sub(n);
    entries.drain(..skip);
}

/// A fresh epoch: eight random letters, as Centrifugo's.
pub fn new_epoch() -> Arc<str> {
    let mut rng = rand::rng();
    let letters: String = (0..8)
        .map(|_| {
            let n = rng.random_range(0..52u8);
            char::from(if n < 26 { b'A' + n } else { b'a' + n - 26 })
        })
        .collect();
    Arc::from(letters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_eight_letters_and_differ() {
        let a = new_epoch();
        assert_eq!(a.len(), 8);
        assert!(a.chars().all(|c| c.is_ascii_alphabetic()));
        assert_ne!(a, new_epoch());
    }
}

//! The names of a topic's Redis keys and channel.
//!
//! A topic's stream (whose name is also its channel's) and its meta hash carry the same hash
//! tag, `{<16 hex digits>}` from a hash of the topic key, right after the kind: on a Redis
//! Cluster both land in one slot, so the publish and read scripts (which touch both, and
//! `SPUBLISH` on the channel) run on one shard. The tag comes before the topic key because a
//! topic key holds braces of its own (`onStatusUpdate({"userId":"u1"})`) and Redis hashes the
//! first `{…}` it finds. Different topics spread over the slots.

/// Names keys for topics under one prefix (public so that tests and tools can find a topic's
/// keys in Redis).
#[derive(Debug, Clone)]
pub struct TopicKeys {
    /// `<prefix>:t:`, the start of every topic's stream and channel.
    streams: String,
    /// `<prefix>:tm:`, the start of every topic's meta hash.
    metas: String,
    /// `<prefix>:idem:`, the start of every idempotency key.
    idempotency: String,
}

impl TopicKeys {
    pub fn new(prefix: &str) -> Self {
        Self {
            streams: format!("{prefix}:t:"),
            metas: format!("{prefix}:tm:"),
            idempotency: format!("{prefix}:idem:"),
        }
    }

    /// The topic's stream, which is also the name of its channel.
    pub fn stream(&self, topic: &str) -> String {
        format!("{}{}{topic}", self.streams, tag(topic))
    }

    /// The topic's meta hash (epoch, newest offset, bytes kept).
    pub fn meta(&self, topic: &str) -> String {
        format!("{}{}{topic}", self.metas, tag(topic))
    }

    /// The stream and the meta hash of a topic (what its scripts are given), the tag hashed
    /// once.
    pub fn stream_and_meta(&self, topic: &str) -> (String, String) {
        let tag = tag(topic);
        (
            format!("{}{tag}{topic}", self.streams),
            format!("{}{tag}{topic}", self.metas),
        )
    }

    /// An idempotency key, in the slot of the topic whose script checks it.
    pub fn idempotency(&self, key: &str, topic: Option<&str>) -> String {
        format!(
            "{}{}{key}",
            self.idempotency,
            topic.map(tag).unwrap_or_default()
        )
    }

    /// The topic a channel carries, if it is a topic's channel.
    pub fn topic<'a>(&self, channel: &'a str) -> Option<&'a str> {
        let tagged = channel.strip_prefix(&self.streams)?;
        let (tag, topic) = tagged.strip_prefix('{')?.split_once('}')?;
        (tag.len() == 16).then_some(topic)
    }
}

/// `{<16 hex digits>}`: FNV-1a (64 bits) of the topic key. Stable across nodes and versions
/// (it names keys that outlive a process), which a seeded hasher would not be.
fn tag(topic: &str) -> String {
    let hash = topic.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{{{hash:016x}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash tag Redis takes from a key: between its first `{` and the next `}`, if not
    /// empty (the cluster specification's rule).
    fn redis_hash_tag(key: &str) -> &str {
        match key.find('{') {
            Some(open) => match key[open + 1..].find('}') {
                Some(len) if len > 0 => &key[open + 1..open + 1 + len],
                _ => key,
            },
            None => key,
        }
    }

    #[test]
    fn a_topics_keys_share_one_slot_and_its_channel_names_it() {
        let keys = TopicKeys::new("sb");
        for topic in [
            r#"onStatusUpdate({"userId":"u1"})"#,
            r#"onStatusUpdate({})"#,
            "onAnything",
            r#"events({"channel":"/default/a}b{"})"#,
        ] {
            let stream = keys.stream(topic);
            let meta = keys.meta(topic);
            let tag = redis_hash_tag(&stream);
            assert_eq!(tag.len(), 16, "{stream}");
            assert_eq!(redis_hash_tag(&meta), tag, "{meta}");
            assert_eq!(redis_hash_tag(&keys.idempotency("k", Some(topic))), tag);
            assert_eq!(keys.topic(&stream), Some(topic));
            assert_eq!(keys.stream_and_meta(topic), (stream.clone(), meta.clone()));
        }
        let (a, b) = (
            keys.stream("onA({\"u\":\"1\"})"),
            keys.stream("onA({\"u\":\"2\"})"),
        );
        assert_ne!(
            redis_hash_tag(&a),
            redis_hash_tag(&b),
            "topics spread over slots"
        );
        assert_eq!(keys.topic("sb:ctl:node-1"), None);
        assert_eq!(keys.topic("sb:t:untagged"), None);
    }

    #[test]
    fn tags_are_stable() {
        // Keys outlive processes: the tag of a topic never changes.
        assert_eq!(tag(""), "{cbf29ce484222325}");
        assert_eq!(tag("a"), "{af63dc4c8601ec8c}");
    }
}

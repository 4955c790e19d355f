//! The bus of a cluster: events travel between nodes over Redis.
//!
//! **Channels are topics.** A subscription's topic key (`onStatusUpdate(userId:"u1")`) names a
//! Redis channel, `<prefix>:t:<topic key>`, and a node subscribes to a channel only while it holds
//! a subscriber of that topic, so it receives only events somebody on it wants. A publish goes to
//! every topic the [`TopicPlan`] names for it.
//!
//! **One atomic write per publish.** One Lua script, per topic: takes the next offset from the
//! topic's meta hash (`<prefix>:tm:<topic>`: epoch `e`, newest offset `s`, bytes kept `b`),
//! appends the event to the topic's stream (`<prefix>:t:<topic>`, the channel's name, entry id
//! `<offset>-0`), trims the stream to its count and bytes, and publishes
//! `<offset> <epoch> <event>` on the channel. Redis runs scripts one at a time, so a topic's
//! offsets are published in order; the publish is acknowledged only when the script returned.
//! A topic whose meta is gone (first use, expiry, a flush) starts again at offset 1 with a new
//! epoch. So does a topic last written under another **replication history** (meta field `h`,
//! the server's `master_replid`): a replica promoted by a failover (Sentinel's or a cluster's),
//! or a server restarted from its files, may lack the last writes nodes already delivered, and
//! its next offsets would repeat theirs. That new epoch keeps the stream and records where it
//! forked (`f`, the newest offset kept) and from which epoch (`p`): entries up to it are the
//! same in both, so a node catches up from there and a client resumes from a position up to it,
//! and the offsets after it start over under the new name. The same streams serve
//! `statusHistory`, resume and replay (one read script).
//!
//! **Nothing lost.** Pub/sub drops what a disconnected node misses, so when the link comes back
//! (redis-rs reconnects and resubscribes by itself) or an offset skips, the node reads the topic's
//! stream from the last offset it delivered: the catch-up. Offsets also tell a live copy from a
//! caught-up one, so nothing is delivered twice. See [`receiver`] for that side.

mod keys;
mod membership;
mod receiver;
mod scripts;

pub use keys::TopicKeys;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use redis::{AsyncCommands, Script};
use serde_json::Value as Json;
use tokio::sync::{Notify, OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use redis::streams::StreamRangeReply;

use super::bus::{Bus, BusError, BusStats, Idempotency};
use super::index::SubscriptionIndex;
use super::invalidation::Invalidations;
use super::topics::TopicPlan;
use crate::connections::Connections;
use crate::publication::Publication;
use crate::redis_link::{PushConnection, RedisLink, RedisLinkError};

use crate::stream::{Entry, Position, ReadFrom, StreamLimits, StreamRead, new_epoch};

/// How often Redis's clock is measured again (see [`crate::redis_link::RedisClock`]).
const CLOCK_EVERY: Duration = Duration::from_secs(10);

/// What this node knows of one topic it listens to.
struct Topic {
    /// Subscribers of the topic on this node; at zero the sweeper unsubscribes.
    listeners: usize,
    /// Resolved once the topic's position is read (the SUBSCRIBE follows); shared by
    /// concurrent first subscribers.
    ready: Arc<OnceCell<()>>,
    /// The newest position delivered here: older or equal offsets of its epoch are duplicates,
    /// a skipped offset is a gap, and catch-up reads from it.
    delivered: Option<Position>,
    /// The stream's position when this node began listening: catch-up never reads before it,
    /// so a subscriber never receives what was published before it subscribed.
    floor: Option<Position>,
    /// Events may have been missed (the link dropped or the inbox overflowed): read the stream
    /// before delivering anything newer.
    gap: bool,
}

/// State shared by the bus, its receiver task and its sweeper.
struct Shared {
    link: RedisLink,
    /// The pub/sub connection; redis-rs re-issues its subscriptions after a reconnect.
    pushes: PushConnection,
    index: Arc<SubscriptionIndex>,
    connections: Arc<Connections>,
    invalidations: Arc<Invalidations>,
    /// Never held across an `.await`.
    topics: Mutex<HashMap<String, Topic>>,
    /// Held around every SUBSCRIBE and UNSUBSCRIBE so they reach Redis in the order this node
    /// decided them (an UNSUBSCRIBE overtaking a later SUBSCRIBE would silence a live topic).
    membership: tokio::sync::Mutex<()>,
    /// Woken when a topic lost its last listener.
    sweep: Notify,
    /// Woken when the link is back, to catch up topics marked with a gap.
    link_back: Notify,
    /// Channels to subscribe to (a new topic's, or again after a shard dropped it), by
    /// channel, with their topic (none for the control channel); worked through in batches by
    /// one task (`membership::relisten`), woken by `relisten_wake`. A set, so a channel asked for
    /// twice is subscribed once.
    relisten: Mutex<HashMap<String, Option<String>>>,
    relisten_wake: Notify,
    /// Set by the push sender when it had to drop a message (inbox full).
    overflowed: Arc<AtomicBool>,
    stats: Arc<BusStats>,
    read: Script,
    /// A topic's lifetime after its last publish or read, and the age past which entries are
    /// not returned.
    lifetime: Duration,
    /// The names of topics' streams, channels and meta hashes.
    keys: TopicKeys,
    /// This node's control channel (admin commands).
    control: String,
    /// Every node's invalidation channel: `{"field", "payload"}` messages.
    invalidation: String,
}

impl Shared {
    fn topics(&self) -> MutexGuard<'_, HashMap<String, Topic>> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn channel(&self, topic: &str) -> String {
        self.keys.stream(topic)
    }

    /// A topic's stream and meta hash, the keys its scripts touch.
    fn script_keys(&self, topic: &str) -> (String, String) {
        self.keys.stream_and_meta(topic)
    }

    /// Reads `topic`'s stream (see [`scripts::READ`]).
    async fn read(&self, topic: &str, from: ReadFrom, max: usize) -> Result<StreamRead, BusError> {
        let (mode, arg) = match from {
            ReadFrom::After(offset) => ("after", offset),
            ReadFrom::Last(n) => ("last", n.min(max) as u64),
            ReadFrom::Since(_) => ("last", max as u64),
            ReadFrom::Nothing => ("none", 0),
        };
        let (stream, meta) = self.script_keys(topic);
        let mut invocation = self.read.prepare_invoke();
        invocation
            .key(stream)
            .key(meta)
            .arg(&*new_epoch())
            .arg(self.lifetime.as_millis() as u64)
            .arg(mode)
            .arg(arg)
            .arg(max);
        let mut commands = self.link.commands.clone();
        type Reply = (String, u64, StreamRangeReply, u64, Option<String>);
        let (epoch, top, reply, fork, previous): Reply = invocation
            .invoke_async(&mut commands)
            .await
            .map_err(unavailable)?;
        let mut entries: Vec<Entry> = reply
            .ids
            .iter()
            .filter_map(|entry| {
                let offset = parse_offset(&entry.id)?;
                let event = Publication::from_json(&entry.get::<String>("e")?)?;
                Some(Entry {
                    offset,
                    event: Arc::new(event),
                })
            })
            .collect();
        entries.sort_unstable_by_key(|e| e.offset);
        let read = StreamRead {
            epoch: Arc::from(epoch),
            top,
            fork,
            previous: previous.map(Arc::from),
            entries,
        };
        Ok(read.expire(self.lifetime).select(from, max))
    }
}

/// The offset of a stream entry id, `<offset>-0`.
pub(crate) fn parse_offset(id: &str) -> Option<u64> {
    id.strip_suffix("-0")?.parse().ok()
}

/// The Redis bus of one node.
pub struct RedisBus {
    shared: Arc<Shared>,
    publish: Script,
    topics: Arc<TopicPlan>,
    node_id: String,
    limits: StreamLimits,
    idempotency: Idempotency,
}

/// How the Redis bus is set up.
pub struct RedisBusSettings {
    pub node_id: String,
    /// What each topic's stream keeps (`max_age` is also its lifetime after its last publish;
    /// `total_bytes` and `max_topics` are memory's and not used here).
    pub limits: StreamLimits,
    /// Messages from Redis that may wait for the receiver task.
    pub inbox: usize,
    /// How long idempotency keys are kept (`max_keys` is memory's; Redis expires them).
    pub idempotency: Idempotency,
}

impl RedisBus {
    /// Connects the pub/sub side, subscribes to this node's control channel and starts the
    /// receiver and sweeper tasks, which end with `shutdown`.
    pub async fn start(
        link: RedisLink,
        topics: Arc<TopicPlan>,
        index: Arc<SubscriptionIndex>,
        connections: Arc<Connections>,
        invalidations: Arc<Invalidations>,
        settings: RedisBusSettings,
        shutdown: CancellationToken,
    ) -> Result<Self, RedisLinkError> {
        let stats = Arc::new(BusStats::default());
        let overflowed = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(settings.inbox.max(16));
        let push = {
            let stats = stats.clone();
            let overflowed = overflowed.clone();
            move |info: redis::PushInfo| -> Result<(), ()> {
                match tx.try_send(info) {
                    Ok(()) => Ok(()),
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        // Counted, and recovered from the streams by the receiver.
                        stats.inbox_overflows.fetch_add(1, Ordering::Relaxed);
                        overflowed.store(true, Ordering::SeqCst);
                        Ok(())
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
                }
            }
        };
        let subscriber = link.subscriber(push).await?;
        let control = link.key("ctl", &settings.node_id);
        subscriber.listen(std::slice::from_ref(&control)).await?;
        let invalidation = link.key("inv", "all");
        subscriber.broadcast(&invalidation).await?;
        let shared = Arc::new(Shared {
            keys: TopicKeys::new(link.prefix()),
            link,
            pushes: subscriber,
            index,
            connections,
            invalidations,
            topics: Mutex::new(HashMap::new()),
            membership: tokio::sync::Mutex::new(()),
            sweep: Notify::new(),
            link_back: Notify::new(),
            relisten: Mutex::new(HashMap::new()),
            relisten_wake: Notify::new(),
            overflowed,
            stats,
            read: Script::new(scripts::READ),
            lifetime: settings.limits.max_age,
            control,
            invalidation,
        });
        tokio::spawn(receiver::run(shared.clone(), rx, shutdown.clone()));
        tokio::spawn(membership::relisten(shared.clone(), shutdown.clone()));
        tokio::spawn(sweep(shared.clone(), shutdown.clone()));
        tokio::spawn(shared.link.clone().follow_clock(CLOCK_EVERY, shutdown));
        Ok(Self {
            shared,
            publish: Script::new(scripts::PUBLISH),
            topics,
            node_id: settings.node_id,
            limits: settings.limits,
            idempotency: settings.idempotency,
        })
    }

    /// Notes where `topic`'s stream stands and asks for its channel's SUBSCRIBE, without
    /// waiting for it. The topic is marked with a gap at that position, so Redis's confirmation
    /// catches it up from there (`receiver`): what is published from now until the confirmation,
    /// which under load takes a while, is delivered from the stream. So the subscription is
    /// live from here, one read after its subscribe message was received, and SUBSCRIBEs go out
    /// in batches (`membership::relisten`), retried until Redis takes them.
    async fn subscribe(&self, topic: &str) -> Result<(), BusError> {
        let shared = &self.shared;
        let now = shared.read(topic, ReadFrom::Nothing, 0).await?;
        if let Some(state) = shared.topics().get_mut(topic) {
            state.floor = Some(Position {
                epoch: now.epoch,
                offset: now.top,
            });
            state.gap = true;
        }
        membership::ask_relisten(shared, [(shared.channel(topic), Some(topic.to_owned()))]);
        Ok(())
    }
}

impl RedisBus {
    /// On a cluster, the event an earlier attempt published under `key` to any of `topics`
    /// (each keeps its own copy of the key, in its slot), read from all at once, and how long
    /// that copy has left (ms): new copies expire with it, so that no retry finds one topic's
    /// copy gone and another's still there. A copy that cannot be read fails the publish before
    /// anything is written: a shard that is down would refuse its topic anyway, and guessing
    /// could send two topics two different events.
    async fn first_event(
        &self,
        topics: &[String],
        key: &str,
    ) -> Result<Option<(Arc<Publication>, u64)>, BusError> {
        let keys = &self.shared.keys;
        let copies = futures_util::future::try_join_all(topics.iter().map(|topic| {
            let mut commands = self.shared.link.commands.clone();
            let copy = keys.idempotency(key, Some(topic));
            async move {
                redis::pipe()
                    .get(&copy)
                    .pttl(&copy)
                    .query_async::<(Option<String>, i64)>(&mut commands)
                    .await
            }
        }))
        .await
        .map_err(unavailable)?;
        Ok(copies.into_iter().find_map(|(json, left)| {
            let event = Publication::from_json(&json?)?;
            Some((
                Arc::new(event),
                u64::try_from(left).ok().filter(|&ms| ms > 0)?,
            ))
        }))
    }

    /// Runs [`scripts::PUBLISH`] for `topics` (all in one slot on a cluster), with the
    /// idempotency key and how long to keep it (ms) if given; returns the event first published
    /// under that key when this is a repeat.
    async fn run_publish(
        &self,
        event: &Publication,
        topics: &[String],
        idempotency: Option<(&str, u64)>,
        deadline_us: u64,
    ) -> Result<Option<Arc<Publication>>, BusError> {
        let shared = &self.shared;
        let cluster = shared.link.is_cluster();
        let mut invocation = self.publish.prepare_invoke();
        for topic in topics {
            let (stream, meta) = shared.script_keys(topic);
            invocation.key(stream).key(meta);
        }
        if let Some((key, _)) = idempotency {
            // On a cluster the key lives in its topic's slot, so the check and the publish stay
            // one script.
            let slot = topics.first().filter(|_| cluster).map(String::as_str);
            invocation.key(shared.keys.idempotency(key, slot));
        }
        let remember = idempotency.map_or(0, |(_, ttl)| ttl);
        invocation
            .arg(event.to_json())
            .arg(self.limits.per_topic)
            .arg(self.limits.topic_bytes)
            .arg(self.limits.max_age.as_millis() as u64)
            .arg(&*new_epoch())
            .arg(remember)
            .arg(if cluster { "SPUBLISH" } else { "PUBLISH" })
            .arg(deadline_us);
        let mut commands = shared.link.commands.clone();
        let answer: redis::Value = invocation
            .invoke_async(&mut commands)
            .await
            .map_err(publish_failure)?;
        if let redis::Value::Int(_) = answer {
            return Err(BusError::Unavailable(
                "Redis ran the publish after its deadline, so it published nothing".to_owned(),
            ));
        }
        let first: Option<String> = redis::FromRedisValue::from_redis_value(answer)
            .map_err(|e| BusError::OutcomeUnknown(format!("Redis's answer did not parse: {e}")))?;
        Ok(first
            .as_deref()
            .and_then(Publication::from_json)
            .map(Arc::new))
    }

    /// [`Bus::publish`] within a deadline the scripts check against Redis's clock.
    async fn publish_by(
        &self,
        event: Arc<Publication>,
        idempotency: Option<&str>,
        deadline_us: u64,
    ) -> Result<Arc<Publication>, BusError> {
        let topics = self.topics.topics(&event);
        if topics.is_empty() && idempotency.is_none() {
            return Ok(event);
        }
        // One script for every topic on one server. On a cluster a script's keys must share a
        // slot, so one script per topic, all at once, each with its own copy of the idempotency
        // key (in its topic's slot): a retry after a partial failure publishes to exactly the
        // topics that missed it and answers with the first event. Answered when all succeeded.
        let split = self.shared.link.is_cluster() && topics.len() > 1;
        let groups: Vec<&[String]> = if split {
            topics.chunks(1).collect()
        } else {
            vec![&topics[..]]
        };
        // A retry sends the topics that missed the first attempt its event, not a second one
        // with another id and time, and keeps their copies of the key as long as the first.
        let ttl = self.idempotency.ttl.as_millis() as u64;
        let (event, key) = match idempotency {
            Some(key) if split => match self.first_event(&topics, key).await? {
                Some((first, left)) => (first, Some((key, left))),
                None => (event, Some((key, ttl))),
            },
            Some(key) => (event, Some((key, ttl))),
            None => (event, None),
        };
        // Every script runs to its end even when one fails, so each topic either has the
        // event or not, and a retry completes exactly the rest.
        let answers = futures_util::future::join_all(
            groups
                .iter()
                .map(|topics| self.run_publish(&event, topics, key, deadline_us)),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        Ok(answers.into_iter().flatten().next().unwrap_or(event))
    }
}

#[async_trait]
impl Bus for RedisBus {
    /// Answered within `--redis-timeout`, truthfully: a publish not answered by then is past
    /// its scripts' deadline, so Redis, should it run them later, publishes nothing.
    async fn publish(
        &self,
        event: Arc<Publication>,
        idempotency: Option<&str>,
    ) -> Result<Arc<Publication>, BusError> {
        let timeout = self.shared.link.timeout();
        let deadline_us = self.shared.link.clock().deadline_us(timeout);
        tokio::time::timeout(timeout, self.publish_by(event, idempotency, deadline_us))
            .await
            .unwrap_or_else(|_| {
                Err(BusError::Unavailable(format!(
                    "Redis did not answer within {timeout:?}"
                )))
            })
    }

    async fn read(&self, topic: &str, from: ReadFrom, max: usize) -> Result<StreamRead, BusError> {
        self.shared.read(topic, from, max).await
    }

    async fn listen(&self, topic: &str) -> Result<(), BusError> {
        let ready = {
            let mut topics = self.shared.topics();
            let state = topics.entry(topic.to_owned()).or_insert_with(|| Topic {
                listeners: 0,
                ready: Arc::new(OnceCell::new()),
                delivered: None,
                floor: None,
                gap: false,
            });
            state.listeners += 1;
            state.ready.clone()
        };
        match ready.get_or_try_init(|| self.subscribe(topic)).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.forget(topic);
                Err(error)
            }
        }
    }

    fn forget(&self, topic: &str) {
        let idle = match self.shared.topics().get_mut(topic) {
            Some(state) => {
                state.listeners = state.listeners.saturating_sub(1);
                state.listeners == 0
            }
            None => false,
        };
        if idle {
            self.shared.sweep.notify_one();
        }
    }

    async fn invalidate(&self, field: &str, payload: &Json) -> Result<(), BusError> {
        let message = serde_json::json!({"field": field, "payload": payload}).to_string();
        let mut commands = self.shared.link.commands.clone();
        let _: i64 = commands
            .publish(&self.shared.invalidation, message)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn kick(&self, node: &str, connection: &str) -> Result<bool, BusError> {
        if node == self.node_id {
            return Ok(self.shared.connections.kick(connection));
        }
        let receivers = self
            .shared
            .link
            .publish(
                &self.shared.link.key("ctl", node),
                &format!("kick {connection}"),
            )
            .await
            .map_err(unavailable)?;
        Ok(receivers > 0)
    }

    fn stats(&self) -> &BusStats {
        &self.shared.stats
    }
}

/// Unsubscribes from topics that lost their last listener, a moment after it left (so a
/// subscriber that comes straight back does not cost two round trips).
async fn sweep(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.sweep.notified() => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _order = shared.membership.lock().await;
        let idle: Vec<String> = {
            let mut topics = shared.topics();
            let idle: Vec<String> = topics
                .iter()
                .filter(|(_, state)| state.listeners == 0)
                .map(|(topic, _)| topic.clone())
                .collect();
            for topic in &idle {
                topics.remove(topic);
            }
            idle
        };
        if idle.is_empty() {
            continue;
        }
        let channels: Vec<String> = idle.iter().map(|t| shared.channel(t)).collect();
        if let Err(error) = shared.pushes.forget(&channels).await {
            // The channels stay subscribed; their events are counted as unwanted and dropped.
            tracing::warn!(%error, count = channels.len(), "unsubscribing from idle topics failed");
        }
    }
}

fn unavailable(error: redis::RedisError) -> BusError {
    BusError::Unavailable(error.to_string())
}

/// What a failed publish script says of its outcome. A timeout is past the script's deadline,
/// a refused connection sent nothing and an error reply ran nothing: not published. A link lost
/// with the command on it leaves Redis's answer unknown.
fn publish_failure(error: redis::RedisError) -> BusError {
    if error.is_io_error() && !error.is_timeout() && !error.is_connection_refusal() {
        BusError::OutcomeUnknown(error.to_string())
    } else {
        unavailable(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_link_lost_mid_publish_leaves_the_outcome_unknown() {
        use std::io::{Error, ErrorKind};
        let failure = |kind| publish_failure(redis::RedisError::from(Error::new(kind, "x")));
        assert!(matches!(
            failure(ErrorKind::TimedOut),
            BusError::Unavailable(_)
        ));
        assert!(matches!(
            failure(ErrorKind::ConnectionRefused),
            BusError::Unavailable(_)
        ));
        assert!(matches!(
            failure(ErrorKind::ConnectionReset),
            BusError::OutcomeUnknown(_)
        ));
        assert!(matches!(
            failure(ErrorKind::BrokenPipe),
            BusError::OutcomeUnknown(_)
        ));
    }

    #[test]
    fn offsets_are_read_from_entry_ids() {
        assert_eq!(parse_offset("41-0"), Some(41));
        assert_eq!(parse_offset("1700000000000-3"), None);
        assert_eq!(parse_offset("nonsense"), None);
    }
}

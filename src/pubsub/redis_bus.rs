//! The bus of a cluster: events travel between nodes over Redis.
//!
//! **Channels are topics.** A subscription's topic key (`onStatusUpdate(userId:"u1")`) names a
//! Redis channel, `<prefix>:t:<topic key>`, and a node subscribes to a channel only while it holds
//! a subscriber of that topic, so it receives only events somebody on it wants. A publish sends
//! the event to every channel it can match: for each subscription field the mutation fires, one
//! per subset of that field's arguments (two for `onStatusUpdate(userId)`). Each subscriber sits
//! under exactly one topic, so it gets each event once.
//!
//! **Nothing lost.** One Lua script appends the event to a capped stream per channel (same name)
//! and publishes `<stream id> <event>` on the channel, atomically; the publish is acknowledged
//! only when the script returned. Pub/sub drops what a disconnected node misses, so when the
//! link comes back (redis-rs reconnects and resubscribes by itself) the node reads each topic's
//! stream from the last id it delivered: the catch-up. Ids also tell a live copy from a
//! caught-up one, so nothing is delivered twice. See [`inbox`] for that side.

mod inbox;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use tokio::sync::{Notify, OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use super::bus::{Bus, BusError, BusStats, Routes};
use super::index::SubscriptionIndex;
use super::topic::topic_key;
use crate::connections::Connections;
use crate::event::Event;
use crate::redis_link::{RedisLink, RedisLinkError};
use crate::schema::SchemaModel;

/// Appends the event to each topic's stream and publishes it with its stream id.
/// KEYS: the topics' channels (= stream keys); ARGV: event, stream length, stream ttl (ms).
const PUBLISH: &str = r"
for _, key in ipairs(KEYS) do
  local id = redis.call('XADD', key, 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
  redis.call('PEXPIRE', key, ARGV[3])
  redis.call('PUBLISH', key, id .. ' ' .. ARGV[1])
end
return #KEYS
";

/// Fields with more arguments than this would need too many channels per publish (2^n).
const MAX_FILTER_ARGS: usize = 8;

/// A stream entry id, `<ms>-<seq>`, ordered as Redis orders them.
pub(crate) type StreamId = (u64, u64);

pub(crate) fn parse_stream_id(text: &str) -> Option<StreamId> {
    let (ms, seq) = text.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// What this node knows of one topic it listens to.
struct Topic {
    /// Subscribers of the topic on this node; at zero the sweeper unsubscribes.
    listeners: usize,
    /// Resolved once Redis confirmed the SUBSCRIBE; shared by concurrent first subscribers.
    ready: Arc<OnceCell<()>>,
    /// Newest stream id delivered here: older or equal ids are duplicates, and catch-up reads
    /// from it.
    delivered: Option<StreamId>,
    /// The stream's newest id when this node began listening: catch-up never reads before it,
    /// so a subscriber never receives what was published before it subscribed.
    floor: Option<StreamId>,
    /// Events may have been missed (the link dropped or the inbox overflowed): read the stream
    /// before delivering anything newer.
    gap: bool,
}

/// State shared by the bus, its inbox task and its sweeper.
struct Shared {
    link: RedisLink,
    /// The pub/sub connection; redis-rs re-issues its SUBSCRIBEs after a reconnect.
    subscriber: ConnectionManager,
    index: Arc<SubscriptionIndex>,
    connections: Arc<Connections>,
    /// Never held across an `.await`.
    topics: Mutex<HashMap<String, Topic>>,
    /// Held around every SUBSCRIBE and UNSUBSCRIBE so they reach Redis in the order this node
    /// decided them (an UNSUBSCRIBE overtaking a later SUBSCRIBE would silence a live topic).
    membership: tokio::sync::Mutex<()>,
    /// Woken when a topic lost its last listener.
    sweep: Notify,
    /// Woken when the link is back, to catch up topics marked with a gap.
    link_back: Notify,
    /// Set by the push sender when it had to drop a message (inbox full).
    overflowed: Arc<AtomicBool>,
    stats: Arc<BusStats>,
    catchup_len: usize,
    /// `<prefix>:t:`, the start of every topic channel.
    topic_prefix: String,
    /// This node's control channel (admin commands).
    control: String,
}

impl Shared {
    fn topics(&self) -> MutexGuard<'_, HashMap<String, Topic>> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.topic_prefix)
    }
}

/// The Redis bus of one node.
pub struct RedisBus {
    shared: Arc<Shared>,
    publish: Script,
    /// Subscription field -> its argument names, to name every channel an event can match.
    fields: HashMap<Arc<str>, Vec<String>>,
    routes: Arc<Routes>,
    node_id: String,
    catchup_ttl: Duration,
}

/// How the Redis bus is set up.
pub struct RedisBusSettings {
    pub node_id: String,
    /// Events kept per topic stream for catch-up.
    pub catchup_len: usize,
    /// How long a topic stream outlives its last publish.
    pub catchup_ttl: Duration,
    /// Messages from Redis that may wait for the inbox task.
    pub inbox: usize,
}

impl RedisBus {
    /// Connects the pub/sub side, subscribes to this node's control channel and starts the
    /// inbox and sweeper tasks, which end with `shutdown`.
    pub async fn start(
        link: RedisLink,
        model: &SchemaModel,
        index: Arc<SubscriptionIndex>,
        connections: Arc<Connections>,
        settings: RedisBusSettings,
        shutdown: CancellationToken,
    ) -> Result<Self, RedisLinkError> {
        let mut fields = HashMap::new();
        for (name, plan) in &model.subscriptions {
            let args: Vec<String> = plan.args.iter().map(|a| a.name.clone()).collect();
            if args.len() > MAX_FILTER_ARGS {
                return Err(RedisLinkError::Unroutable(format!(
                    "subscription field {name} has {} arguments; the Redis bus routes at most {MAX_FILTER_ARGS} per field",
                    args.len()
                )));
            }
            fields.insert(Arc::from(name.as_str()), args);
        }
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
                        // Counted, and recovered from the streams by the inbox.
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
        subscriber.clone().subscribe(&control).await?;
        let shared = Arc::new(Shared {
            topic_prefix: link.key("t", ""),
            link,
            subscriber,
            index,
            connections,
            topics: Mutex::new(HashMap::new()),
            membership: tokio::sync::Mutex::new(()),
            sweep: Notify::new(),
            link_back: Notify::new(),
            overflowed,
            stats,
            catchup_len: settings.catchup_len.max(1),
            control,
        });
        tokio::spawn(inbox::run(shared.clone(), rx, shutdown.clone()));
        tokio::spawn(sweep(shared.clone(), shutdown));
        Ok(Self {
            shared,
            publish: Script::new(PUBLISH),
            fields,
            routes: Arc::new(model.routes.clone()),
            node_id: settings.node_id,
            catchup_ttl: settings.catchup_ttl,
        })
    }

    /// Every channel `event` can match: per field it fires, one per subset of the field's
    /// arguments, with the values the event's top-level fields give them.
    fn channels(&self, event: &Event) -> Vec<String> {
        let mut channels = Vec::new();
        for field in self.routes.get(&event.mutation).into_iter().flatten() {
            let Some(args) = self.fields.get(field) else {
                continue;
            };
            for subset in 0u32..(1 << args.len()) {
                let chosen = args
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| subset & (1 << i) != 0)
                    .map(|(_, name)| (name.as_str(), event.field(name)));
                channels.push(self.shared.channel(&topic_key(field, chosen)));
            }
        }
        channels
    }

    /// Subscribes to `topic`'s channel and notes where its stream stands.
    async fn subscribe(&self, topic: &str) -> Result<(), BusError> {
        let shared = &self.shared;
        let channel = shared.channel(topic);
        {
            let _order = shared.membership.lock().await;
            shared
                .subscriber
                .clone()
                .subscribe(&channel)
                .await
                .map_err(unavailable)?;
        }
        let mut commands = shared.link.commands.clone();
        let newest: redis::streams::StreamRangeReply = commands
            .xrevrange_count(&channel, "+", "-", 1)
            .await
            .map_err(unavailable)?;
        let floor = newest
            .ids
            .first()
            .and_then(|entry| parse_stream_id(&entry.id))
            .unwrap_or((0, 0));
        if let Some(state) = shared.topics().get_mut(topic) {
            state.floor = Some(floor);
        }
        Ok(())
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, event: Arc<Event>) -> Result<(), BusError> {
        let channels = self.channels(&event);
        if channels.is_empty() {
            return Ok(());
        }
        let mut invocation = self.publish.prepare_invoke();
        for channel in &channels {
            invocation.key(channel);
        }
        invocation
            .arg(event.to_json())
            .arg(self.shared.catchup_len)
            .arg(self.catchup_ttl.as_millis() as u64);
        let mut commands = self.shared.link.commands.clone();
        invocation
            .invoke_async::<i64>(&mut commands)
            .await
            .map(drop)
            .map_err(unavailable)
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

    async fn kick(&self, node: &str, connection: &str) -> Result<bool, BusError> {
        if node == self.node_id {
            return Ok(self.shared.connections.kick(connection));
        }
        let mut commands = self.shared.link.commands.clone();
        let receivers: i64 = commands
            .publish(
                self.shared.link.key("ctl", node),
                format!("kick {connection}"),
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
        if let Err(error) = shared.subscriber.clone().unsubscribe(&channels).await {
            // The channels stay subscribed; their events are counted as unwanted and dropped.
            tracing::warn!(%error, count = channels.len(), "unsubscribing from idle topics failed");
        }
    }
}

fn unavailable(error: redis::RedisError) -> BusError {
    BusError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_numerically() {
        assert_eq!(
            parse_stream_id("1700000000000-3"),
            Some((1_700_000_000_000, 3))
        );
        assert!(parse_stream_id("9-0") < parse_stream_id("10-0"));
        assert!(parse_stream_id("10-2") < parse_stream_id("10-10"));
        assert_eq!(parse_stream_id("nonsense"), None);
        assert_eq!(parse_stream_id("1-x"), None);
    }
}

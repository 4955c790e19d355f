//! The receiving side of the Redis bus: one task per node reads what Redis pushes (events,
//! admin commands, subscription confirmations, disconnections) in order, and is the only writer
//! of each topic's delivered id, so order and de-duplication need no further locking.
//!
//! A disconnection marks every topic with a gap; when Redis confirms the re-subscription of a
//! topic (or the link is seen back), the task reads the topic's stream from the last offset it
//! delivered before handing on anything newer. An inbox overflow does the same for all topics,
//! and an event whose offset skips one does it for its topic.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::membership::ask_relisten;
use crate::publication::Publication;
use crate::stream::{Position, ReadFrom};

/// Entries read per catch-up round trip.
const CATCHUP_PAGE: usize = 500;

/// The most SUBSCRIBE confirmations caught up together.
const CATCHUP_BATCH: usize = 1_000;

/// How often a node whose link dropped pings Redis until it answers again.
pub(super) const PROBE_EVERY: Duration = Duration::from_millis(200);

pub(super) async fn run(
    shared: Arc<Shared>,
    mut pushes: mpsc::Receiver<PushInfo>,
    shutdown: CancellationToken,
) {
    let probing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.link_back.notified() => catch_up_all(&shared).await,
            push = pushes.recv() => match push {
                Some(push) => on_pushes(&shared, push, &mut pushes, &probing).await,
                None => return,
            },
        }
        if shared.overflowed.swap(false, Ordering::SeqCst) {
            tracing::warn!("the Redis inbox overflowed; catching every topic up from its stream");
            mark_all(&shared);
            catch_up_all(&shared).await;
        }
    }
}

/// Handles `push` and whatever else is already waiting. A run of SUBSCRIBE confirmations (one
/// batch's) is caught up at once, its reads pipelined; anything else is handled in order, after
/// the confirmations before it.
async fn on_pushes(
    shared: &Arc<Shared>,
    push: PushInfo,
    pushes: &mut mpsc::Receiver<PushInfo>,
    probing: &Arc<std::sync::atomic::AtomicBool>,
) {
    let mut confirmed = Vec::new();
    let mut next = Some(push);
    while let Some(push) = next.take() {
        match confirmed_topic(shared, &push) {
            Some(topic) => {
                confirmed.push(topic);
                if confirmed.len() < CATCHUP_BATCH {
                    next = pushes.try_recv().ok();
                }
            }
            None => {
                catch_up_many(shared, &std::mem::take(&mut confirmed)).await;
                on_push(shared, push, probing).await;
            }
        }
    }
    catch_up_many(shared, &confirmed).await;
}

/// The topic a SUBSCRIBE confirmation is for, when it is marked with a gap.
fn confirmed_topic(shared: &Shared, push: &PushInfo) -> Option<String> {
    if !matches!(push.kind, PushKind::Subscribe | PushKind::SSubscribe) {
        return None;
    }
    let channel = text(push.data.first())?;
    let topic = shared.keys.topic(&channel)?;
    has_gap(shared, topic).then(|| topic.to_owned())
}

async fn on_push(
    shared: &Arc<Shared>,
    push: PushInfo,
    probing: &Arc<std::sync::atomic::AtomicBool>,
) {
    match push.kind {
        // Ordinary messages (one server; broadcasts on a cluster) and sharded ones (a
        // cluster's topics and control channels) are handled alike.
        PushKind::Message | PushKind::SMessage => {
            let (Some(channel), Some(payload)) = (text(push.data.first()), text(push.data.get(1)))
            else {
                return;
            };
            if channel == shared.control {
                on_control(shared, &payload);
                return;
            }
            if channel == shared.invalidation {
                on_invalidation(shared, &payload);
                return;
            }
            let Some(topic) = shared.keys.topic(&channel) else {
                return;
            };
            let Some((position, event)) = parse_message(&payload) else {
                return;
            };
            if skips(shared, topic, &position) {
                mark(shared, topic);
            }
            if has_gap(shared, topic) {
                catch_up(shared, topic).await;
                if has_gap(shared, topic) {
                    // The read failed; its retry reads this event too, in order.
                    return;
                }
            }
            deliver(shared, topic, position, event);
        }
        // A shard drops its subscribers of a slot that moved to another shard (resharding):
        // subscribe again, at the slot's new owner, catching up from the stream meanwhile. An
        // unsubscription this node asked for names a topic it no longer keeps.
        PushKind::SUnsubscribe => {
            let Some(channel) = text(push.data.first()) else {
                return;
            };
            let wanted = match shared.keys.topic(&channel) {
                Some(topic) => shared
                    .topics()
                    .get(topic)
                    .is_some_and(|state| state.listeners > 0)
                    .then(|| Some(topic.to_owned())),
                None => (channel == shared.control).then_some(None),
            };
            if let Some(topic) = wanted {
                ask_relisten(shared, [(channel, topic)]);
            }
        }
        PushKind::Disconnection => {
            shared.stats.disconnections.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "the link to Redis dropped; events published meanwhile will be caught up"
            );
            mark_all(shared);
            if !probing.swap(true, Ordering::SeqCst) {
                tokio::spawn(probe(shared.clone(), probing.clone()));
            }
        }
        _ => {}
    }
}

/// Pings over the pub/sub connection until Redis answers (which also makes redis-rs reconnect
/// and re-subscribe if its own retries ran out), then wakes the receiver to catch up.
async fn probe(shared: Arc<Shared>, probing: Arc<std::sync::atomic::AtomicBool>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        if shared.pushes.ping().await.is_ok() {
            break;
        }
    }
    if shared.link.is_cluster() {
        let mut channels: Vec<(String, Option<String>)> = shared
            .topics()
            .iter()
            .filter(|(_, state)| state.listeners > 0)
            .map(|(topic, _)| (shared.channel(topic), Some(topic.clone())))
            .collect();
        channels.push((shared.control.clone(), None));
        ask_relisten(&shared, channels);
    }
    probing.store(false, Ordering::SeqCst);
    tracing::info!("the link to Redis is back");
    shared.link_back.notify_one();
}

/// An invalidation from any node: `{"field", "payload"}`.
fn on_invalidation(shared: &Shared, message: &str) {
    let Ok(message) = serde_json::from_str::<serde_json::Value>(message) else {
        tracing::warn!("unreadable invalidation on the bus");
        return;
    };
    let (Some(field), Ok(payload)) = (
        message["field"].as_str(),
        async_graphql::Value::from_json(message["payload"].clone()),
    ) else {
        tracing::warn!("unreadable invalidation on the bus");
        return;
    };
    let ended = shared.invalidations.invalidate(field, &payload);
    tracing::debug!(field, ended, "invalidation");
}

fn on_control(shared: &Shared, command: &str) {
    match command.split_once(' ') {
        Some(("kick", connection)) => {
            let found = shared.connections.kick(connection);
            tracing::info!(connection, found, "admin closed a connection");
        }
        _ => tracing::warn!(command, "unknown control command on the bus"),
    }
}

/// `<offset> <epoch> <event>`, as the publish script sends it.
fn parse_message(payload: &str) -> Option<(Position, &str)> {
    let (offset, rest) = payload.split_once(' ')?;
    let (epoch, event) = rest.split_once(' ')?;
    let position = Position {
        epoch: Arc::from(epoch),
        offset: offset.parse().ok()?,
    };
    Some((position, event))
}

/// Whether events this node has not seen may come before `position`: it skips an offset of
/// the epoch this node is in, or is of another epoch (a new one, which may have forked from the
/// old before what was delivered here, or begun empty; or a late one of an epoch this node
/// left). The catch-up reads the stream to know, and is the only one to change epochs.
fn skips(shared: &Shared, topic: &str, position: &Position) -> bool {
    shared.topics().get(topic).is_some_and(|state| {
        match state.delivered.as_ref().or(state.floor.as_ref()) {
            Some(known) if known.epoch == position.epoch => state
                .delivered
                .as_ref()
                .is_some_and(|done| position.offset > done.offset + 1),
            Some(_) => true,
            None => false,
        }
    })
}

/// Whether an event at `position` is new to this node's subscribers of `topic`: newer than
/// what they already got, and somebody here still listens. Only a caught-up event (read from the
/// stream, so of its current epoch) may move the topic to another epoch; a live one of another
/// epoch is stale by then (the catch-up it caused read past it). An accepted position becomes
/// the delivered one.
fn accept(shared: &Shared, topic: &str, position: &Position, caught_up: bool) -> bool {
    let mut topics = shared.topics();
    match topics.get_mut(topic) {
        Some(state) if state.listeners > 0 => {
            // Only what was delivered counts: an event published after this node subscribed
            // but before it read the floor is new to its subscribers.
            let known = state.delivered.as_ref().or(state.floor.as_ref());
            let elsewhere = known.is_some_and(|k| k.epoch != position.epoch) && !caught_up;
            let seen = state
                .delivered
                .as_ref()
                .is_some_and(|s| s.epoch == position.epoch && position.offset <= s.offset);
            if seen || elsewhere {
                shared.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                false
            } else {
                state.delivered = Some(position.clone());
                true
            }
        }
        _ => {
            shared.stats.unwanted.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

/// Hands a live event (its JSON as published) to this node's subscribers of `topic`, if new.
fn deliver(shared: &Shared, topic: &str, position: Position, json: &str) {
    if !accept(shared, topic, &position, false) {
        return;
    }
    let Some(event) = Publication::from_json(json) else {
        return;
    };
    shared.stats.received.fetch_add(1, Ordering::Relaxed);
    shared
        .index
        .dispatch_topic(topic, &Arc::new(event), &position);
}

/// Hands a caught-up event to this node's subscribers of `topic`, if new. Returns whether it was.
fn deliver_caught_up(
    shared: &Shared,
    topic: &str,
    position: Position,
    event: Arc<Publication>,
) -> bool {
    if !accept(shared, topic, &position, true) {
        return false;
    }
    shared.stats.caught_up.fetch_add(1, Ordering::Relaxed);
    shared.index.dispatch_topic(topic, &event, &position);
    true
}

pub(super) fn mark(shared: &Shared, topic: &str) {
    if let Some(state) = shared.topics().get_mut(topic) {
        state.gap = true;
    }
}

fn has_gap(shared: &Shared, topic: &str) -> bool {
    shared.topics().get(topic).is_some_and(|state| state.gap)
}

fn mark_all(shared: &Shared) {
    for state in shared.topics().values_mut() {
        state.gap = true;
    }
}

async fn catch_up_all(shared: &Arc<Shared>) {
    let topics: Vec<String> = shared
        .topics()
        .iter()
        .filter(|(_, state)| state.gap)
        .map(|(topic, _)| topic.clone())
        .collect();
    for topic in topics {
        catch_up(shared, &topic).await;
    }
}

/// Catches up `topics` (see [`catch_up`]) with their first reads all sent at once: a batch of
/// new topics' confirmations costs about one round trip. A topic with more than a page to read,
/// or a new epoch, goes on with [`catch_up`].
async fn catch_up_many(shared: &Arc<Shared>, topics: &[String]) {
    if topics.len() < 2 {
        for topic in topics {
            catch_up(shared, topic).await;
        }
        return;
    }
    let mut starts: Vec<(&String, Position)> = Vec::new();
    for topic in topics {
        let start = shared
            .topics()
            .get(topic)
            .filter(|state| state.gap)
            .map(|state| state.delivered.clone().or(state.floor.clone()));
        match start {
            Some(Some(cursor)) => starts.push((topic, cursor)),
            // Not listening long enough to know where the stream stood: nothing to catch up
            // (as in `catch_up`).
            Some(None) => clear_gap(shared, topic),
            None => {}
        }
    }
    let pages =
        futures_util::future::join_all(starts.iter().map(|(topic, cursor)| {
            shared.read(topic, ReadFrom::After(cursor.offset), CATCHUP_PAGE)
        }))
        .await;
    for ((topic, mut cursor), page) in starts.into_iter().zip(pages) {
        match page {
            Ok(page) if page.epoch == cursor.epoch && page.entries.len() < CATCHUP_PAGE => {
                for entry in page.entries {
                    cursor.offset = entry.offset;
                    deliver_caught_up(shared, topic, cursor.clone(), entry.event);
                }
                clear_gap(shared, topic);
            }
            _ => catch_up(shared, topic).await,
        }
    }
}

/// Reads `topic`'s stream after the last delivered offset (or the floor) and delivers what
/// this node missed, oldest first; a stream with a new epoch is read from its start. On failure
/// the gap stays and a retry is scheduled.
async fn catch_up(shared: &Arc<Shared>, topic: &str) {
    let start = match shared.topics().get(topic) {
        Some(state) if state.gap => state.delivered.clone().or(state.floor.clone()),
        _ => return,
    };
    let Some(mut cursor) = start else {
        // Not listening long enough to know where the stream stood: nothing to catch up.
        clear_gap(shared, topic);
        return;
    };
    let mut caught = 0;
    loop {
        let page = match shared
            .read(topic, ReadFrom::After(cursor.offset), CATCHUP_PAGE)
            .await
        {
            Ok(page) if page.epoch != cursor.epoch => {
                // A new epoch: what it kept up to its fork is what this node saw of the epoch it
                // forked from. Forked from another (two changes since), or begun again empty,
                // all of it is new here.
                let fork = if page.previous.as_deref() == Some(&*cursor.epoch) {
                    page.fork
                } else {
                    0
                };
                cursor = Position {
                    epoch: page.epoch,
                    offset: cursor.offset.min(fork),
                };
                continue;
            }
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, topic, "catch-up read failed; retrying");
                let shared = shared.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(PROBE_EVERY).await;
                    shared.link_back.notify_one();
                });
                return;
            }
        };
        let full = page.entries.len() == CATCHUP_PAGE;
        for entry in page.entries {
            cursor.offset = entry.offset;
            let position = cursor.clone();
            if deliver_caught_up(shared, topic, position, entry.event) {
                caught += 1;
            }
        }
        if !full {
            break;
        }
    }
    if caught > 0 {
        tracing::info!(
            topic,
            caught,
            "caught up events missed while the link was down"
        );
    }
    clear_gap(shared, topic);
}

fn clear_gap(shared: &Shared, topic: &str) {
    if let Some(state) = shared.topics().get_mut(topic) {
        state.gap = false;
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

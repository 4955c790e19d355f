//! The receiving side of the Redis bus: one task per node reads what Redis pushes (events,
//! admin commands, subscription confirmations, disconnections) in order, and is the only writer
//! of each topic's delivered id, so order and de-duplication need no further locking.
//!
//! A disconnection marks every topic with a gap; when Redis confirms the re-subscription of a
//! topic (or the link is seen back), the task reads the topic's stream from the last id it
//! delivered before handing on anything newer. An inbox overflow does the same for all topics.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::streams::StreamRangeReply;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Shared, StreamId, parse_stream_id};
use crate::event::Event;

/// Entries read per catch-up round trip.
const CATCHUP_PAGE: usize = 500;

/// How often a node whose link dropped pings Redis until it answers again.
const PROBE_EVERY: Duration = Duration::from_millis(200);

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
                Some(push) => on_push(&shared, push, &probing).await,
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

async fn on_push(
    shared: &Arc<Shared>,
    push: PushInfo,
    probing: &Arc<std::sync::atomic::AtomicBool>,
) {
    match push.kind {
        PushKind::Message => {
            let (Some(channel), Some(payload)) = (text(push.data.first()), text(push.data.get(1)))
            else {
                return;
            };
            if channel == shared.control {
                on_control(shared, &payload);
                return;
            }
            let Some(topic) = channel.strip_prefix(&shared.topic_prefix) else {
                return;
            };
            if has_gap(shared, topic) {
                catch_up(shared, topic).await;
            }
            let Some((id, event)) = payload.split_once(' ') else {
                return;
            };
            if let Some(id) = parse_stream_id(id) {
                deliver(shared, topic, id, event, false);
            }
        }
        PushKind::Subscribe => {
            if let Some(topic) = text(push.data.first())
                .as_deref()
                .and_then(|c| c.strip_prefix(&shared.topic_prefix))
                && has_gap(shared, topic)
            {
                catch_up(shared, topic).await;
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
/// and re-subscribe if its own retries ran out), then wakes the inbox to catch up.
async fn probe(shared: Arc<Shared>, probing: Arc<std::sync::atomic::AtomicBool>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let mut subscriber = shared.subscriber.clone();
        if redis::cmd("PING")
            .query_async::<Value>(&mut subscriber)
            .await
            .is_ok()
        {
            break;
        }
    }
    probing.store(false, Ordering::SeqCst);
    tracing::info!("the link to Redis is back");
    shared.link_back.notify_one();
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

/// Hands an event to this node's subscribers of `topic`, unless it is older than what they
/// already got or nobody here listens to the topic any more. Returns whether it was delivered.
fn deliver(shared: &Shared, topic: &str, id: StreamId, json: &str, caught_up: bool) -> bool {
    let fresh = {
        let mut topics = shared.topics();
        match topics.get_mut(topic) {
            Some(state) if state.listeners > 0 => {
                if state.delivered.is_some_and(|done| id <= done) {
                    shared.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    false
                } else {
                    state.delivered = Some(id);
                    true
                }
            }
            _ => {
                shared.stats.unwanted.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    };
    if !fresh {
        return false;
    }
    let Some(event) = Event::from_json(json) else {
        return false;
    };
    let counter = if caught_up {
        &shared.stats.caught_up
    } else {
        &shared.stats.received
    };
    counter.fetch_add(1, Ordering::Relaxed);
    shared.index.dispatch_topic(topic, &Arc::new(event));
    true
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

/// Reads `topic`'s stream after the last delivered id (or the floor) and delivers what this
/// node missed, oldest first. On failure the gap stays and a retry is scheduled.
async fn catch_up(shared: &Arc<Shared>, topic: &str) {
    let channel = shared.channel(topic);
    let start = match shared.topics().get(topic) {
        Some(state) if state.gap => state.delivered.or(state.floor),
        _ => return,
    };
    let Some(mut cursor) = start else {
        // Not listening long enough to know where the stream stood: nothing to catch up.
        clear_gap(shared, topic);
        return;
    };
    let mut caught = 0;
    loop {
        let mut commands = shared.link.commands.clone();
        let page: Result<StreamRangeReply, _> = redis::cmd("XRANGE")
            .arg(&channel)
            .arg(format!("({}-{}", cursor.0, cursor.1))
            .arg("+")
            .arg("COUNT")
            .arg(CATCHUP_PAGE)
            .query_async(&mut commands)
            .await;
        let page = match page {
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
        for entry in &page.ids {
            let Some(id) = parse_stream_id(&entry.id) else {
                continue;
            };
            cursor = id;
            if let Some(json) = entry.get::<String>("e")
                && deliver(shared, topic, id, &json, true)
            {
                caught += 1;
            }
        }
        if page.ids.len() < CATCHUP_PAGE {
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

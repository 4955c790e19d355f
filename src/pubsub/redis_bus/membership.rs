//! The SUBSCRIBEs of the Redis bus, in the order this node decides them: one task works
//! through the channels asked for, in batches, and retries what Redis refused. A new topic is
//! asked for here by `RedisBus::subscribe` (its subscribers are live before Redis confirms), and
//! on a cluster a topic whose sharded subscription a failover, a reconnect or a resharding
//! dropped (by the receiver).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Shared;
use super::receiver::{PROBE_EVERY, mark};

/// Asks [`relisten`] to subscribe to `channels` (each with its topic, none for the control
/// channel).
pub(super) fn ask_relisten(
    shared: &Shared,
    channels: impl IntoIterator<Item = (String, Option<String>)>,
) {
    shared
        .relisten
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(channels);
    shared.relisten_wake.notify_one();
}

/// The longest wait between two rounds of subscribing again to channels whose shard refused.
const RELISTEN_MAX_WAIT: Duration = Duration::from_secs(5);

/// The most channels one SUBSCRIBE names.
const SUBSCRIBE_BATCH: usize = 1_000;

/// Subscribes to the channels asked for, in batches, until Redis took each or its topic is no
/// longer wanted: a new topic's (its subscribers are already live, see `RedisBus::subscribe`),
/// and on a cluster one a failover, a reconnect or a resharding left behind (redis-rs
/// re-subscribes where it can; a subscription that is gone loses events silently, and
/// subscribing again where it held is harmless). Each topic is marked first, so Redis's
/// confirmation catches it up from its stream. Everything asked for while one batch is on its
/// way goes in the next, so 10,000 new topics cost a few round trips, not 10,000. One task,
/// waiting longer after each round Redis refused (up to [`RELISTEN_MAX_WAIT`]), until the node
/// shuts down.
pub(super) async fn relisten(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut wait = PROBE_EVERY;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.relisten_wake.notified() => {}
        }
        let channels: Vec<(String, Option<String>)> = shared
            .relisten
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        let mut refused = Vec::new();
        let mut error = None;
        for batch in channels.chunks(SUBSCRIBE_BATCH) {
            // In the order this node decides its subscriptions, and only while still wanted.
            let _order = shared.membership.lock().await;
            let wanted: Vec<&(String, Option<String>)> = batch
                .iter()
                .filter(|(_, topic)| match topic {
                    Some(topic) => shared.topics().get(topic).is_some_and(|s| s.listeners > 0),
                    None => true,
                })
                .collect();
            for topic in wanted.iter().filter_map(|(_, topic)| topic.as_deref()) {
                mark(&shared, topic);
            }
            let names: Vec<String> = wanted.iter().map(|(channel, _)| channel.clone()).collect();
            if names.is_empty() {
                continue;
            }
            if let Err(failed) = shared.pushes.listen(&names).await {
                refused.extend(wanted.into_iter().cloned());
                error = Some(failed);
            }
        }
        let Some(error) = error else {
            wait = PROBE_EVERY;
            continue;
        };
        tracing::warn!(
            count = refused.len(),
            %error,
            retry_in_ms = wait.as_millis() as u64,
            "subscribing to topics failed; retrying"
        );
        ask_relisten(&shared, refused);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(RELISTEN_MAX_WAIT);
    }
}

//! Invalidation: the subscriptions this node holds, by field, each with the filter an
//! invalidation's payload must pass to end it (AppSync's `setSubscriptionInvalidationFilter`).
//! An invalidation reaches every node through the bus; each ends its own matching subscriptions
//! by posting [`Mail::End`] to their connections, whose sessions tell the client `complete`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::Value;
use dashmap::DashMap;

use super::mailbox::{Mail, Mailbox, SubscriberId};
use crate::graphql::filter::Filter;

/// One subscription that an invalidation may end.
#[derive(Debug)]
struct Watcher {
    subscriber: SubscriberId,
    filter: Filter,
    mailbox: Arc<Mailbox>,
}

/// This node's invalidatable subscriptions, by subscription field.
#[derive(Debug, Default)]
pub struct Invalidations {
    fields: DashMap<Arc<str>, Vec<Watcher>>,
    /// Subscriptions ended by invalidations on this node.
    pub ended: AtomicU64,
}

impl Invalidations {
    /// Makes `subscriber` (of `field`) end when an invalidation's payload passes `filter`.
    pub fn watch(
        &self,
        field: &str,
        subscriber: SubscriberId,
        filter: Filter,
        mailbox: Arc<Mailbox>,
    ) {
        self.fields
            .entry(Arc::from(field))
            .or_default()
            .push(Watcher {
                subscriber,
                filter,
                mailbox,
            });
    }

    /// Forgets `subscriber`; it is over.
    pub fn unwatch(&self, field: &str, subscriber: SubscriberId) {
        if let Some(mut watchers) = self.fields.get_mut(field) {
            watchers.retain(|w| w.subscriber != subscriber);
        }
        self.fields
            .remove_if(field, |_, watchers| watchers.is_empty());
    }

    /// Ends every subscription of `field` whose filter `payload` passes. Returns how many.
    pub fn invalidate(&self, field: &str, payload: &Value) -> usize {
        let Some(mut watchers) = self.fields.get_mut(field) else {
            return 0;
        };
        let mut ended = 0;
        watchers.retain(|watcher| {
            if !watcher.filter.matches(payload) {
                return true;
            }
            watcher.mailbox.post(Mail::End(watcher.subscriber));
            ended += 1;
            false
        });
        drop(watchers);
        self.fields
            .remove_if(field, |_, watchers| watchers.is_empty());
        self.ended.fetch_add(ended as u64, Ordering::Relaxed);
        ended
    }
}

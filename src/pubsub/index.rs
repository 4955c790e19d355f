//! The subscription index: which subscribers want which events.
//!
//! A subscription's topic key is its field plus the arguments it supplied (see [`topic_key`]).
//! Publishing never scans subscribers: the bus names the topics an event goes to (see
//! `pubsub::topics`) and looks each one up here. The cost of a publish is therefore the number
//! of its topics (one for the status schema) plus the number of matching subscribers, whatever
//! the total.
//!
//! Under a topic, subscribers are grouped by their selection set (compiled [`Projection`]) and
//! their enhanced filter: an event is checked against a group's filter once and rendered once per
//! group, and the bytes are shared by every subscriber in it, so a broadcast to ten thousand
//! subscribers renders one payload, not ten thousand. Filters of other topics are never looked
//! at.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::Value;
use dashmap::DashMap;

use super::mailbox::{Delivery, Mail, Mailbox, Rendered, SubscriberId};
use super::topic::topic_key;
use crate::graphql::filter::Filter;
use crate::graphql::projection::Projection;
use crate::publication::Publication;
use crate::stream::Position;

/// What the index needs to remove a subscription again.
#[derive(Debug)]
pub struct Registration {
    pub id: SubscriberId,
    /// The topic: what the bus listens to and the stream it reads.
    key: String,
    /// Where it is filed: the topic, or for a filter that requires a field to equal a value
    /// (see [`Filter::common_eq`]), the topic narrowed by that field and value.
    slot: String,
    /// The field that narrows it, if any.
    narrowed_by: Option<Arc<str>>,
}

impl Registration {
    /// The topic key this subscription listens to.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Where a subscription of `topic` is filed when its filter requires `field` to equal `value`.
fn narrowed(topic: &str, field: &str, value: &Value) -> String {
    format!("{topic}|{}", topic_key(field, [(field, value)]))
}

/// Counters that show what publishing cost; tests use them to prove that a publish touches only
/// matching subscribers.
#[derive(Debug, Default)]
pub struct IndexStats {
    /// Subscribers the dispatcher looked at.
    pub visited: AtomicU64,
    /// Deliveries queued.
    pub delivered: AtomicU64,
    /// Deliveries that found their connection's queue full.
    pub overflowed: AtomicU64,
    /// Enhanced filters evaluated (once per group of a matching topic, per event).
    pub evaluated: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    id: SubscriberId,
    mailbox: Arc<Mailbox>,
}

/// The subscribers of one topic that selected the same fields with the same enhanced filter:
/// one evaluation and one rendering serve them all.
#[derive(Debug)]
struct Group {
    /// Shared with every group of the same selection set (see [`Projections`]).
    projection: Arc<Projection>,
    filter: Option<Arc<Filter>>,
    entries: Vec<Entry>,
}

/// Subscribers by topic key.
#[derive(Debug, Default)]
pub struct SubscriptionIndex {
    /// Slot (a topic key, or a narrowed one) -> its subscribers, grouped by selection set and
    /// filter (usually one group).
    topics: DashMap<String, Vec<Group>>,
    /// Topic key -> the fields that narrow some of its subscriptions, with how many each.
    narrowing: DashMap<String, Vec<(Arc<str>, usize)>>,
    projections: Mutex<Projections>,
    next_id: AtomicU64,
    pub stats: IndexStats,
}

/// One copy of each selection set in use, shared by every group that renders it: each per-user
/// topic holds a group of its own, and ten thousand users subscribing with the same document
/// would otherwise keep ten thousand equal projections. Bounded by the live ones: when the set
/// has doubled since it was last swept, projections no group holds any more go.
#[derive(Debug)]
struct Projections {
    set: HashSet<Arc<Projection>>,
    sweep_at: usize,
}

impl Default for Projections {
    fn default() -> Self {
        Self {
            set: HashSet::new(),
            sweep_at: 64,
        }
    }
}

impl Projections {
    fn share(&mut self, projection: Projection) -> Arc<Projection> {
        if let Some(shared) = self.set.get(&projection) {
            return shared.clone();
        }
        if self.set.len() >= self.sweep_at {
            self.set.retain(|p| Arc::strong_count(p) > 1);
            self.sweep_at = (self.set.len() * 2).max(64);
        }
        let shared = Arc::new(projection);
        self.set.insert(shared.clone());
        shared
    }
}

impl SubscriptionIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Files a subscription to `field` with the supplied (already coerced) equality arguments,
    /// its compiled selection set and its enhanced filter. Once this returns, every event
    /// dispatched afterwards that matches reaches `mailbox`, rendered with `projection`.
    pub fn subscribe(
        &self,
        field: &str,
        args: &[(String, Value)],
        projection: Projection,
        filter: Option<Arc<Filter>>,
        mailbox: Arc<Mailbox>,
    ) -> Registration {
        let key = topic_key(field, args.iter().map(|(n, v)| (n.as_str(), v)));
        self.subscribe_topic(&key, projection, filter, mailbox)
    }

    /// Files a subscription under a topic key made elsewhere (an AppSync Events channel's).
    pub fn subscribe_topic(
        &self,
        key: &str,
        projection: Projection,
        filter: Option<Arc<Filter>>,
        mailbox: Arc<Mailbox>,
    ) -> Registration {
        let key = key.to_owned();
        let narrow = filter
            .as_deref()
            .and_then(Filter::common_eq)
            .map(|(name, value)| (Arc::<str>::from(name), Value::from(value)));
        let slot = match &narrow {
            Some((name, value)) => {
                // The narrowing field goes in before the entry, so a concurrent dispatch that
                // could see the entry also looks in its slot.
                let mut fields = self.narrowing.entry(key.clone()).or_default();
                match fields.iter_mut().find(|(f, _)| *f == *name) {
                    Some((_, count)) => *count += 1,
                    None => fields.push((name.clone(), 1)),
                }
                narrowed(&key, name, value)
            }
            None => key.clone(),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry { id, mailbox };
        let projection = self
            .projections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .share(projection);
        let mut groups = self.topics.entry(slot.clone()).or_default();
        match groups
            .iter_mut()
            .find(|g| g.projection == projection && g.filter == filter)
        {
            Some(group) => group.entries.push(entry),
            None => {
                // Per-user topics hold one group each: no spare capacity.
                groups.reserve_exact(1);
                groups.push(Group {
                    projection,
                    filter,
                    entries: vec![entry],
                })
            }
        }
        drop(groups);
        Registration {
            id,
            key,
            slot,
            narrowed_by: narrow.map(|(name, _)| name),
        }
    }

    /// Removes a subscription; events dispatched afterwards no longer reach it.
    pub fn unsubscribe(&self, registration: &Registration) {
        if let Some(mut groups) = self.topics.get_mut(&registration.slot) {
            for group in groups.iter_mut() {
                group.entries.retain(|e| e.id != registration.id);
            }
            groups.retain(|g| !g.entries.is_empty());
        }
        self.topics
            .remove_if(&registration.slot, |_, groups| groups.is_empty());
        if let Some(name) = &registration.narrowed_by {
            if let Some(mut fields) = self.narrowing.get_mut(&registration.key) {
                if let Some((_, count)) = fields.iter_mut().find(|(f, _)| f == name) {
                    *count -= 1;
                }
                fields.retain(|(_, count)| *count > 0);
            }
            self.narrowing
                .remove_if(&registration.key, |_, fields| fields.is_empty());
        }
    }

    /// Queues `event`, at `position` in the topic's stream, for the subscriptions of one topic
    /// key: those filed under it, and those narrowed to the event's value of a field. Returns
    /// how many deliveries were queued.
    pub fn dispatch_topic(
        &self,
        key: &str,
        event: &Arc<Publication>,
        position: &Position,
    ) -> usize {
        // Copy the narrowing fields out so no guard is held while the slots are read.
        let narrowing: Vec<Arc<str>> = match self.narrowing.get(key) {
            Some(fields) => fields.iter().map(|(name, _)| name.clone()).collect(),
            None => Vec::new(),
        };
        let mut delivered = self.dispatch_slot(key, event, position);
        for name in narrowing {
            let slot = narrowed(key, &name, event.field(&name));
            delivered += self.dispatch_slot(&slot, event, position);
        }
        delivered
    }

    fn dispatch_slot(&self, slot: &str, event: &Arc<Publication>, position: &Position) -> usize {
        let Some(groups) = self.topics.get(slot) else {
            return 0;
        };
        let mut delivered = 0;
        for group in groups.iter() {
            if let Some(filter) = &group.filter {
                self.stats.evaluated.fetch_add(1, Ordering::Relaxed);
                if !filter.matches(&event.payload) {
                    continue;
                }
            }
            self.stats
                .visited
                .fetch_add(group.entries.len() as u64, Ordering::Relaxed);
            let rendered = Arc::new(Rendered {
                body: group.projection.render(&event.payload),
                position: position.clone(),
                published_at: event.published_at,
            });
            for entry in &group.entries {
                let delivery = Delivery {
                    subscriber: entry.id,
                    event: rendered.clone(),
                };
                if entry.mailbox.post(Mail::Delivery(delivery)) {
                    delivered += 1;
                } else if entry.mailbox.overflowed().is_cancelled() {
                    self.stats.overflowed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.stats
            .delivered
            .fetch_add(delivered as u64, Ordering::Relaxed);
        delivered
    }

    /// How many topic keys have at least one subscriber.
    pub fn topic_count(&self) -> usize {
        self.topics.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Name;

    fn status(user: &str, job: Option<&str>) -> Arc<Publication> {
        let mut fields: indexmap::IndexMap<Name, Value> =
            [(Name::new("userId"), Value::from(user))]
                .into_iter()
                .collect();
        if let Some(job) = job {
            fields.insert(Name::new("jobId"), Value::from(job));
        }
        Arc::new(Publication::new(
            "publishStatus",
            "Status",
            Value::Object(fields),
        ))
    }

    fn whole() -> Projection {
        Projection::whole("onStatusUpdate")
    }

    fn arg(name: &str, value: Value) -> (String, Value) {
        (name.to_owned(), value)
    }

    /// Dispatches as the bus does for a field with two optional arguments: to the topic of
    /// each subset of them, valued from the event.
    fn dispatch(index: &SubscriptionIndex, event: &Arc<Publication>) {
        let subsets: [&[&str]; 4] = [&[], &["userId"], &["jobId"], &["jobId", "userId"]];
        let position = Position {
            epoch: Arc::from("e"),
            offset: 1,
        };
        for names in subsets {
            let key = topic_key(
                "onStatusUpdate",
                names.iter().map(|name| (*name, event.field(name))),
            );
            index.dispatch_topic(&key, event, &position);
        }
    }

    #[test]
    fn filters_by_supplied_arguments_only() {
        let index = SubscriptionIndex::new();
        let field = "onStatusUpdate";
        let (a, mut rx_a) = Mailbox::new(8);
        let (all, mut rx_all) = Mailbox::new(8);
        let (null_job, mut rx_null) = Mailbox::new(8);
        index.subscribe(field, &[arg("userId", Value::from("a"))], whole(), None, a);
        index.subscribe(field, &[], whole(), None, all);
        index.subscribe(
            field,
            &[arg("userId", Value::from("a")), arg("jobId", Value::Null)],
            whole(),
            None,
            null_job,
        );

        dispatch(&index, &status("a", Some("j1")));
        dispatch(&index, &status("b", None));
        dispatch(&index, &status("a", None));

        assert_eq!(rx_a.len(), 2);
        assert_eq!(rx_all.len(), 3);
        assert_eq!(
            rx_null.len(),
            1,
            "explicit null matches only a null or missing field"
        );
        assert!(
            rx_a.try_recv().is_some()
                && rx_all.try_recv().is_some()
                && rx_null.try_recv().is_some()
        );
    }

    #[test]
    fn topics_share_one_projection_and_forget_it_when_unused() {
        let index = SubscriptionIndex::new();
        let (mailbox, _rx) = Mailbox::new(8);
        let field = "onStatusUpdate";
        let registrations: Vec<Registration> = (0..100)
            .map(|n| {
                let user = Value::from(format!("u{n}"));
                index.subscribe(
                    field,
                    &[arg("userId", user)],
                    whole(),
                    None,
                    mailbox.clone(),
                )
            })
            .collect();
        let shared: Vec<Arc<Projection>> = index
            .topics
            .iter()
            .map(|groups| groups[0].projection.clone())
            .collect();
        assert_eq!(shared.len(), 100);
        assert!(
            shared.iter().all(|p| Arc::ptr_eq(p, &shared[0])),
            "one copy"
        );
        drop(shared);
        for registration in &registrations {
            index.unsubscribe(registration);
        }
        // Selection sets that come and go are swept: the set stays bounded by the live ones.
        let kept = index.subscribe(
            "kept",
            &[],
            Projection::whole("kept"),
            None,
            mailbox.clone(),
        );
        for n in 0..1000 {
            let projection = Projection::whole(&format!("f{n}"));
            let gone = index.subscribe("f", &[], projection, None, mailbox.clone());
            index.unsubscribe(&gone);
        }
        let projections = index.projections.lock().unwrap();
        assert!(projections.set.len() <= 64, "{}", projections.set.len());
        assert!(
            projections
                .set
                .iter()
                .any(|p| **p == Projection::whole("kept"))
        );
        drop(projections);
        index.unsubscribe(&kept);
    }

    #[test]
    fn unsubscribe_forgets_the_topic() {
        let index = SubscriptionIndex::new();
        let (mailbox, _rx) = Mailbox::new(8);
        let reg = index.subscribe(
            "onStatusUpdate",
            &[arg("userId", Value::from("a"))],
            whole(),
            None,
            mailbox,
        );
        assert_eq!(index.topic_count(), 1);
        index.unsubscribe(&reg);
        assert_eq!(index.topic_count(), 0);
    }

    #[test]
    fn full_mailbox_is_marked_overflowed_and_others_still_receive() {
        let index = SubscriptionIndex::new();
        let field = "onStatusUpdate";
        let (slow, _slow_rx) = Mailbox::new(1);
        let (fast, mut fast_rx) = Mailbox::new(8);
        index.subscribe(
            field,
            &[arg("userId", Value::from("a"))],
            whole(),
            None,
            slow.clone(),
        );
        index.subscribe(
            field,
            &[arg("userId", Value::from("a"))],
            whole(),
            None,
            fast,
        );
        for _ in 0..3 {
            dispatch(&index, &status("a", None));
        }
        assert!(slow.overflowed().is_cancelled());
        assert_eq!(fast_rx.len(), 3);
        assert_eq!(index.stats.overflowed.load(Ordering::Relaxed), 2);
        assert!(fast_rx.try_recv().is_some());
    }
}

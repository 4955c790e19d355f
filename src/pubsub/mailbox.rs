//! A connection's mailbox: the bounded queue between the publishers (any thread, never waiting)
//! and the connection's session, and what it carries.
//!
//! A queue of its own rather than a tokio channel: a channel allocates its shared state and a
//! first block of 32 slots when it is made, about 1 KB that every idle connection would hold. An
//! empty mailbox holds no buffer; it grows on the first delivery and gives back what a backlog
//! took once it drains.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::stream::Position;

/// Identifies one subscription in the index, unique within the process.
pub type SubscriberId = u64;

/// A drained queue keeps at most this many slots; a larger one (a backlog) is given back.
const KEEP_SLOTS: usize = 64;

/// One event for one subscription, queued for the connection that holds it. Small (two words):
/// the rendering is shared.
#[derive(Debug)]
pub struct Delivery {
    pub subscriber: SubscriberId,
    pub event: Arc<Rendered>,
}

/// One event rendered for the subscribers that selected the same fields: what each of their
/// deliveries shares.
#[derive(Debug)]
pub struct Rendered {
    /// The payload for the selection set (`{"data":{...}}`).
    pub body: String,
    /// Where the event sits in the subscriptions' topic stream.
    pub position: Position,
    /// When the event was published, for the publish-to-delivery latency.
    pub published_at: chrono::DateTime<chrono::Utc>,
}

/// What a connection's mailbox carries: an event for one of its subscriptions, or the end of
/// one (an invalidation).
#[derive(Debug)]
pub enum Mail {
    Delivery(Delivery),
    /// The subscription was invalidated: the client is told it is complete.
    End(SubscriberId),
}

/// A connection's bounded queue of deliveries.
///
/// Publishers never wait on it: when it is full the connection is too slow to keep up, so the
/// publisher marks it overflowed and moves on; the connection's session sees the mark and closes
/// the socket with a "slow consumer" reason. Nobody else slows down.
#[derive(Debug)]
pub struct Mailbox {
    queue: Mutex<Queue>,
    /// Woken on each post; a post with no one waiting leaves a permit, so none is lost.
    ready: Notify,
    capacity: usize,
    /// Cancelled on the first delivery that did not fit.
    overflowed: CancellationToken,
    /// Also cancelled on an overflow: the session's one token for "stop and look why" (see
    /// [`Mailbox::watched`]).
    attention: CancellationToken,
}

#[derive(Debug, Default)]
struct Queue {
    mail: VecDeque<Mail>,
    /// The session is gone: posts are refused.
    closed: bool,
}

/// The session's end of a [`Mailbox`]; dropping it closes the mailbox.
#[derive(Debug)]
pub struct Inbox(Arc<Mailbox>);

impl Mailbox {
    pub fn new(capacity: usize) -> (Arc<Self>, Inbox) {
        Self::watched(capacity, CancellationToken::new())
    }

    /// A mailbox whose overflow also cancels `attention`: a session waits on that one token
    /// for every reason to stop (the node closing, a kick, an overflow) instead of one wait per
    /// reason, each of which sits in every idle session's future.
    pub fn watched(capacity: usize, attention: CancellationToken) -> (Arc<Self>, Inbox) {
        let mailbox = Arc::new(Self {
            queue: Mutex::default(),
            ready: Notify::new(),
            capacity: capacity.max(1),
            overflowed: CancellationToken::new(),
            attention,
        });
        (mailbox.clone(), Inbox(mailbox))
    }

    pub fn overflowed(&self) -> &CancellationToken {
        &self.overflowed
    }

    /// Queues `mail` without waiting; a full queue marks the connection overflowed. Returns
    /// whether it was queued.
    pub fn post(&self, mail: Mail) -> bool {
        let mut queue = self.lock();
        if queue.closed {
            // The connection is closing; its subscriptions are about to go.
            return false;
        }
        if queue.mail.len() >= self.capacity {
            drop(queue);
            self.overflowed.cancel();
            self.attention.cancel();
            return false;
        }
        queue.mail.push_back(mail);
        drop(queue);
        self.ready.notify_one();
        true
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inbox {
    /// The next mail, waiting for one. Cancel-safe: what a dropped wait was woken for stays
    /// queued, and the next call finds it first.
    pub async fn recv(&mut self) -> Mail {
        loop {
            if let Some(mail) = self.try_recv() {
                return mail;
            }
            self.0.ready.notified().await;
        }
    }

    /// The next mail if one is queued.
    pub fn try_recv(&mut self) -> Option<Mail> {
        let mut queue = self.0.lock();
        let mail = queue.mail.pop_front();
        if mail.is_none() && queue.mail.capacity() > KEEP_SLOTS {
            queue.mail = VecDeque::new();
        }
        mail
    }

    /// How many are queued.
    pub fn len(&self) -> usize {
        self.0.lock().mail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        queue.closed = true;
        queue.mail = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_ordered_woken_and_closed_with_its_inbox() {
        let attention = CancellationToken::new();
        let (mailbox, mut inbox) = Mailbox::watched(2, attention.clone());
        assert!(mailbox.post(Mail::End(1)));
        assert!(mailbox.post(Mail::End(2)));
        assert!(!attention.is_cancelled());
        assert!(!mailbox.post(Mail::End(3)), "full");
        assert!(mailbox.overflowed().is_cancelled());
        assert!(attention.is_cancelled(), "the session is told too");
        assert!(matches!(inbox.recv().await, Mail::End(1)));
        assert!(matches!(inbox.try_recv(), Some(Mail::End(2))));
        assert!(inbox.try_recv().is_none());

        // A post while the session waits wakes it.
        let poster = mailbox.clone();
        let waiting = tokio::spawn(async move { matches!(inbox.recv().await, Mail::End(4)) });
        tokio::task::yield_now().await;
        assert!(poster.post(Mail::End(4)));
        assert!(waiting.await.unwrap(), "woken with the mail");
        // The inbox went with the task: the mailbox is closed.
        assert!(!mailbox.post(Mail::End(5)));
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_nothing_and_a_drained_backlog_is_given_back() {
        let (mailbox, mut inbox) = Mailbox::new(1000);
        // A wait dropped after the post that woke it (as when another branch of the session's
        // select wins): the mail is still there for the next one.
        {
            let mut waiting = Box::pin(inbox.recv());
            assert!(futures_util::poll!(&mut waiting).is_pending());
            assert!(mailbox.post(Mail::End(1)));
        }
        assert!(matches!(inbox.recv().await, Mail::End(1)));
        for n in 0..500 {
            assert!(mailbox.post(Mail::End(n)));
        }
        assert_eq!(inbox.len(), 500);
        while inbox.try_recv().is_some() {}
        assert!(mailbox.lock().mail.capacity() <= KEEP_SLOTS);
    }
}

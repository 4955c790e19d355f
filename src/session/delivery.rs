//! Writing deliveries: what the mailbox holds goes out in batches of up to [`DELIVERY_BATCH`]
//! frames with one flush, each judged against its subscription's watermark (see `resume`),
//! framed for it and checked against `--max-payload-bytes`.

use axum::extract::ws::Message;

use super::resume::{self, Verdict};
use super::{Flow, Session};
use crate::app::App;
use crate::operation::{ErrorType, GraphqlError};
use crate::protocol::{At, Encoded, Protocol, Reply};
use crate::pubsub::{Delivery, Mail, SubscriberId};
use crate::stream::Position;

/// Deliveries written per flush when the mailbox has a backlog.
const DELIVERY_BATCH: usize = 64;

impl Session {
    /// Writes what the mailbox holds, this and whatever else is already queued, in one flush.
    pub(super) async fn deliver(&mut self, first: Mail) -> Flow {
        let mut published_at = None;
        let mut frames = Vec::new();
        let mut ended = Vec::new();
        let mut next = Some(first);
        while let Some(mail) = next.take() {
            match mail {
                Mail::Delivery(delivery) => {
                    published_at.get_or_insert(delivery.event.published_at);
                    self.render(delivery, &mut frames, &mut ended);
                }
                Mail::End(subscriber) => self.end(subscriber, &mut frames, &mut ended),
            }
            if frames.len() < DELIVERY_BATCH {
                next = self.inbox.try_recv();
            }
        }
        for id in &ended {
            Box::pin(self.forget(id)).await;
        }
        if frames.is_empty() {
            return Flow::Continue;
        }
        let count = frames.len() as u64;
        let flow = self
            .write(Encoded {
                frames,
                close: None,
            })
            .await;
        let exported = &self.app.metrics.exported;
        exported.deliveries_of(self.protocol).increment(count);
        // One latency sample per batch: the oldest delivery in it, when it reached the socket.
        if let Some(published_at) = published_at {
            let latency = (chrono::Utc::now() - published_at)
                .to_std()
                .unwrap_or_default();
            exported.latency.record(latency.as_secs_f64());
        }
        flow
    }

    /// An invalidated subscription: the client is told it is complete, and it ends.
    fn end(
        &mut self,
        subscriber: SubscriberId,
        frames: &mut Vec<Message>,
        ended: &mut Vec<String>,
    ) {
        let Some(id) = self.client_ids.get(&subscriber) else {
            return;
        };
        if ended.contains(id) {
            return;
        }
        tracing::info!(id = %id, "subscription invalidated");
        frames.extend(self.protocol.encode(Reply::Ended(id)).frames);
        ended.push(id.clone());
    }

    /// Frames one delivery for its subscription, unless its watermark says the subscription
    /// already has it; a delivery after a lost one ends the subscription with `StreamReset`
    /// (its id goes into `ended`).
    fn render(&mut self, delivery: Delivery, frames: &mut Vec<Message>, ended: &mut Vec<String>) {
        let Some(id) = self.client_ids.get(&delivery.subscriber) else {
            return;
        };
        if ended.contains(id) {
            return;
        }
        let Some(active) = self.active.get_mut(id) else {
            return;
        };
        if let Some(watermark) = &mut active.watermark {
            match watermark.judge(&delivery.event.position) {
                Verdict::Send => {}
                Verdict::Duplicate => return,
                Verdict::Reset => {
                    let errors = [resume::reset_error()];
                    let reply = Reply::OperationError {
                        id,
                        errors: &errors,
                    };
                    frames.extend(self.protocol.encode(reply).frames);
                    ended.push(id.clone());
                    return;
                }
            }
        }
        let position = active.positioned.then_some(&delivery.event.position);
        if !frame_event(
            self.protocol,
            &self.app,
            id,
            &delivery.event.body,
            position,
            frames,
        ) {
            ended.push(id.clone());
        }
    }
}

/// Frames one event for subscription `id`: `body` as rendered, with `position` when the
/// subscription is told positions. A payload over `--max-payload-bytes` is not sent: the
/// subscriber gets an error instead and the subscription must end (returns false), so the
/// client knows rather than silently missing a status.
pub(super) fn frame_event(
    protocol: Protocol,
    app: &App,
    id: &str,
    body: &str,
    position: Option<&Position>,
    frames: &mut Vec<Message>,
) -> bool {
    let limit = app.settings.max_payload_bytes;
    if body.len() > limit {
        app.metrics.exported.oversized_payloads.increment(1);
        let errors = [GraphqlError::new(
            Some(ErrorType::PayloadTooLargeError),
            format!(
                "A subscription payload of {} bytes exceeds the limit of {limit} bytes and was not sent; the subscription has ended.",
                body.len()
            ),
        )];
        let reply = Reply::OperationError {
            id,
            errors: &errors,
        };
        frames.extend(protocol.encode(reply).frames);
        return false;
    }
    let at = position.map(|position| At {
        epoch: &position.epoch,
        offset: position.offset,
    });
    frames.extend(protocol.encode(Reply::Data { id, body, at }).frames);
    true
}

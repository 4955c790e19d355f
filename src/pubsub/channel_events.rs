//! Publishing AppSync Events events: each event of a publish (HTTP or socket) is checked (a JSON
//! value as a string, within `--max-event-bytes`) and goes on the bus as an event of its channel;
//! the outcome lists what succeeded and what failed, each by index. Nothing is dropped silently
//! (AWS drops events over 240 KB; here they are reported in `failed`).

use std::sync::Arc;

use serde_json::Value as Json;

use super::bus::{Bus, BusError};
use crate::events::Outcome;
use crate::publication::Publication;

/// Publishes `events` to the checked channel `path`, each on its own. A bus failure before
/// any event was published fails the whole publish; after one was, the outcome says which
/// events were published and which were not (or may have been), by index.
pub async fn publish_events(
    bus: &dyn Bus,
    path: &str,
    events: &[Json],
    max_event_bytes: usize,
    published: &metrics::Counter,
) -> Result<Outcome, BusError> {
    let mut outcome = Outcome::default();
    for (index, event) in events.iter().enumerate() {
        let identifier = uuid::Uuid::new_v4().to_string();
        let text = match event {
            Json::String(text) if serde_json::from_str::<Json>(text).is_ok() => text,
            _ => {
                outcome.failed(
                    &identifier,
                    index,
                    400,
                    "An event must be a JSON value, as a string.",
                );
                continue;
            }
        };
        if text.len() > max_event_bytes {
            outcome.failed(
                &identifier,
                index,
                413,
                &format!(
                    "The event is {} bytes; at most {max_event_bytes} are allowed.",
                    text.len()
                ),
            );
            continue;
        }
        let event = Publication::on_channel(path, text.clone());
        let identifier = event.id.to_string();
        match bus.publish(Arc::new(event), None).await {
            Ok(_) => {
                published.increment(1);
                outcome.succeeded(&identifier, index);
            }
            Err(error) if outcome.successful.is_empty() => return Err(error),
            Err(error) => {
                outcome.failed(&identifier, index, error.status(), &error.to_string());
                // The bus is failing: the rest are not tried, and said so.
                for later in index + 1..events.len() {
                    let unsent = uuid::Uuid::new_v4().to_string();
                    outcome.failed(
                        &unsent,
                        later,
                        503,
                        "Not published: an earlier event failed.",
                    );
                }
                break;
            }
        }
    }
    Ok(outcome)
}

//! Resume and replay: what a subscription asks of its topic's stream when it starts, and the
//! watermark that keeps what it is sent afterwards gapless and free of duplicates.
//!
//! A client opts in with its subscribe message's `extensions`:
//! `{"resume": {"epoch": "…", "offset": 41}}` (every kept event after offset 41, then live),
//! `{"replay": {"last": 20}}` (the newest ≤ 20 kept events, then live) or
//! `{"replay": {"since": "<AWSDateTime>"}}`. Any of them also makes the server tell the client
//! each event's position (`extensions.stream` on every data message) and the stream's state
//! once, before any event: `{"epoch", "offset", "wasRecovering", "recovered"}`. A field named by
//! `--replay-latest` replays its latest event to every subscriber, without positions, so an
//! unmodified client (stock Amplify) shows the current status at once.
//!
//! The order is what makes it exact: the subscription is filed in the index and the bus listens
//! (every later publish reaches the mailbox) before the stream is read, the read events are sent
//! directly, and only then does the session drain the mailbox, where the watermark drops what
//! the read already covered. A topic's deliveries arrive in offset order, so an offset that skips
//! one, or a new epoch, means the stream lost events: the subscription ends with `StreamReset`
//! and the client resumes again.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::graphql::filter::Filter;
use crate::operation::{ErrorType, GraphqlError};
use crate::stream::{Entry, Position, ReadFrom, StreamRead};

/// What a subscription asked of its topic's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// Every kept event after `offset` of `epoch` (no epoch: of whatever epoch is current).
    Resume { epoch: Option<String>, offset: u64 },
    /// The newest `n` kept events.
    Last(usize),
    /// The kept events published at or after this instant.
    Since(DateTime<Utc>),
}

/// How a subscription starts on its stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Opening {
    pub ask: Option<Ask>,
    /// Whether the client asked for positions (with every event, and the stream's state first).
    pub positioned: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeJson {
    #[serde(default)]
    epoch: Option<String>,
    offset: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayJson {
    #[serde(default)]
    last: Option<usize>,
    #[serde(default)]
    since: Option<DateTime<Utc>>,
}

impl Opening {
    /// Reads `resume` / `replay` from a request's `extensions`. A malformed request is a
    /// `BadRequestException`.
    pub fn from_extensions(extensions: Option<&Json>) -> Result<Self, GraphqlError> {
        let default = Self::default();
        let Some(Json::Object(extensions)) = extensions else {
            return Ok(default);
        };
        let bad =
            |message: String| GraphqlError::new(Some(ErrorType::BadRequestException), message);
        let ask = match (extensions.get("resume"), extensions.get("replay")) {
            (None, None) => return Ok(default),
            (Some(_), Some(_)) => {
                return Err(bad(
                    "extensions.resume and extensions.replay cannot be combined".to_owned(),
                ));
            }
            (Some(resume), None) => {
                let resume = ResumeJson::deserialize(resume).map_err(|e| {
                    bad(format!(
                        "extensions.resume must be {{\"epoch\": string, \"offset\": integer}}: {e}"
                    ))
                })?;
                if resume.offset > 0 && resume.epoch.is_none() {
                    return Err(bad(
                        "extensions.resume needs the epoch its offset belongs to".to_owned(),
                    ));
                }
                Ask::Resume {
                    epoch: resume.epoch,
                    offset: resume.offset,
                }
            }
            (None, Some(replay)) => {
                let replay = ReplayJson::deserialize(replay).map_err(|e| {
                    bad(format!(
                        "extensions.replay must be {{\"last\": integer}} or {{\"since\": AWSDateTime}}: {e}"
                    ))
                })?;
                match (replay.last, replay.since) {
                    (Some(last), None) => Ask::Last(last),
                    (None, Some(since)) => Ask::Since(since),
                    _ => {
                        return Err(bad(
                            "extensions.replay takes one of `last` and `since`".to_owned()
                        ));
                    }
                }
            }
        };
        Ok(Self {
            ask: Some(ask),
            positioned: true,
        })
    }

    /// Replays the latest event when the client asked for nothing and its field replays the
    /// latest by default (`--replay-latest`): no positions, so nothing new on the wire.
    pub fn or_latest(self, replay_latest: bool) -> Self {
        match self.ask {
            None if replay_latest => Self {
                ask: Some(Ask::Last(1)),
                positioned: false,
            },
            _ => self,
        }
    }

    /// The read that serves this opening, at most `max` entries.
    pub fn read_from(&self, max: usize) -> ReadFrom {
        match &self.ask {
            // Read the newest kept ones: enough to tell whether the client's offset is still
            // covered, and what to send if it is not.
            Some(Ask::Resume { .. }) => ReadFrom::Last(max),
            Some(Ask::Last(n)) => ReadFrom::Last(*n),
            Some(Ask::Since(at)) => ReadFrom::Since(*at),
            None => ReadFrom::Nothing,
        }
    }
}

/// What the stream gave a starting subscription: the events to send before going live, the
/// summary the client is told first (positioned subscriptions only), and the watermark.
#[derive(Debug)]
pub struct Start {
    pub epoch: Arc<str>,
    pub entries: Vec<Entry>,
    pub summary: Json,
    pub watermark: Watermark,
}

/// Decides what a subscription that asked for `opening` is sent from `read`; with an enhanced
/// `filter`, only the events that pass it (and its later deliveries may skip offsets: the
/// events in between were filtered out).
pub fn start(opening: &Opening, read: StreamRead, filter: Option<&Filter>) -> Start {
    let StreamRead {
        epoch,
        top,
        fork,
        previous,
        mut entries,
    } = read;
    let (was_recovering, recovered) = match &opening.ask {
        Some(Ask::Resume {
            epoch: asked,
            offset,
        }) => {
            // A position of the epoch this one forked from, up to the fork, names the same
            // event here (the history a Redis failover or restart kept).
            let same_epoch = asked.as_deref().is_none_or(|asked| {
                *asked == *epoch || (previous.as_deref() == Some(asked) && *offset <= fork)
            });
            let covered = *offset == top
                || entries
                    .first()
                    .is_some_and(|first| first.offset <= offset + 1);
            let recovered = same_epoch && *offset <= top && covered;
            if recovered {
                entries.retain(|e| e.offset > *offset);
            }
            (true, recovered)
        }
        _ => (false, false),
    };
    let before = entries.first().map_or(top, |first| first.offset - 1);
    if let Some(filter) = filter {
        entries.retain(|entry| filter.matches(&entry.event.payload));
    }
    Start {
        epoch: epoch.clone(),
        entries,
        summary: json!({
            "epoch": &*epoch,
            "offset": before,
            "wasRecovering": was_recovering,
            "recovered": recovered,
        }),
        watermark: Watermark {
            epoch,
            offset: top,
            filtered: filter.is_some(),
        },
    }
}

/// The newest position a subscription was sent (or that its start covered).
#[derive(Debug, Clone)]
pub struct Watermark {
    epoch: Arc<str>,
    offset: u64,
    /// An enhanced filter hides some events, so offsets may skip: only a new epoch is a loss.
    filtered: bool,
}

/// What to do with a delivery, judged against the watermark.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Already sent (the start's read covered it).
    Duplicate,
    /// An offset was skipped or the epoch changed: the stream lost events.
    Reset,
}

impl Watermark {
    pub fn judge(&mut self, position: &Position) -> Verdict {
        if position.epoch != self.epoch {
            return Verdict::Reset;
        }
        if position.offset <= self.offset {
            return Verdict::Duplicate;
        }
        if position.offset > self.offset + 1 && !self.filtered {
            return Verdict::Reset;
        }
        self.offset = position.offset;
        Verdict::Send
    }
}

/// The error that ends a subscription whose stream lost events.
pub fn reset_error() -> GraphqlError {
    GraphqlError::new(
        Some(ErrorType::StreamReset),
        "The subscription's event stream lost events (trimmed, expired or restarted); the subscription has ended. Subscribe again with extensions.resume to learn what is kept.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publication::Publication;

    fn read(epoch: &str, top: u64, kept: std::ops::RangeInclusive<u64>) -> StreamRead {
        StreamRead {
            epoch: Arc::from(epoch),
            top,
            fork: 0,
            previous: None,
            entries: kept
                .map(|offset| Entry {
                    offset,
                    event: Arc::new(Publication::new("m", "T", async_graphql::Value::Null)),
                })
                .collect(),
        }
    }

    fn resume(epoch: &str, offset: u64) -> Opening {
        Opening {
            ask: Some(Ask::Resume {
                epoch: Some(epoch.to_owned()),
                offset,
            }),
            positioned: true,
        }
    }

    fn offsets(start: &Start) -> Vec<u64> {
        start.entries.iter().map(|e| e.offset).collect()
    }

    #[test]
    fn extensions_are_read_and_checked() {
        let parse = |json: Json| Opening::from_extensions(Some(&json));
        assert_eq!(
            parse(json!({"resume": {"epoch": "E", "offset": 4}}))
                .unwrap()
                .ask,
            Some(Ask::Resume {
                epoch: Some("E".into()),
                offset: 4
            })
        );
        assert_eq!(
            parse(json!({"replay": {"last": 1}})).unwrap().ask,
            Some(Ask::Last(1))
        );
        assert!(matches!(
            parse(json!({"replay": {"since": "2026-12-01T10:00:00.000Z"}}))
                .unwrap()
                .ask,
            Some(Ask::Since(_))
        ));
        for bad in [
            json!({"resume": {"offset": 3}}),
            json!({"resume": {"epoch": "E", "offset": -1}}),
            json!({"resume": {"epoch": "E", "offset": 1}, "replay": {"last": 1}}),
            json!({"replay": {"last": 1, "since": "2026-12-01T10:00:00Z"}}),
            json!({"replay": {}}),
            json!({"replay": {"since": "yesterday"}}),
            json!({"resume": "E:4"}),
        ] {
            let error = parse(bad.clone()).unwrap_err();
            assert_eq!(
                error.error_type,
                Some(ErrorType::BadRequestException),
                "{bad}"
            );
        }
        let plain = Opening::from_extensions(Some(&json!({"authorization": {}})))
            .unwrap()
            .or_latest(true);
        assert_eq!(plain.ask, Some(Ask::Last(1)));
        assert!(
            !plain.positioned,
            "a default replay adds nothing to the wire"
        );
        let asked = parse(json!({"replay": {"last": 3}}))
            .unwrap()
            .or_latest(true);
        assert_eq!(asked.ask, Some(Ask::Last(3)), "what the client asked wins");
    }

    #[test]
    fn a_resume_within_what_is_kept_is_recovered() {
        let start = start(&resume("E", 3), read("E", 5, 1..=5), None);
        assert_eq!(offsets(&start), [4, 5]);
        assert_eq!(start.summary["recovered"], true);
        assert_eq!(start.summary["offset"], 3);
        let caught_up = super::start(&resume("E", 5), read("E", 5, 1..=5), None);
        assert!(caught_up.entries.is_empty());
        assert_eq!(caught_up.summary["recovered"], true);
        assert_eq!(caught_up.summary["offset"], 5);
    }

    #[test]
    fn a_trimmed_offset_or_another_epoch_is_not_recovered_and_gets_what_is_kept() {
        for (opening, stream) in [
            (resume("E", 1), read("E", 9, 5..=9)),
            (resume("OLD", 3), read("E", 9, 5..=9)),
            (resume("E", 12), read("E", 9, 5..=9)),
        ] {
            let start = start(&opening, stream, None);
            assert_eq!(start.summary["recovered"], false);
            assert_eq!(start.summary["wasRecovering"], true);
            assert_eq!(offsets(&start), [5, 6, 7, 8, 9]);
            assert_eq!(start.summary["offset"], 4);
        }
    }

    #[test]
    fn a_position_of_the_epoch_forked_from_is_recovered_up_to_the_fork() {
        // E forked from OLD at 6 (a Redis failover or restart): 1..=6 are the same in both.
        let forked = || StreamRead {
            fork: 6,
            previous: Some(Arc::from("OLD")),
            ..read("E", 9, 3..=9)
        };
        let start_at = |epoch, offset| start(&resume(epoch, offset), forked(), None);
        let at_four = start_at("OLD", 4);
        assert_eq!(at_four.summary["recovered"], true);
        assert_eq!(offsets(&at_four), [5, 6, 7, 8, 9]);
        assert_eq!(at_four.summary["epoch"], "E");
        // Past the fork, OLD's offsets named events E does not have.
        let past = start_at("OLD", 7);
        assert_eq!(past.summary["recovered"], false);
        assert_eq!(offsets(&past), [3, 4, 5, 6, 7, 8, 9]);
        // Another epoch altogether is not recovered either.
        assert_eq!(start_at("OTHER", 4).summary["recovered"], false);
    }

    #[test]
    fn the_watermark_drops_duplicates_and_resets_on_a_gap_or_a_new_epoch() {
        let mut mark = start(&resume("E", 3), read("E", 5, 1..=5), None).watermark;
        let at = |epoch: &str, offset| Position {
            epoch: Arc::from(epoch),
            offset,
        };
        assert_eq!(mark.judge(&at("E", 5)), Verdict::Duplicate);
        assert_eq!(mark.judge(&at("E", 6)), Verdict::Send);
        assert_eq!(mark.judge(&at("E", 6)), Verdict::Duplicate);
        assert_eq!(mark.judge(&at("E", 8)), Verdict::Reset);
        assert_eq!(mark.judge(&at("F", 7)), Verdict::Reset);
    }
}

//! Redis stalls (SIGSTOP) for longer than `--redis-timeout` while statuses are published: the
//! publisher hears within the timeout, a 503 means the status was not published (Redis runs the
//! queued script late and it refuses), and each acknowledged status reaches each subscriber
//! once, in order, on every protocol.

use crate::session_invariants::WIRES;
use crate::support;

use std::time::{Duration, Instant};

use serde_json::Value as Json;
use support::cluster::{REDIS_TIMEOUT, node};
use support::redis::RedisServer;
use tokio_tungstenite::tungstenite::Message;

/// What one publish was told.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Told {
    Acknowledged,
    /// 503 `ServiceUnavailable`: not published.
    Refused,
    /// The distinct answer for a publish whose outcome Redis never told.
    Unknown,
}

fn told(code: u16, body: &Json) -> Told {
    let error_type = body["errors"][0]["errorType"]
        .as_str()
        .or(body["failed"][0]["errorType"].as_str());
    match (code, error_type) {
        (200, None) => Told::Acknowledged,
        (503, Some("ServiceUnavailable")) => Told::Refused,
        (504, Some("PublishOutcomeUnknown")) => Told::Unknown,
        _ => panic!("{code}: {body}"),
    }
}

#[tokio::test]
async fn a_redis_stall_neither_duplicates_nor_resurrects_statuses() {
    const TICK: Duration = Duration::from_millis(100);
    const TICKS: usize = 40;
    let redis = RedisServer::start().await;
    let prefix = format!("stall{}", uuid::Uuid::new_v4().simple());
    let publisher = node(&redis.url(), &prefix, "publisher", &[]).await;
    let listener = node(&redis.url(), &prefix, "listener", &[]).await;
    let mut subscribers = Vec::new();
    for (w, wire) in WIRES.into_iter().enumerate() {
        let user = format!("stall{w}");
        let client = wire.subscribed(listener.addr, "s", &user).await;
        subscribers.push((wire, user, client));
    }

    // Ten statuses a second per protocol; Redis paused from the 10th tick for three timeouts.
    let mut publishes = Vec::new();
    for n in 0..TICKS {
        if n == 10 {
            redis.pause();
        }
        if n == 10 + (3 * REDIS_TIMEOUT).as_millis() as usize / TICK.as_millis() as usize {
            redis.resume();
        }
        for (wire, user, _) in &subscribers {
            let (wire, user, addr) = (*wire, user.clone(), publisher.addr);
            publishes.push(tokio::spawn(async move {
                let sent = Instant::now();
                let (code, body) = wire.publish_answer(addr, &user, n, "").await;
                (wire, n, told(code, &body), sent.elapsed())
            }));
        }
        tokio::time::sleep(TICK).await;
    }
    let mut outcomes = Vec::new();
    for publish in publishes {
        outcomes.push(publish.await.unwrap());
    }
    for (wire, n, told, took) in &outcomes {
        assert!(
            *took < REDIS_TIMEOUT + Duration::from_millis(300),
            "{wire:?} s{n} ({told:?}) answered after {took:?}"
        );
    }
    assert!(
        outcomes
            .iter()
            .any(|(_, _, told, _)| *told != Told::Acknowledged),
        "the stall refused something"
    );

    for (wire, user, mut client) in subscribers {
        let of = |wanted: Told| -> Vec<String> {
            outcomes
                .iter()
                .filter(|(w, _, told, _)| *w == wire && *told == wanted)
                .map(|(_, n, _, _)| format!("s{n}"))
                .collect()
        };
        let (acknowledged, unknown) = (of(Told::Acknowledged), of(Told::Unknown));
        let last = acknowledged.last().expect("acknowledged statuses").clone();
        // Delivered in offset order, so a resurrected status would come before the last one.
        let mut received = Vec::new();
        while received.last() != Some(&last) {
            let message = tokio::time::timeout(Duration::from_secs(20), client.next_message())
                .await
                .unwrap_or_else(|_| panic!("{wire:?} {user}: only {received:?}"));
            if let Some(Message::Text(text)) = message
                && let Some(status) = wire.status_of(&serde_json::from_str(&text).unwrap())
            {
                received.push(status);
            }
        }
        client.expect_silence(Duration::from_millis(300)).await;
        let kept: Vec<&String> = received.iter().filter(|s| !unknown.contains(s)).collect();
        assert_eq!(
            kept,
            acknowledged.iter().collect::<Vec<_>>(),
            "{wire:?}: every acknowledged status once, in order, and no refused one"
        );
        let mut unique = received.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), received.len(), "{wire:?}: no duplicates");
    }
}

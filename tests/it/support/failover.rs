//! What the failover tests share (Redis Cluster and Sentinel): nodes with subscribers, rounds
//! of statuses published through them, and the check that every acknowledged status reached
//! its subscribers once, in order, whatever Redis went through meanwhile.

use std::time::Duration;

use super::cluster::{node, publish_at};
use super::{Proto, TestServer, WsClient};

/// A key prefix of the test's own.
pub fn prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// `count` nodes over the Redis at `url`, and on each a subscriber per user (the protocols
/// taking turns).
pub async fn nodes_and_subscribers(
    url: &str,
    count: usize,
    users: &[String],
) -> (Vec<TestServer>, Vec<(String, WsClient)>) {
    let prefix = prefix();
    let mut nodes = Vec::new();
    for i in 1..=count {
        // Every status of a long failover kept, for the history checks.
        let extra = ["--store", "memory", "--history-per-topic", "1000"];
        nodes.push(node(url, &prefix, &format!("n{i}"), &extra).await);
    }
    let mut subscribers = Vec::new();
    for (n, server) in nodes.iter().enumerate() {
        for (u, user) in users.iter().enumerate() {
            let proto = Proto::EVERY[(n + u) % Proto::EVERY.len()];
            let mut client = WsClient::ready(server, proto).await;
            client.subscribe_live("s", user).await;
            subscribers.push((user.clone(), client));
        }
    }
    (nodes, subscribers)
}

/// Publishes rounds through `nodes`, calling `crash` before the fourth, until the crash
/// refused something and a whole round went through again (within 30 s: publishes resume by
/// themselves).
pub async fn publish_through_a_crash(
    nodes: &[TestServer],
    users: &[String],
    crash: impl FnOnce(),
) -> Published {
    let mut published = Published::default();
    let mut crash = Some(crash);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for round in 1.. {
        if round == 4 {
            crash.take().expect("crashed once")();
        }
        let all_taken = publish_round(nodes, users, round, &mut published).await;
        if !published.refused.is_empty() && all_taken {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "publishes did not resume by themselves within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    published
}

/// What the publishers were told, in order: (user, status) per publish.
#[derive(Default)]
pub struct Published {
    pub acknowledged: Vec<(String, String)>,
    /// Refused with 503; each may still have been written before its answer was lost.
    pub refused: Vec<(String, String)>,
}

/// One round: a status per user, each through a node chosen by round and user. Returns whether
/// every publish was taken.
pub async fn publish_round(
    nodes: &[TestServer],
    users: &[String],
    round: usize,
    published: &mut Published,
) -> bool {
    let mut all_taken = true;
    for (u, user) in users.iter().enumerate() {
        let status = format!("{user}-{round}");
        let through = nodes[(round + u) % nodes.len()].addr;
        let (code, body) = publish_at(through, user, "job-1", &status).await;
        match code {
            200 => published.acknowledged.push((user.clone(), status)),
            503 => {
                published.refused.push((user.clone(), status));
                all_taken = false;
            }
            _ => panic!("{code}: {body}"),
        }
    }
    all_taken
}

/// Each subscriber got every acknowledged status of its user, in order, once, and nothing else
/// but (perhaps) a refused one of its user.
pub async fn expect_acknowledged(subscribers: &mut [(String, WsClient)], published: &Published) {
    let of = |list: &[(String, String)], user: &str| -> Vec<String> {
        list.iter()
            .filter(|(u, _)| u == user)
            .map(|(_, s)| s.clone())
            .collect()
    };
    let mut received = Vec::new();
    for (user, client) in subscribers.iter_mut() {
        let mine = of(&published.acknowledged, user);
        let mut got: Vec<String> = Vec::new();
        while got.iter().filter(|s| mine.contains(s)).count() < mine.len() {
            let (_, data) = client.next_data().await;
            assert_eq!(data["onStatusUpdate"]["userId"], user.as_str(), "{data}");
            got.push(
                data["onStatusUpdate"]["status"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        received.push(got);
    }
    // Long enough for a late copy (a catch-up after a probe) to show.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for ((user, client), got) in subscribers.iter_mut().zip(received) {
        let (mine, maybe) = (
            of(&published.acknowledged, user),
            of(&published.refused, user),
        );
        client.expect_silence(Duration::from_millis(50)).await;
        let in_order: Vec<&String> = got.iter().filter(|s| mine.contains(s)).collect();
        assert_eq!(in_order, mine.iter().collect::<Vec<_>>(), "{user}: {got:?}");
        assert!(
            got.iter().all(|s| mine.contains(s) || maybe.contains(s)),
            "{user}: only its own statuses: {got:?}"
        );
        let mut unique = got.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "{user}: no duplicates: {got:?}");
    }
}

//! Switchboard over a Sentinel-watched Redis (`redis+sentinel://`): nodes follow the master
//! Sentinel names, through a crash and through a planned failover.

use crate::support;

use std::time::{Duration, Instant};

use support::failover::{
    Published, expect_acknowledged, nodes_and_subscribers, publish_round, publish_through_a_crash,
};
use support::redis_sentinel::RedisSentinel;

#[tokio::test]
async fn a_crashed_master_is_replaced_and_publishes_resume_with_no_acknowledged_status_lost() {
    let mut redis = RedisSentinel::start(1).await;
    let users: Vec<String> = (0..6).map(|i| format!("user-{i}")).collect();
    let (nodes, mut subscribers) = nodes_and_subscribers(&redis.url(), 2, &users).await;
    let old = redis.master();
    let published = publish_through_a_crash(&nodes, &users, || redis.kill(old)).await;
    let new = redis.master();
    assert_ne!(new, old, "Sentinel promoted the replica");
    assert!(redis.calls(new, "evalsha") > 0, "the nodes publish on it");
    expect_acknowledged(&mut subscribers, &published).await;
}

/// One node: with several, each follows on its own lookup, and what one publishes on the old
/// master before it moved is not seen by those that moved first (Redis's asynchronous
/// replication: see docs/scaling.md).
#[tokio::test]
async fn a_planned_failover_moves_the_node_to_the_new_master_losing_nothing() {
    let redis = RedisSentinel::start(1).await;
    let users: Vec<String> = (0..6).map(|i| format!("user-{i}")).collect();
    let (nodes, mut subscribers) = nodes_and_subscribers(&redis.url(), 1, &users).await;
    let old = redis.master();

    let mut published = Published::default();
    let mut rounds_on_new = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    for round in 1.. {
        if round == 4 {
            redis.failover().await;
        }
        let all_taken = publish_round(&nodes, &users, round, &mut published).await;
        // The old master keeps running, as a replica: writes sent there would be refused or
        // lost. Done after three whole rounds once it is one.
        if round > 4 && redis.is_replica(old) && all_taken {
            rounds_on_new += 1;
            if rounds_on_new == 3 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the failover within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let new = redis.master();
    assert_ne!(new, old, "Sentinel promoted the replica");
    assert!(redis.calls(new, "evalsha") > 0, "the nodes publish on it");
    expect_acknowledged(&mut subscribers, &published).await;
    // The new epoch kept what the replica had: the history still begins before the failover.
    let history = support::cluster::history_at(nodes[0].addr, &users[0]).await;
    assert_eq!(
        history.first().map(String::as_str),
        Some("user-0-1"),
        "{history:?}"
    );
}

/// With lookups a minute apart and the old master still taking writes, only Sentinel's
/// `+switch-master` announcement can move the nodes before Sentinel demotes the old master
/// (several seconds later): they move within moments of it, all of them.
#[tokio::test]
async fn nodes_move_when_sentinel_announces_the_failover_not_at_their_next_lookup() {
    let redis = RedisSentinel::start(1).await;
    let prefix = support::failover::prefix();
    let mut nodes = Vec::new();
    for id in ["n1", "n2"] {
        let extra = ["--store", "memory", "--redis-sentinel-lookup", "60s"];
        nodes.push(support::cluster::node(&redis.url(), &prefix, id, &extra).await);
    }
    let users: Vec<String> = (0..4).map(|i| format!("user-{i}")).collect();
    let old = redis.master();
    redis.failover().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.master() == old {
        assert!(Instant::now() < deadline, "Sentinel promoted the replica");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let new = redis.master();

    // Every node publishes on the new master within two seconds of the announcement.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut published = Published::default();
    for node in &nodes {
        let before = redis.calls(new, "evalsha");
        loop {
            publish_round(std::slice::from_ref(node), &users, 1, &mut published).await;
            if redis.calls(new, "evalsha") > before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a node still writes to the old master"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(
        !redis.is_replica(old),
        "the old master still took writes: only the announcement moved the nodes"
    );
}

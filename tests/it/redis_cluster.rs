//! Switchboard over a real Redis Cluster (`redis+cluster://`): topics spread over the shards,
//! each topic's stream, meta and channel in one slot, events on sharded pub/sub.

use crate::support;

use std::time::Duration;

use support::cluster::{node, publish_at};
use support::redis_cluster::RedisCluster;
use support::{Proto, WsClient, assert_status};

fn prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn three_nodes_over_three_shards_deliver_each_status_once_in_order_on_every_shard() {
    let redis = RedisCluster::start(3, 0).await;
    let prefix = prefix();
    let mut nodes = Vec::new();
    for i in 1..=3 {
        nodes.push(
            node(
                &redis.url(),
                &prefix,
                &format!("n{i}"),
                &["--store", "memory"],
            )
            .await,
        );
    }
    let users: Vec<String> = (0..12).map(|i| format!("user-{i}")).collect();

    // On every node, over every protocol, subscribers for four of the users.
    let mut subscribers = Vec::new();
    for (n, server) in nodes.iter().enumerate() {
        for (p, proto) in Proto::EVERY.into_iter().enumerate() {
            for k in 0..4 {
                let user = &users[(n * 4 + p + k * 3) % users.len()];
                let mut client = WsClient::ready(server, proto).await;
                client.subscribe_live("s", user).await;
                subscribers.push((user.clone(), client));
            }
        }
    }

    // Five rounds; each status goes through a node chosen by round and user.
    let mut sent = Vec::new();
    for round in 1..=5 {
        for (u, user) in users.iter().enumerate() {
            let status = format!("{user}-{round}");
            let through = nodes[(round + u) % nodes.len()].addr;
            let (code, body) = publish_at(through, user, "job-1", &status).await;
            assert_eq!(code, 200, "{body}");
            sent.push((user.clone(), status));
        }
    }
    for (user, client) in &mut subscribers {
        for (_, status) in sent.iter().filter(|(u, _)| u == user) {
            let (_, data) = client.next_data().await;
            assert_status(&data, user, status);
        }
        client.expect_silence(Duration::from_millis(200)).await;
    }

    // Every shard ran publish scripts and carried events on sharded pub/sub.
    let masters = redis.masters();
    assert_eq!(masters.len(), 3);
    for port in masters {
        assert!(
            redis.calls(port, "evalsha") > 0,
            "shard {port} ran no publish"
        );
        assert!(
            redis.calls(port, "spublish") > 0,
            "shard {port} carried no event"
        );
        assert_eq!(
            redis.calls(port, "publish"),
            0,
            "topics use sharded channels"
        );
    }
}

//! Switchboard over a real Redis Cluster (`redis+cluster://`): topics spread over the shards,
//! each topic's stream, meta and channel in one slot, events on sharded pub/sub.

use crate::support;

use std::time::Duration;

use serde_json::json;

use support::cluster::node;
use support::failover::{
    Published, expect_acknowledged, nodes_and_subscribers, prefix, publish_round,
    publish_through_a_crash,
};
use support::redis_cluster::RedisCluster;
use support::{Proto, TestServer, WsClient};
use switchboard::pubsub::TopicKeys;

#[tokio::test]
async fn three_nodes_over_three_shards_deliver_each_status_once_in_order_on_every_shard() {
    let redis = RedisCluster::start(3, 0).await;
    let nodes = start_nodes(&redis, 3).await;
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

    let mut published = Published::default();
    for round in 1..=5 {
        publish_round(&nodes, &users, round, &mut published).await;
    }
    assert!(published.refused.is_empty(), "{:?}", published.refused);
    expect_acknowledged(&mut subscribers, &published).await;

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

/// `count` nodes over `redis`, their records in memory.
async fn start_nodes(redis: &RedisCluster, count: usize) -> Vec<TestServer> {
    let prefix = prefix();
    let mut nodes = Vec::new();
    for i in 1..=count {
        let id = format!("n{i}");
        nodes.push(node(&redis.url(), &prefix, &id, &["--store", "memory"]).await);
    }
    nodes
}

#[tokio::test]
async fn a_master_killed_mid_stream_fails_publishes_for_a_while_and_loses_no_acknowledged_status() {
    let mut redis = RedisCluster::start(3, 1).await;
    let users: Vec<String> = (0..6).map(|i| format!("user-{i}")).collect();
    let (nodes, mut subscribers) = nodes_and_subscribers(&redis.url(), 2, &users).await;
    // The master that owns the first user's topic goes down after three rounds; its replica
    // takes over.
    let key = topic_key(&nodes[0], &users[0]);
    let victim = redis.owner(&key);

    let published = publish_through_a_crash(&nodes, &users, || redis.kill(victim)).await;
    assert_ne!(redis.owner(&key), victim, "the replica took over");
    expect_acknowledged(&mut subscribers, &published).await;
}

#[tokio::test]
async fn resharding_mid_stream_loses_and_repeats_nothing() {
    let redis = RedisCluster::start(3, 0).await;
    let users: Vec<String> = (0..6).map(|i| format!("user-{i}")).collect();
    let (nodes, mut subscribers) = nodes_and_subscribers(&redis.url(), 2, &users).await;
    // Every slot of the shard that owns the first user's topic moves to another shard while
    // statuses keep coming.
    let key = topic_key(&nodes[0], &users[0]);
    let from = redis.owner(&key);
    let to = *redis.masters().iter().find(|&&p| p != from).unwrap();

    let mut published = Published::default();
    let mut moving = Some(redis.reshard(from, to));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for round in 1.. {
        let all_taken = publish_round(&nodes, &users, round, &mut published).await;
        if moving.as_ref().is_some_and(|m| m.is_finished()) {
            assert!(
                moving.take().unwrap().await.unwrap(),
                "the resharding worked"
            );
        } else if moving.is_none() && all_taken {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "resharding within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(redis.owner(&key), to, "the topic's slot moved");
    expect_acknowledged(&mut subscribers, &published).await;
}

/// The Redis key of `user`'s status topic on `node`'s cluster.
fn topic_key(node: &TestServer, user: &str) -> String {
    let prefix = &node.app.settings.cluster.redis_prefix;
    TopicKeys::new(prefix).stream(&format!("onStatusUpdate(userId:\"{user}\")"))
}

/// A mutation that feeds two topics, `onReading` and `onReading(sensor: …)`.
const READINGS_SDL: &str = r#"
type Reading { id: ID! sensor: String! seen: AWSTimestamp! }
type Query { noop: Int }
type Mutation { record(sensor: String!): Reading }
type Subscription { onReading(sensor: String): Reading @aws_subscribe(mutations: ["record"]) }
"#;

#[tokio::test]
async fn a_retry_after_one_shard_failed_sends_the_first_event_to_exactly_the_topics_that_missed_it()
{
    let mut redis = RedisCluster::start_partial(3).await;
    let schema = std::env::temp_dir().join(format!("sb-{}.graphql", uuid::Uuid::new_v4()));
    std::fs::write(&schema, READINGS_SDL).unwrap();
    let prefix = prefix();
    let server = node(
        &redis.url(),
        &prefix,
        "n1",
        &["--store", "memory", "--schema", schema.to_str().unwrap()],
    )
    .await;
    // A sensor whose topic lives on another shard than the topic of every reading.
    let keys = TopicKeys::new(&prefix);
    let everything = redis.owner(&keys.stream("onReading()"));
    let (sensor, shard) = (0..100)
        .map(|i| format!("s{i}"))
        .map(|s| {
            let owner = redis.owner(&keys.stream(&format!("onReading(sensor:\"{s}\")")));
            (s, owner)
        })
        .find(|(_, owner)| *owner != everything)
        .expect("a sensor on another shard");

    let mut all = WsClient::ready(&server, Proto::TransportWs).await;
    all.subscribe("all", "subscription { onReading { id sensor } }", json!({}))
        .await;
    let mut one = WsClient::ready(&server, Proto::AppSync).await;
    one.subscribe(
        "one",
        "subscription S($s: String) { onReading(sensor: $s) { id sensor } }",
        json!({"s": sensor}),
    )
    .await;
    all.barrier().await;
    one.barrier().await;

    // The sensor's shard is down: the publish is refused before anything is written.
    redis.kill(shard);
    let (code, body) = record(&server, &sensor, "k-0").await;
    assert_eq!(code, 503, "{body}");
    all.expect_silence(Duration::from_millis(300)).await;
    redis.restart(shard).await;

    // The sensor's shard refuses scripts (an ACL: a failure after the keys were read): the
    // reading reaches one topic, and the publisher hears 503.
    redis.cli(shard, &["ACL", "SETUSER", "default", "-evalsha", "-eval"]);
    let (code, body) = record(&server, &sensor, "k-1").await;
    assert_eq!(code, 503, "{body}");
    let (_, first) = all.next_data().await;
    let first = first["onReading"].clone();
    assert_eq!(first["sensor"], sensor.as_str());
    redis.cli(shard, &["ACL", "SETUSER", "default", "+evalsha", "+eval"]);

    // The retry with the same key: the sensor's topic gets the first reading, the other topic
    // nothing more, and the publisher the first answer.
    let (code, body) = record(&server, &sensor, "k-1").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["record"]["id"], first["id"], "{body}");
    let (_, again) = one.next_data().await;
    assert_eq!(again["onReading"], first);
    all.expect_silence(Duration::from_millis(200)).await;
    one.expect_silence(Duration::from_millis(200)).await;
    let _ = std::fs::remove_file(&schema);
}

/// `record(sensor:)` through `server` with an `Idempotency-Key`; the HTTP status and body.
async fn record(server: &TestServer, sensor: &str, key: &str) -> (u16, serde_json::Value) {
    let response = switchboard::net::http_client::client()
        .unwrap()
        .post(format!("http://{}/graphql", server.addr))
        .header("x-api-key", support::KEY)
        .header("idempotency-key", key)
        .json(&json!({
            "query": "mutation R($s: String!) { record(sensor: $s) { id sensor } }",
            "variables": {"s": sensor},
        }))
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    (code, response.json().await.unwrap())
}

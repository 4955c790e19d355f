//! One suite for every connection store: the memory store, Redis (a real `redis-server`) and,
//! with the `dynamodb` feature, a DynamoDB-compatible server. Each store must keep records by
//! connection and by user the same way; shared stores must also let records of a silent node
//! expire while a heartbeat keeps live ones.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use switchboard::store::{ConnectionRecord, ConnectionStore, MemoryStore, SubscriptionRecord};

fn record(id: &str, user: Option<&str>) -> ConnectionRecord {
    ConnectionRecord {
        connection_id: id.to_owned(),
        user_id: user.map(str::to_owned),
        protocol: "graphql-transport-ws".to_owned(),
        remote_addr: "127.0.0.1:1".to_owned(),
        node_id: "node-1".to_owned(),
        connected_at: Utc::now(),
        last_seen: Utc::now(),
        subscriptions: Vec::new(),
    }
}

fn sub(id: &str, user: &str) -> SubscriptionRecord {
    SubscriptionRecord {
        id: id.to_owned(),
        field: "onStatusUpdate".to_owned(),
        arguments: serde_json::Map::from_iter([("userId".to_owned(), user.into())]),
        user_id: Some(user.to_owned()),
    }
}

fn ids(records: &[ConnectionRecord]) -> Vec<String> {
    let mut ids: Vec<String> = records.iter().map(|r| r.connection_id.clone()).collect();
    ids.sort();
    ids
}

/// What every store must do.
async fn records_suite(store: Arc<dyn ConnectionStore>) {
    // A connection with no user yet is found by id only.
    store.connect(record("c1", None)).await.unwrap();
    let got = store.get("c1").await.unwrap().expect("c1 recorded");
    assert_eq!(got.protocol, "graphql-transport-ws");
    assert_eq!(got.node_id, "node-1");
    assert!(got.subscriptions.is_empty());
    assert!(store.get("nobody").await.unwrap().is_none());

    // The first subscription names the connection's user; later ones add users.
    store.subscribe("c1", sub("s1", "alice")).await.unwrap();
    store.subscribe("c1", sub("s2", "bob")).await.unwrap();
    let got = store.get("c1").await.unwrap().unwrap();
    assert_eq!(got.user_id.as_deref(), Some("alice"));
    assert_eq!(got.subscriptions.len(), 2);
    assert_eq!(got.subscriptions[0].arguments["userId"], "alice");
    assert_eq!(ids(&store.by_user("alice").await.unwrap()), ["c1"]);
    assert_eq!(ids(&store.by_user("bob").await.unwrap()), ["c1"]);

    // Replacing a subscription id keeps one of it.
    store.subscribe("c1", sub("s2", "bob")).await.unwrap();
    assert_eq!(store.get("c1").await.unwrap().unwrap().subscriptions.len(), 2);

    // A connection whose user is known at connect (a verified token).
    store.connect(record("c2", Some("alice"))).await.unwrap();
    assert_eq!(ids(&store.by_user("alice").await.unwrap()), ["c1", "c2"]);

    // Unsubscribing from bob leaves c1 alice's, and no longer bob's.
    store.unsubscribe("c1", "s2").await.unwrap();
    assert!(store.by_user("bob").await.unwrap().is_empty());
    assert_eq!(ids(&store.by_user("alice").await.unwrap()), ["c1", "c2"]);

    // Touch moves last_seen.
    let later = Utc::now() + chrono::Duration::seconds(5);
    store.touch("c2", later).await.unwrap();
    let seen = store.get("c2").await.unwrap().unwrap().last_seen;
    assert_eq!(seen.timestamp(), later.timestamp());

    // Operations on unknown connections are harmless.
    store.subscribe("ghost", sub("s", "carol")).await.unwrap();
    store.unsubscribe("ghost", "s").await.unwrap();
    store.touch("ghost", Utc::now()).await.unwrap();
    store.disconnect("ghost").await.unwrap();
    assert!(store.by_user("carol").await.unwrap().is_empty());

    store.disconnect("c1").await.unwrap();
    assert!(store.get("c1").await.unwrap().is_none());
    assert_eq!(ids(&store.by_user("alice").await.unwrap()), ["c2"]);
    store.disconnect("c2").await.unwrap();
    assert!(store.by_user("alice").await.unwrap().is_empty());
    store.heartbeat().await.unwrap();
}

/// What a store shared by several nodes must also do: records expire after `ttl` without a
/// heartbeat, and a heartbeat keeps them. `kept` is node-1's store, `abandoned` node-2's, whose
/// node has died and sends no heartbeat.
async fn expiry_suite(
    kept: Arc<dyn ConnectionStore>,
    abandoned: Arc<dyn ConnectionStore>,
    ttl: Duration,
) {
    kept.connect(record("live", Some("dora"))).await.unwrap();
    kept.subscribe("live", sub("s1", "erin")).await.unwrap();
    let mut crashed = record("crashed", Some("dora"));
    crashed.node_id = "node-2".to_owned();
    abandoned.connect(crashed).await.unwrap();
    let deadline = tokio::time::Instant::now() + ttl * 3;
    while tokio::time::Instant::now() < deadline {
        kept.heartbeat().await.unwrap();
        tokio::time::sleep(ttl / 4).await;
    }
    assert!(abandoned.get("crashed").await.unwrap().is_none());
    assert_eq!(ids(&kept.by_user("dora").await.unwrap()), ["live"]);
    assert_eq!(ids(&kept.by_user("erin").await.unwrap()), ["live"]);
    assert!(kept.get("live").await.unwrap().is_some());
}

#[tokio::test]
async fn memory_store() {
    records_suite(Arc::new(MemoryStore::new())).await;
}

mod redis {
    use super::*;
    use support::redis::RedisServer;
    use switchboard::store::RedisStore;

    async fn store(redis: &RedisServer, node: &str, ttl: Duration) -> Arc<dyn ConnectionStore> {
        let link = switchboard::redis_link::RedisLink::connect(
            &redis.url(),
            "suite",
            Duration::from_secs(2),
        )
        .await
        .unwrap();
        Arc::new(RedisStore::new(link, node, ttl))
    }

    #[tokio::test]
    async fn redis_store() {
        let redis = RedisServer::start();
        records_suite(store(&redis, "node-1", Duration::from_secs(30)).await).await;
    }

    #[tokio::test]
    async fn redis_store_expiry() {
        let redis = RedisServer::start();
        let ttl = Duration::from_millis(600);
        expiry_suite(
            store(&redis, "node-1", ttl).await,
            store(&redis, "node-2", ttl).await,
            ttl,
        )
        .await;
    }
}

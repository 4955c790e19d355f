//! One suite for every connection store: the memory store, Redis (a real `redis-server`) and,
//! with the `dynamodb` feature, a DynamoDB-compatible server. Each store must keep records by
//! connection and by user the same way; shared stores must also let records of a silent node
//! expire while a heartbeat keeps live ones.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use switchboard::store::{ConnectionRecord, ConnectionStore, MemoryStore, SubscriptionRecord};

fn record(id: &str, user: Option<&str>) -> ConnectionRecord {
    ConnectionRecord {
        connection_id: id.to_owned(),
        user_id: user.map(str::to_owned),
        protocol: "graphql-transport-ws".into(),
        remote_addr: "127.0.0.1:1".to_owned(),
        node_id: "node-1".into(),
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

/// Every connection, paged `limit` at a time to the last page; no page is over the limit.
async fn all_paged(store: &dyn ConnectionStore, limit: usize) -> Vec<String> {
    let (mut all, mut cursor) = (Vec::new(), None::<String>);
    for _ in 0..100 {
        let page = store.page(cursor.as_deref(), limit).await.unwrap();
        assert!(
            page.records.len() <= limit,
            "{} > {limit}",
            page.records.len()
        );
        all.extend(page.records.iter().map(|r| r.connection_id.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
    panic!("the pages did not end");
}

/// What every store must do.
async fn records_suite(store: Arc<dyn ConnectionStore>) {
    // Every connection is listed, once, page by page, whatever the page size.
    for n in 0..7 {
        let user = format!("pager{}", n % 2);
        store
            .connect(record(&format!("p{n}"), Some(&user)))
            .await
            .unwrap();
    }
    store.subscribe("p0", sub("s", "pager9")).await.unwrap();
    for limit in [1, 2, 3, 100] {
        let mut all = all_paged(&*store, limit).await;
        all.sort();
        assert_eq!(
            all,
            ["p0", "p1", "p2", "p3", "p4", "p5", "p6"],
            "pages of {limit}"
        );
    }
    for n in 0..7 {
        store.disconnect(&format!("p{n}")).await.unwrap();
    }
    assert!(all_paged(&*store, 10).await.is_empty());

    // A connection with no user yet is found by id only.
    store.connect(record("c1", None)).await.unwrap();
    let got = store.get("c1").await.unwrap().expect("c1 recorded");
    assert_eq!(got.protocol, "graphql-transport-ws");
    assert_eq!(&*got.node_id, "node-1");
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
    assert_eq!(
        store.get("c1").await.unwrap().unwrap().subscriptions.len(),
        2
    );

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
    crashed.node_id = "node-2".into();
    abandoned.connect(crashed).await.unwrap();
    let deadline = tokio::time::Instant::now() + ttl * 3;
    while tokio::time::Instant::now() < deadline {
        kept.heartbeat().await.unwrap();
        tokio::time::sleep(ttl / 4).await;
    }
    assert!(abandoned.get("crashed").await.unwrap().is_none());
    assert_eq!(
        all_paged(&*kept, 10).await,
        ["live"],
        "an expired record is not listed"
    );
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
    use support::redis_cluster::RedisCluster;
    use support::redis_sentinel::RedisSentinel;
    use switchboard::store::RedisStore;

    async fn store(url: &str, node: &str, ttl: Duration) -> Arc<dyn ConnectionStore> {
        let link = switchboard::redis_link::RedisLink::connect(
            url,
            "suite",
            Duration::from_secs(2),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        Arc::new(RedisStore::new(link, node, ttl))
    }

    #[tokio::test]
    async fn redis_store() {
        let redis = RedisServer::start().await;
        records_suite(store(&redis.url(), "node-1", Duration::from_secs(30)).await).await;
    }

    #[tokio::test]
    async fn redis_store_expiry() {
        let redis = RedisServer::start().await;
        expiry_on(&redis.url()).await;
    }

    /// The expiry suite with two nodes' stores on the Redis at `url`.
    async fn expiry_on(url: &str) {
        let ttl = Duration::from_millis(600);
        expiry_suite(
            store(url, "node-1", ttl).await,
            store(url, "node-2", ttl).await,
            ttl,
        )
        .await;
    }

    /// The same suites on a 3-shard Redis Cluster: a record, a node's set and each user's set
    /// are keys in slots of their own.
    #[tokio::test]
    async fn redis_cluster_store() {
        let redis = RedisCluster::start(3, 0).await;
        records_suite(store(&redis.url(), "node-1", Duration::from_secs(30)).await).await;
        expiry_on(&redis.url()).await;
    }

    /// The records suite through Sentinel: the same commands, sent to the master it names.
    #[tokio::test]
    async fn redis_sentinel_store() {
        let redis = RedisSentinel::start(1).await;
        records_suite(store(&redis.url(), "node-1", Duration::from_secs(30)).await).await;
    }
}

#[cfg(feature = "dynamodb")]
mod dynamodb {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use support::moto::MotoServer;
    use switchboard::store::DynamoStore;

    const TABLE: &str = "appsync_connections";

    /// The cluster settings of a node on moto, and a client with the table created.
    async fn setup(moto: &MotoServer) -> (switchboard::config::ClusterSettings, DynamoStore) {
        let settings = switchboard::Settings::from_args(["--dynamodb-endpoint", &moto.endpoint()])
            .unwrap()
            .cluster;
        let client = DynamoStore::client(&settings).await;
        DynamoStore::create_table(&client, TABLE).await.unwrap();
        // Again: creating an existing table is fine.
        DynamoStore::create_table(&client, TABLE).await.unwrap();
        let store = DynamoStore::connect(&settings, "node-1").await.unwrap();
        (settings, store)
    }

    #[tokio::test]
    async fn dynamodb_store() {
        let moto = MotoServer::start().await;
        let (_, store) = setup(&moto).await;
        records_suite(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn dynamodb_store_expiry() {
        let moto = MotoServer::start().await;
        let (settings, _) = setup(&moto).await;
        let client = DynamoStore::client(&settings).await;
        // TTL is in epoch seconds, and moto (Python) answers slowly on a busy machine: 3 s leaves
        // the reads after the last heartbeat a margin of more than 2 s.
        let ttl = Duration::from_secs(3);
        expiry_suite(
            Arc::new(DynamoStore::with_client(
                client.clone(),
                TABLE,
                "node-1",
                ttl,
            )),
            Arc::new(DynamoStore::with_client(client, TABLE, "node-2", ttl)),
            ttl,
        )
        .await;
    }

    #[tokio::test]
    async fn dynamodb_store_without_a_table_fails_to_connect() {
        let moto = MotoServer::start().await;
        let settings = switchboard::Settings::from_args(["--dynamodb-endpoint", &moto.endpoint()])
            .unwrap()
            .cluster;
        let Err(error) = DynamoStore::connect(&settings, "node-1").await else {
            panic!("no table, yet the store connected");
        };
        assert!(error.to_string().contains("appsync_connections"), "{error}");
    }

    /// A user item left behind (a write cut off halfway) names a connection whose record no
    /// longer names that user: `by_user` does not answer with it.
    #[tokio::test]
    async fn stale_user_items_and_odd_user_names() {
        let moto = MotoServer::start().await;
        let settings = switchboard::Settings::from_args(["--dynamodb-endpoint", &moto.endpoint()])
            .unwrap()
            .cluster;
        let client = DynamoStore::client(&settings).await;
        DynamoStore::create_table(&client, "t").await.unwrap();
        let store =
            DynamoStore::with_client(client.clone(), "t", "node-1", Duration::from_secs(30));
        store.connect(record("c1", Some("alice"))).await.unwrap();
        let far = (Utc::now().timestamp() + 3600).to_string();
        client
            .put_item()
            .table_name("t")
            .item("user_id", AttributeValue::S("mallory".into()))
            .item("connection_id", AttributeValue::S("c1".into()))
            .item("expires_at", AttributeValue::N(far))
            .send()
            .await
            .unwrap();
        assert!(store.by_user("mallory").await.unwrap().is_empty());
        assert_eq!(ids(&store.by_user("alice").await.unwrap()), ["c1"]);

        // A user named like the connection item's partition does not overwrite the record.
        store
            .connect(record("c9", Some("connection#c9")))
            .await
            .unwrap();
        store
            .subscribe("c9", sub("s1", "connection#c1"))
            .await
            .unwrap();
        assert_eq!(ids(&store.by_user("connection#c9").await.unwrap()), ["c9"]);
        assert_eq!(ids(&store.by_user("connection#c1").await.unwrap()), ["c9"]);
        assert_eq!(
            store.get("c1").await.unwrap().unwrap().user_id.as_deref(),
            Some("alice")
        );
        store.heartbeat().await.unwrap();
        assert_eq!(
            store.get("c9").await.unwrap().unwrap().subscriptions.len(),
            1
        );
        store.disconnect("c9").await.unwrap();
        assert!(store.by_user("connection#c9").await.unwrap().is_empty());
        assert!(store.by_user("connection#c1").await.unwrap().is_empty());
    }
}

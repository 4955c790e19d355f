//! Several nodes over one real Redis: every subscriber gets exactly its own statuses, once each
//! and in order, whichever node it is on and whichever node the status was published through;
//! a Redis outage fails publishes loudly and heals by itself; a node whose link was cut catches
//! up; a killed node's records expire; the admin API sees and closes connections anywhere.

use crate::support;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use support::cluster::{
    ADMIN_KEY, LinkProxy, ProcessNode, REDIS_TIMEOUT, admin_kick, admin_list, connection_ids,
    history_at, node, node_args, publish_at,
};
use support::redis::RedisServer;
use support::{KEY, Proto, WsClient, assert_status};
use switchboard::pubsub::{BusStats, TopicKeys};

fn prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// Reads the next `expected` statuses of `client` in order, then nothing more.
async fn expect_statuses(client: &mut WsClient, user: &str, expected: &[&str]) {
    for status in expected {
        let (_, data) = client.next_data().await;
        assert_status(&data, user, status);
    }
    client.expect_silence(Duration::from_millis(300)).await;
}

async fn redis_conn(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn three_nodes_deliver_each_status_to_exactly_its_users_subscribers_once_in_order() {
    let redis = RedisServer::start().await;
    let prefix = prefix();
    let mut nodes = Vec::new();
    for i in 1..=3 {
        nodes.push(node(&redis.url(), &prefix, &format!("n{i}"), &[]).await);
    }
    let publisher = node(&redis.url(), &prefix, "publisher", &[]).await;

    // On every node, over every protocol, a subscriber for A and one for B.
    let mut subscribers = Vec::new();
    for server in &nodes {
        for proto in Proto::EVERY {
            for user in ["A", "B"] {
                let mut client = WsClient::ready(server, proto).await;
                client.subscribe_live("s", user).await;
                subscribers.push((user, client));
            }
        }
    }

    let sequence: Vec<(&str, String)> = (1..=10)
        .flat_map(|i| [("B", format!("B{i}")), ("A", format!("A{i}"))])
        .filter(|(user, s)| !(*user == "B" && s.ends_with('7')))
        .collect();
    for (user, status) in &sequence {
        let (code, body) = publish_at(publisher.addr, user, "job-1", status).await;
        assert_eq!(code, 200, "{body}");
    }
    for (user, client) in &mut subscribers {
        let mine: Vec<&str> = sequence
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, s)| s.as_str())
            .collect();
        expect_statuses(client, user, &mine).await;
    }

    // The publishing node holds no subscriber, so Redis sent it nothing.
    let stats = publisher.app.bus.stats();
    assert_eq!(BusStats::get(&stats.received), 0);
    assert_eq!(BusStats::get(&stats.unwanted), 0);
    for server in &nodes {
        let stats = server.app.bus.stats();
        assert_eq!(
            BusStats::get(&stats.received),
            sequence.len() as u64,
            "each node received each event once, whatever its subscriber count"
        );
        assert_eq!(BusStats::get(&stats.duplicates), 0);
    }
    // One channel per topic: six subscribers of A, but one subscription per node.
    let channel = TopicKeys::new(&prefix).stream("onStatusUpdate(userId:\"A\")");
    let (_, count): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channel)
        .query_async::<Vec<(String, u64)>>(&mut redis_conn(&redis).await)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(count, 3);
}

#[tokio::test]
async fn a_node_with_no_subscribers_left_stops_listening() {
    let redis = RedisServer::start().await;
    let prefix = prefix();
    let subscriber_node = node(&redis.url(), &prefix, "n1", &[]).await;
    let mut client = WsClient::ready(&subscriber_node, Proto::TransportWs).await;
    client.subscribe_live("s", "A").await;
    client.stop_live("s").await;
    let channel = TopicKeys::new(&prefix).stream("onStatusUpdate(userId:\"A\")");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let numsub: Vec<(String, u64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut redis_conn(&redis).await)
            .await
            .unwrap();
        if numsub[0].1 == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "still subscribed to {channel}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, _) = publish_at(subscriber_node.addr, "A", "j", "loading_agents").await;
    assert_eq!(code, 200);
    client.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_redis_restart_fails_publishes_with_503_and_heals_by_itself() {
    let mut redis = RedisServer::start().await;
    let prefix = prefix();
    let subscriber_node = node(&redis.url(), &prefix, "n1", &[]).await;
    let publisher = node(&redis.url(), &prefix, "n2", &[]).await;
    let mut clients = Vec::new();
    for proto in Proto::EVERY {
        let mut client = WsClient::ready(&subscriber_node, proto).await;
        client.subscribe_live("s", "A").await;
        clients.push(client);
    }
    for status in ["S1", "S2"] {
        assert_eq!(publish_at(publisher.addr, "A", "j", status).await.0, 200);
    }
    for client in &mut clients {
        expect_statuses(client, "A", &["S1", "S2"]).await;
    }

    redis.stop();
    let (code, body) = publish_at(publisher.addr, "A", "j", "lost?").await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(
        body["errors"][0]["errorType"], "ServiceUnavailable",
        "{body}"
    );
    assert!(body["data"].is_null() || body["data"]["publishStatus"].is_null());

    redis.restart().await;
    let restarted = Instant::now();
    // The publisher's link comes back by itself.
    loop {
        let (code, _) = publish_at(publisher.addr, "A", "j", "S3").await;
        if code == 200 {
            break;
        }
        // Each failed attempt takes at most the Redis timeout; the link redials on its own.
        assert!(
            restarted.elapsed() < REDIS_TIMEOUT * 10,
            "publishing did not resume"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(publish_at(publisher.addr, "A", "j", "S4").await.0, 200);
    for client in &mut clients {
        expect_statuses(client, "A", &["S3", "S4"]).await;
    }
    assert!(
        restarted.elapsed() < REDIS_TIMEOUT * 11,
        "delivery resumed {:?} after the restart",
        restarted.elapsed()
    );
    assert!(BusStats::get(&subscriber_node.app.bus.stats().disconnections) >= 1);
}

#[tokio::test]
async fn a_node_whose_link_was_cut_catches_up_once_it_returns() {
    let redis = RedisServer::start().await;
    let prefix = prefix();
    let proxy = LinkProxy::start(redis.port).await;
    let cut_node = node(&proxy.url(), &prefix, "behind-proxy", &[]).await;
    let publisher = node(&redis.url(), &prefix, "direct", &[]).await;
    let mut clients = Vec::new();
    for proto in Proto::EVERY {
        let mut client = WsClient::ready(&cut_node, proto).await;
        client.subscribe_live("s", "A").await;
        clients.push(client);
    }
    // Someone on the healthy node too, for B.
    let mut other = WsClient::ready(&publisher, Proto::TransportWs).await;
    other.subscribe_live("s", "B").await;

    assert_eq!(publish_at(publisher.addr, "A", "j", "before").await.0, 200);
    for client in &mut clients {
        expect_statuses(client, "A", &["before"]).await;
    }

    proxy.cut();
    let stats = cut_node.app.bus.stats();
    let deadline = Instant::now() + Duration::from_secs(5);
    while BusStats::get(&stats.disconnections) == 0 {
        assert!(Instant::now() < deadline, "the node never noticed the cut");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for status in ["during-1", "during-2", "during-3"] {
        assert_eq!(publish_at(publisher.addr, "A", "j", status).await.0, 200);
        assert_eq!(publish_at(publisher.addr, "B", "j", status).await.0, 200);
    }
    expect_statuses(&mut other, "B", &["during-1", "during-2", "during-3"]).await;

    proxy.restore();
    for client in &mut clients {
        for status in ["during-1", "during-2", "during-3"] {
            let (_, data) = client.next_data().await;
            assert_status(&data, "A", status);
        }
    }
    assert_eq!(publish_at(publisher.addr, "A", "j", "after").await.0, 200);
    for client in &mut clients {
        expect_statuses(client, "A", &["after"]).await;
    }
    assert!(
        BusStats::get(&stats.caught_up) >= 3,
        "the missed events came from the stream"
    );
}

#[tokio::test]
async fn a_killed_nodes_records_expire_and_the_others_carry_on() {
    let redis = RedisServer::start().await;
    let prefix = prefix();
    let heartbeat = Duration::from_millis(500);
    let mut args = node_args(&redis.url(), &prefix, "doomed");
    args.extend(["--heartbeat".to_owned(), "500ms".to_owned()]);
    let mut doomed = ProcessNode::start(&args).await;
    let survivor = node(&redis.url(), &prefix, "survivor", &["--heartbeat", "500ms"]).await;

    let mut on_doomed = WsClient::ready_at(doomed.addr, Proto::AppSync).await;
    on_doomed.subscribe_live("s", "A").await;
    let mut on_survivor = WsClient::ready(&survivor, Proto::TransportWs).await;
    on_survivor.subscribe_live("s", "A").await;
    assert_eq!(publish_at(survivor.addr, "A", "j", "S1").await.0, 200);
    expect_statuses(&mut on_doomed, "A", &["S1"]).await;
    expect_statuses(&mut on_survivor, "A", &["S1"]).await;
    let mut nodes: Vec<String> = connection_ids(survivor.addr, "A")
        .await
        .into_iter()
        .map(|(_, node)| node)
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["doomed", "survivor"]);

    doomed.kill_9().await;
    let killed = Instant::now();
    for status in ["S2", "S3"] {
        assert_eq!(publish_at(survivor.addr, "A", "j", status).await.0, 200);
    }
    expect_statuses(&mut on_survivor, "A", &["S2", "S3"]).await;
    loop {
        let nodes: Vec<String> = connection_ids(survivor.addr, "A")
            .await
            .into_iter()
            .map(|(_, node)| node)
            .collect();
        if nodes == ["survivor"] {
            break;
        }
        assert!(
            killed.elapsed() < heartbeat * 3 + Duration::from_millis(500),
            "the dead node's records outlived three heartbeats: {nodes:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The client of the dead node reconnects elsewhere and backfills from the history.
    drop(on_doomed);
    let mut back = WsClient::ready(&survivor, Proto::AppSync).await;
    back.subscribe_live("s", "A").await;
    assert_eq!(history_at(survivor.addr, "A").await, ["S1", "S2", "S3"]);
    assert_eq!(publish_at(survivor.addr, "A", "j", "S4").await.0, 200);
    expect_statuses(&mut back, "A", &["S4"]).await;
}

#[tokio::test]
async fn admins_list_and_close_connections_on_any_node() {
    let redis = RedisServer::start().await;
    let prefix = prefix();
    let n1 = node(&redis.url(), &prefix, "n1", &[]).await;
    let n2 = node(&redis.url(), &prefix, "n2", &[]).await;
    let mut far = WsClient::ready(&n1, Proto::Legacy).await;
    far.subscribe_live("s", "A").await;
    let mut near = WsClient::ready(&n2, Proto::TransportWs).await;
    near.subscribe_live("s", "A").await;

    // Listed from either node, with the node that holds each.
    let listed = connection_ids(n2.addr, "A").await;
    assert_eq!(listed, connection_ids(n1.addr, "A").await);
    let nodes: Vec<&str> = listed.iter().map(|(_, n)| n.as_str()).collect();
    let mut sorted_nodes = nodes.clone();
    sorted_nodes.sort();
    assert_eq!(sorted_nodes, ["n1", "n2"]);
    let far_id = &listed.iter().find(|(_, n)| n == "n1").unwrap().0;

    // Only admins.
    assert_eq!(admin_list(n2.addr, KEY, "A").await.0, 403);
    assert_eq!(admin_list(n2.addr, "wrong", "A").await.0, 401);
    assert_eq!(admin_kick(n2.addr, KEY, far_id).await, 403);
    // Without a user: every connection, a page at a time, from either node.
    let (code, body) = admin_list(n2.addr, ADMIN_KEY, "").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["connections"].as_array().unwrap().len(), 2, "{body}");
    assert!(body["next"].is_null(), "{body}");
    let http = switchboard::net::http_client::client().unwrap();
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("http://{}/admin/connections?limit=1", n1.addr);
        if let Some(after) = &after {
            url.push_str(&format!("&after={after}"));
        }
        let page: serde_json::Value = http
            .get(url)
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        paged.extend(
            page["connections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["connection_id"].clone()),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged.len(), 2, "{paged:?}");

    // Closing n1's connection through n2.
    assert_eq!(admin_kick(n2.addr, ADMIN_KEY, far_id).await, 204);
    let (code, reason) = far.expect_close().await;
    assert_eq!(
        (code, reason.as_str()),
        (1008, "closed by an administrator")
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while connection_ids(n2.addr, "A").await.len() != 1 {
        assert!(
            Instant::now() < deadline,
            "the closed connection stayed listed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(admin_kick(n2.addr, ADMIN_KEY, far_id).await, 404);
    assert_eq!(
        admin_kick(n2.addr, ADMIN_KEY, "no-such-connection").await,
        404
    );

    // The other connection is untouched.
    assert_eq!(publish_at(n1.addr, "A", "j", "still-here").await.0, 200);
    expect_statuses(&mut near, "A", &["still-here"]).await;
}

#[tokio::test]
async fn history_is_served_by_every_node() {
    let redis = RedisServer::start().await;
    let prefix = prefix();
    let n1 = node(&redis.url(), &prefix, "n1", &["--history-per-topic", "3"]).await;
    let n2 = node(&redis.url(), &prefix, "n2", &["--history-per-topic", "3"]).await;
    for status in ["S1", "S2", "S3", "S4"] {
        assert_eq!(publish_at(n1.addr, "A", "j", status).await.0, 200);
    }
    assert_eq!(history_at(n2.addr, "A").await, ["S2", "S3", "S4"]);
    assert_eq!(history_at(n1.addr, "A").await, ["S2", "S3", "S4"]);
    assert!(history_at(n2.addr, "B").await.is_empty());
    // statusHistory reads the subscription topic's stream: one stream per topic, and it expires.
    let mut conn = redis_conn(&redis).await;
    let keys = TopicKeys::new(&prefix);
    let topic = "onStatusUpdate(userId:\"A\")";
    for key in [keys.stream(topic), keys.meta(topic)] {
        let ttl: i64 = conn.pttl(&key).await.unwrap();
        assert!(ttl > 0, "{key} expires");
    }
    let keys: Vec<String> = conn.keys(format!("{prefix}:*")).await.unwrap();
    assert!(
        keys.iter().all(|k| !k.contains("statusHistory")),
        "no second stream for the history query: {keys:?}"
    );
}

#[tokio::test]
async fn an_overflowing_inbox_catches_up_from_the_streams() {
    let redis = RedisServer::start().await;
    let prefix = prefix();
    // The smallest inbox: a burst from Redis overflows it.
    let receiver = node(
        &redis.url(),
        &prefix,
        "small-inbox",
        &["--redis-inbox", "16"],
    )
    .await;
    let publisher = node(&redis.url(), &prefix, "publisher", &[]).await;
    let mut client = WsClient::ready(&receiver, Proto::TransportWs).await;
    client.subscribe_live("s", "A").await;
    let stats = receiver.app.bus.stats();
    let mut published = Vec::new();
    // Bursts of concurrent publishes until one overflows the inbox (the first nearly always does).
    for burst in 0..5 {
        let statuses: Vec<String> = (0..100).map(|n| format!("b{burst}-{n}")).collect();
        let sends = statuses
            .iter()
            .map(|status| publish_at(publisher.addr, "A", "j", status));
        for (code, body) in futures_util::future::join_all(sends).await {
            assert_eq!(code, 200, "{body}");
        }
        published.extend(statuses);
        if BusStats::get(&stats.inbox_overflows) > 0 {
            break;
        }
    }
    assert!(
        BusStats::get(&stats.inbox_overflows) > 0,
        "no burst overflowed the inbox"
    );
    // Every status arrives exactly once: what the inbox dropped came from the streams.
    let mut received = Vec::new();
    while received.len() < published.len() {
        let (_, data) = client.next_data().await;
        received.push(
            data["onStatusUpdate"]["status"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    client.expect_silence(Duration::from_millis(300)).await;
    let mut sorted = received.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), published.len(), "no duplicates: {received:?}");
    published.sort();
    assert_eq!(sorted, published);
}

//! AppSync Events: `aws-appsync-event-ws` on `/event/realtime` and `POST /event`, in the shapes
//! the official clients rely on (transcripts of what Swift and Kotlin send: credentials only in
//! the upgrade's headers, no `connection_init`), channels with wildcards, every documented
//! refusal while the server keeps serving, and a cluster over Redis.

use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value as Json, json};
use support::cluster::node;
use support::redis::RedisServer;
use support::{KEY, Proto, TestServer, WsClient};

pub(crate) const SUBPROTOCOL: &str = "aws-appsync-event-ws";

/// An Events socket as Swift and Kotlin open one: the API key in the upgrade's headers only.
pub(crate) async fn events_socket(addr: SocketAddr, key: &str) -> WsClient {
    let url = format!("ws://{addr}/event/realtime");
    let headers = [("x-api-key".to_owned(), key.to_owned())];
    let (client, selected) =
        WsClient::dial(Proto::AppSync, &url, &[SUBPROTOCOL.to_owned()], &headers).await;
    assert_eq!(selected.as_deref(), Some(SUBPROTOCOL), "answered exactly");
    client
}

pub(crate) async fn subscribe(client: &mut WsClient, id: &str, channel: &str) -> Json {
    client
        .send(json!({"type": "subscribe", "id": id, "channel": channel}))
        .await;
    client.next_json().await
}

pub(crate) async fn post_event(addr: SocketAddr, body: Json) -> (u16, Json) {
    let response = switchboard::net::http_client::client()
        .unwrap()
        .post(format!("http://{addr}/event"))
        .header("x-api-key", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    (code, response.json().await.unwrap())
}

/// The next `data` frame: its subscription id and its event, parsed.
pub(crate) async fn next_event(client: &mut WsClient) -> (String, Json) {
    let message = client.next_json().await;
    assert_eq!(message["type"], "data", "{message}");
    let event = message["event"]
        .as_str()
        .unwrap_or_else(|| panic!("a string event: {message}"));
    (
        message["id"].as_str().unwrap().to_owned(),
        serde_json::from_str(event).unwrap(),
    )
}

#[tokio::test]
async fn the_shapes_swift_and_kotlin_rely_on() {
    let server = TestServer::start().await;
    let mut client = events_socket(server.addr, KEY).await;
    // No connection_init: subscribe at once, on the upgrade's credentials.
    let answer = subscribe(&mut client, "s1", "/default/jobs").await;
    assert_eq!(
        (&answer["type"], &answer["id"]),
        (&json!("subscribe_success"), &json!("s1"))
    );
    // The stream's state rides along (AWS's clients ignore what they do not know).
    assert_eq!(answer["stream"]["recovered"], false, "{answer}");
    assert!(answer["stream"]["epoch"].is_string(), "{answer}");
    let (code, body) = post_event(
        server.addr,
        json!({"channel": "/default/jobs", "events": ["{\"status\":\"validating\"}", "7"]}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["failed"], json!([]));
    let successful = body["successful"].as_array().unwrap();
    assert_eq!(successful.len(), 2);
    for (index, entry) in successful.iter().enumerate() {
        assert_eq!(entry["index"], index);
        assert!(entry["identifier"].is_string(), "{entry}");
    }
    // One data frame per event, each `event` a JSON string.
    assert_eq!(
        next_event(&mut client).await,
        ("s1".to_owned(), json!({"status": "validating"}))
    );
    assert_eq!(next_event(&mut client).await, ("s1".to_owned(), json!(7)));

    // A publish over the socket: publish_success first, then the data, to itself too.
    client
        .send(json!({"type": "publish", "id": "p1", "channel": "/default/jobs", "events": ["{\"n\":1}"]}))
        .await;
    let success = client.next_json().await;
    assert_eq!(success["type"], "publish_success", "{success}");
    assert_eq!(success["id"], "p1");
    assert_eq!(success["successful"][0]["index"], 0);
    assert_eq!(success["failed"], json!([]));
    assert_eq!(next_event(&mut client).await.1, json!({"n": 1}));

    // connection_init is answered with connectionTimeoutMs at the top level and in `payload`,
    // then a keep-alive at once.
    client.send(json!({"type": "connection_init"})).await;
    let ack = client.next_frame_json().await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    assert!(ack["connectionTimeoutMs"].as_u64().unwrap() > 0);
    assert_eq!(
        ack["payload"]["connectionTimeoutMs"],
        ack["connectionTimeoutMs"]
    );
    assert_eq!(client.next_frame_json().await, json!({"type": "ka"}));

    // Amplify's copies under `payload` are read too.
    client
        .send(
            json!({"type": "subscribe", "id": "s2", "payload": {"channel": "/default/other",
            "extensions": {"authorization": {"x-api-key": KEY}}}}),
        )
        .await;
    assert_eq!(client.next_json().await["type"], "subscribe_success");
    client
        .send(json!({"type": "unsubscribe", "id": "s2"}))
        .await;
    assert_eq!(
        client.next_json().await,
        json!({"type": "unsubscribe_success", "id": "s2"})
    );
}

#[tokio::test]
async fn exact_and_wildcard_channels_get_exactly_their_events_in_order() {
    let server = TestServer::start().await;
    let mut a = events_socket(server.addr, KEY).await;
    let mut b = events_socket(server.addr, KEY).await;
    let mut all = events_socket(server.addr, KEY).await;
    for (client, channel) in [
        (&mut a, "/default/users/A"),
        (&mut b, "default/users/B"),
        (&mut all, "/default/users/*"),
    ] {
        assert_eq!(
            subscribe(client, "s", channel).await["type"],
            "subscribe_success"
        );
    }
    let mut publisher = events_socket(server.addr, KEY).await;
    for (n, (user, status)) in [
        ("B", "B1"),
        ("A", "A1"),
        ("B", "B2"),
        ("A", "A2"),
        ("A", "A3"),
    ]
    .into_iter()
    .enumerate()
    {
        let channel = format!("/default/users/{user}");
        let event = json!({"status": status}).to_string();
        if n % 2 == 0 {
            let (code, body) =
                post_event(server.addr, json!({"channel": channel, "events": [event]})).await;
            assert_eq!(code, 200, "{body}");
        } else {
            publisher
                .send(json!({"type": "publish", "id": format!("p{n}"), "channel": channel, "events": [event]}))
                .await;
            assert_eq!(publisher.next_json().await["type"], "publish_success");
        }
    }
    let statuses = async |client: &mut WsClient, count: usize| {
        let mut got = Vec::new();
        for _ in 0..count {
            got.push(
                next_event(client).await.1["status"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        client.expect_silence(Duration::from_millis(50)).await;
        got
    };
    assert_eq!(statuses(&mut a, 3).await, ["A1", "A2", "A3"]);
    assert_eq!(statuses(&mut b, 2).await, ["B1", "B2"]);
    assert_eq!(statuses(&mut all, 5).await, ["B1", "A1", "B2", "A2", "A3"]);
}

#[tokio::test]
async fn bad_input_gets_its_answer_and_the_server_keeps_serving() {
    let server =
        TestServer::with_args(&["--max-event-subscriptions", "2", "--max-event-bytes", "100"])
            .await;
    let mut client = events_socket(server.addr, KEY).await;
    let long = format!("/default/{}", "a".repeat(51));
    for channel in ["/nope/x", "/default/a/b/c/d/e", long.as_str()] {
        let answer = subscribe(&mut client, "bad", channel).await;
        assert_eq!(answer["type"], "subscribe_error", "{channel}: {answer}");
        assert_eq!(
            answer["errors"][0]["errorType"], "BadRequestException",
            "{answer}"
        );
    }
    // A publish to a wildcard, six events: publish_error.
    for (channel, events) in [
        ("/default/*", json!(["1"])),
        ("/default/x", json!(["1", "2", "3", "4", "5", "6"])),
    ] {
        client
            .send(json!({"type": "publish", "id": "p", "channel": channel, "events": events}))
            .await;
        let answer = client.next_json().await;
        assert_eq!(answer["type"], "publish_error", "{answer}");
        assert_eq!(answer["id"], "p");
    }
    // An event that is not JSON and one too large are reported in `failed`, never dropped.
    let big = json!({"x": "y".repeat(200)}).to_string();
    let (code, body) = post_event(
        server.addr,
        json!({"channel": "/default/x", "events": ["{not json", big, "true"]}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["successful"][0]["index"], 2);
    let failed: Vec<(u64, u64)> = body["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["index"].as_u64().unwrap(),
                f["errorCode"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(failed, [(0, 400), (1, 413)]);
    let (code, body) = post_event(
        server.addr,
        json!({"channel": "/default/*", "events": ["1"]}),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["errors"][0]["errorType"], "BadRequestException");
    // The subscription limit; a duplicate live id is refused, its subscription untouched.
    assert_eq!(
        subscribe(&mut client, "s1", "/default/a").await["type"],
        "subscribe_success"
    );
    let duplicate = subscribe(&mut client, "s1", "/default/b").await;
    assert_eq!(
        (
            &duplicate["type"],
            &duplicate["id"],
            &duplicate["errors"][0]["errorType"]
        ),
        (
            &json!("subscribe_error"),
            &json!("s1"),
            &json!("DuplicatedOperationError")
        ),
        "{duplicate}"
    );
    assert_eq!(
        subscribe(&mut client, "s2", "/default/c").await["type"],
        "subscribe_success"
    );
    let third = subscribe(&mut client, "s3", "/default/d").await;
    assert_eq!(
        third["errors"][0]["errorType"], "MaxSubscriptionsReachedError",
        "{third}"
    );
    client
        .send(json!({"type": "unsubscribe", "id": "nope"}))
        .await;
    let unknown = client.next_json().await;
    assert_eq!(unknown["type"], "unsubscribe_error");
    assert_eq!(unknown["errors"][0]["errorType"], "UnknownOperationError");
    assert_eq!(unknown["errors"][0]["message"], "Unknown operation id nope");
    // s1 stayed on /default/a: an event on /default/b reaches nobody, one on /default/a s1.
    for channel in ["/default/b", "/default/a"] {
        let (code, _) = post_event(server.addr, json!({"channel": channel, "events": ["1"]})).await;
        assert_eq!(code, 200);
    }
    assert_eq!(next_event(&mut client).await.0, "s1");
    client.expect_silence(Duration::from_millis(50)).await;

    // Bad credentials: per message, then on connect.
    client
        .send(json!({"type": "subscribe", "id": "x", "channel": "/default/a", "authorization": {"x-api-key": "wrong"}}))
        .await;
    let refused = client.next_json().await;
    assert_eq!(refused["type"], "subscribe_error");
    assert_eq!(refused["errors"][0]["errorType"], "UnauthorizedException");
    let mut stranger = events_socket(server.addr, "wrong").await;
    let error = stranger.next_json().await;
    assert_eq!(error["type"], "connection_error", "{error}");
    assert_eq!(error["errors"][0]["errorType"], "UnauthorizedException");
    assert_eq!(error["errors"][0]["errorCode"], 401);
    // No credentials anywhere: a message is refused.
    let url = format!("ws://{}/event/realtime", server.addr);
    let (mut anonymous, _) =
        WsClient::dial(Proto::AppSync, &url, &[SUBPROTOCOL.to_owned()], &[]).await;
    let answer = subscribe(&mut anonymous, "s", "/default/a").await;
    assert_eq!(
        answer["errors"][0]["errorType"], "UnauthorizedException",
        "{answer}"
    );
    // Still serving.
    let mut fresh = events_socket(server.addr, KEY).await;
    assert_eq!(
        subscribe(&mut fresh, "s", "/default/a").await["type"],
        "subscribe_success"
    );
}

#[tokio::test]
async fn three_nodes_over_redis_carry_events_once_each_in_order() {
    let redis = RedisServer::start().await;
    let prefix = format!("events{}", uuid::Uuid::new_v4().simple());
    let n1 = node(&redis.url(), &prefix, "n1", &[]).await;
    let n2 = node(&redis.url(), &prefix, "n2", &[]).await;
    let n3 = node(&redis.url(), &prefix, "n3", &[]).await;
    let mut on2 = events_socket(n2.addr, KEY).await;
    let mut on3 = events_socket(n3.addr, KEY).await;
    assert_eq!(
        subscribe(&mut on2, "s", "/default/jobs/*").await["type"],
        "subscribe_success"
    );
    assert_eq!(
        subscribe(&mut on3, "s", "/default/jobs/j1").await["type"],
        "subscribe_success"
    );
    for n in 0..20 {
        let (code, body) = post_event(
            n1.addr,
            json!({"channel": "/default/jobs/j1", "events": [json!({"n": n}).to_string()]}),
        )
        .await;
        assert_eq!(code, 200, "{body}");
    }
    for client in [&mut on2, &mut on3] {
        for n in 0..20 {
            assert_eq!(next_event(client).await.1, json!({"n": n}));
        }
        client.expect_silence(Duration::from_millis(100)).await;
    }
}

/// An Events socket presenting a token in the upgrade's `Authorization` header.
pub(crate) async fn events_socket_as(addr: SocketAddr, token: &str) -> WsClient {
    let url = format!("ws://{addr}/event/realtime");
    let headers = [("authorization".to_owned(), token.to_owned())];
    let (client, _) =
        WsClient::dial(Proto::AppSync, &url, &[SUBPROTOCOL.to_owned()], &headers).await;
    client
}

#[tokio::test]
async fn a_bridged_mutation_reaches_graphql_and_events_subscribers() {
    let server = TestServer::with_args(&[
        "--event-namespaces",
        "default,status",
        "--event-bridge",
        "publishStatus=/status/{userId}/{jobId}",
    ])
    .await;
    let mut graphql = WsClient::ready(&server, Proto::AppSync).await;
    graphql.subscribe_live("g", "u1").await;
    let mut events = events_socket(server.addr, KEY).await;
    assert_eq!(
        subscribe(&mut events, "e", "/status/u1/*").await["type"],
        "subscribe_success"
    );
    server.publish("u1", "j1", "validating").await;
    let (_, data) = graphql.next_data().await;
    assert_eq!(data["onStatusUpdate"]["status"], "validating");
    let (id, event) = next_event(&mut events).await;
    assert_eq!(id, "e");
    assert_eq!(event["status"], "validating");
    assert_eq!(event["jobId"], "j1");
    assert_eq!(event["userId"], "u1");
}

#[tokio::test]
async fn events_connections_are_recorded_and_an_admin_can_close_one() {
    use support::auth::{OIDC_ARGS, claims, hs256};
    let mut args = OIDC_ARGS.to_vec();
    args.extend(["--admin-api-key", "admin-key"]);
    let server = TestServer::with_args(&args).await;
    let mut client = events_socket_as(server.addr, &hs256(&claims("u7", json!({})))).await;
    assert_eq!(
        subscribe(&mut client, "s", "/default/jobs/j7").await["type"],
        "subscribe_success"
    );
    let http = switchboard::net::http_client::client().unwrap();
    let listed: Json = http
        .get(format!(
            "http://{}/admin/connections?userId=u7",
            server.addr
        ))
        .header("x-api-key", "admin-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connection = &listed["connections"][0];
    assert_eq!(connection["protocol"], "appsync-events", "{listed}");
    assert_eq!(
        connection["subscriptions"][0]["arguments"]["channel"],
        "/default/jobs/j7"
    );
    let id = connection["connection_id"]
        .as_str()
        .or_else(|| connection["connectionId"].as_str())
        .unwrap_or_else(|| panic!("an id: {connection}"));
    let closed = http
        .delete(format!("http://{}/admin/connections/{id}", server.addr))
        .header("x-api-key", "admin-key")
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 204);
    let (code, _) = client.expect_close().await;
    assert_eq!(code, 1008, "as every protocol is kicked");
}

#[tokio::test]
async fn a_node_whose_redis_link_was_cut_catches_its_events_subscribers_up() {
    use support::cluster::LinkProxy;
    use switchboard::pubsub::BusStats;
    let redis = RedisServer::start().await;
    let prefix = format!("eventscut{}", uuid::Uuid::new_v4().simple());
    let proxy = LinkProxy::start(redis.port).await;
    let cut = node(
        &proxy.url(),
        &prefix,
        "behind-proxy",
        &["--store", "memory"],
    )
    .await;
    let publisher = node(&redis.url(), &prefix, "direct", &[]).await;
    let mut client = events_socket(cut.addr, KEY).await;
    assert_eq!(
        subscribe(&mut client, "s", "/default/jobs/*").await["type"],
        "subscribe_success"
    );
    let post = async |n: i32| {
        let (code, body) = post_event(
            publisher.addr,
            json!({"channel": "/default/jobs/j1", "events": [json!({"n": n}).to_string()]}),
        )
        .await;
        assert_eq!(code, 200, "{body}");
    };
    post(0).await;
    assert_eq!(next_event(&mut client).await.1, json!({"n": 0}));
    proxy.cut();
    let stats = cut.app.bus.stats();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while BusStats::get(&stats.disconnections) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node never noticed the cut"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 1..=3 {
        post(n).await;
    }
    proxy.restore();
    for n in 1..=3 {
        assert_eq!(next_event(&mut client).await.1, json!({"n": n}));
    }
    post(4).await;
    assert_eq!(next_event(&mut client).await.1, json!({"n": 4}));
    client.expect_silence(Duration::from_millis(100)).await;
    assert!(
        BusStats::get(&stats.caught_up) >= 3,
        "the missed events came from the streams"
    );
}

#[tokio::test]
async fn metrics_count_events_apart_from_graphql() {
    let server = TestServer::start().await;
    let mut client = events_socket(server.addr, KEY).await;
    assert_eq!(
        subscribe(&mut client, "s", "/default/m").await["type"],
        "subscribe_success"
    );
    let (code, _) = post_event(
        server.addr,
        json!({"channel": "/default/m", "events": ["1", "2"]}),
    )
    .await;
    assert_eq!(code, 200);
    next_event(&mut client).await;
    next_event(&mut client).await;
    let text = switchboard::net::http_client::client()
        .unwrap()
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "switchboard_connections{protocol=\"appsync-events\"} 1",
        "switchboard_events_published_total 2",
        "switchboard_event_deliveries_total 2",
        "switchboard_statuses_published_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

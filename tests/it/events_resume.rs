//! Never missing an event on AppSync Events: every `data` carries its stream position,
//! `subscribe_success` the stream's state, and a `subscribe` with `resume` gets what it missed
//! once, in order, then the live events; `replay` gets the newest kept ones. In memory, and over
//! Redis with two nodes (published on one, resumed on the other).

use crate::events::{events_socket, post_event};
use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value as Json, json};
use support::cluster::node;
use support::redis::RedisServer;
use support::{KEY, TestServer, WsClient};

const CHANNEL: &str = "/default/resume/u1";

async fn publish(addr: SocketAddr, n: u64) {
    let event = json!({"n": n}).to_string();
    let (code, body) = post_event(addr, json!({"channel": CHANNEL, "events": [event]})).await;
    assert_eq!(code, 200, "{body}");
}

async fn subscribe(client: &mut WsClient, id: &str, extra: Json) -> Json {
    let mut message = json!({"type": "subscribe", "id": id, "channel": CHANNEL});
    message
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    client.send(message).await;
    let answer = client.next_json().await;
    assert_eq!(answer["type"], "subscribe_success", "{answer}");
    answer
}

/// The next `data`: its event's `n` and its stream position.
async fn next(client: &mut WsClient) -> (u64, Json) {
    let data = client.next_json().await;
    assert_eq!(data["type"], "data", "{data}");
    let event: Json = serde_json::from_str(data["event"].as_str().unwrap()).unwrap();
    (event["n"].as_u64().unwrap(), data["stream"].clone())
}

/// Subscribes on `subscriber`, publishes 1..=3 on `publisher`, leaves after the second, resumes
/// from it on `subscriber` (a new socket) with 4 and 5 published meanwhile: 3, 4, 5, then live 6.
async fn resume_across(publisher: SocketAddr, subscriber: SocketAddr) {
    let mut first = events_socket(subscriber, KEY).await;
    let answer = subscribe(&mut first, "s", json!({})).await;
    let epoch = answer["stream"]["epoch"].clone();
    assert!(epoch.is_string(), "{answer}");
    for n in 1..=3 {
        publish(publisher, n).await;
    }
    let (n, one) = next(&mut first).await;
    assert_eq!(n, 1);
    assert_eq!(one["epoch"], epoch, "{one}");
    let (n, two) = next(&mut first).await;
    assert_eq!(n, 2);
    assert_eq!(two["offset"], one["offset"].as_u64().unwrap() + 1);
    first.close().await;
    for n in 4..=5 {
        publish(publisher, n).await;
    }

    let mut again = events_socket(subscriber, KEY).await;
    let answer = subscribe(&mut again, "s", json!({"resume": two})).await;
    assert_eq!(answer["stream"]["recovered"], true, "{answer}");
    let mut offsets = Vec::new();
    for expected in 3..=5 {
        let (n, at) = next(&mut again).await;
        assert_eq!(n, expected);
        offsets.push(at["offset"].as_u64().unwrap());
    }
    publish(publisher, 6).await;
    let (n, at) = next(&mut again).await;
    assert_eq!(n, 6, "then live");
    offsets.push(at["offset"].as_u64().unwrap());
    let first_offset = two["offset"].as_u64().unwrap() + 1;
    assert_eq!(
        offsets,
        (first_offset..first_offset + 4).collect::<Vec<_>>()
    );
    again.expect_silence(Duration::from_millis(100)).await;

    // A replay of the newest two, and a resume from a position the stream never had.
    let mut replayed = events_socket(subscriber, KEY).await;
    subscribe(&mut replayed, "r", json!({"replay": {"last": 2}})).await;
    assert_eq!(next(&mut replayed).await.0, 5);
    assert_eq!(next(&mut replayed).await.0, 6);
    let stranger = json!({"resume": {"epoch": "not-this-one", "offset": 2}});
    let answer = subscribe(&mut replayed, "x", stranger).await;
    assert_eq!(answer["stream"]["recovered"], false, "{answer}");
    // A bad resume is refused with its id.
    replayed
        .send(json!({"type": "subscribe", "id": "bad", "channel": CHANNEL, "resume": "E:4"}))
        .await;
    let refused = loop {
        let message = replayed.next_json().await;
        if message["type"] != "data" {
            break message;
        }
    };
    assert_eq!(
        (&refused["type"], &refused["id"]),
        (&json!("subscribe_error"), &json!("bad"))
    );
    assert_eq!(refused["errors"][0]["errorType"], "BadRequestException");
}

#[tokio::test]
async fn an_events_subscriber_resumes_and_replays_in_memory() {
    let server = TestServer::start().await;
    resume_across(server.addr, server.addr).await;
}

#[tokio::test]
async fn an_events_subscriber_resumes_on_another_node_over_redis() {
    let redis = RedisServer::start().await;
    let prefix = format!("evresume{}", uuid::Uuid::new_v4().simple());
    let one = node(&redis.url(), &prefix, "one", &[]).await;
    let two = node(&redis.url(), &prefix, "two", &[]).await;
    resume_across(one.addr, two.addr).await;
}

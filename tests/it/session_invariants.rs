//! The connection actor's invariants, each checked against all four protocols by one table:
//! graphql-transport-ws, Apollo's legacy protocol, AppSync GraphQL and AppSync Events. One actor
//! serves them all, so a case that holds for one and not another is a bug of that codec.

use crate::events::{SUBPROTOCOL, events_socket};
use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value as Json, json};
use support::cluster::{ProcessNode, post_at};
use support::{KEY, Proto, TestServer, WsClient};
use tokio_tungstenite::tungstenite::Message;

/// One of the four protocols, as a test drives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Wire {
    Graphql(Proto),
    Events,
}

pub(crate) const WIRES: [Wire; 4] = [
    Wire::Graphql(Proto::TransportWs),
    Wire::Graphql(Proto::Legacy),
    Wire::Graphql(Proto::AppSync),
    Wire::Events,
];

impl Wire {
    /// A connection subscribed (as `id`) to what `user` is sent: `onStatusUpdate(userId)`, or
    /// the Events channel `/default/<user>`.
    pub(crate) async fn subscribed(self, addr: SocketAddr, id: &str, user: &str) -> WsClient {
        match self {
            Wire::Graphql(proto) => {
                let mut client = WsClient::ready_at(addr, proto).await;
                client.subscribe_live(id, user).await;
                client
            }
            Wire::Events => {
                let mut client = events_socket(addr, KEY).await;
                let answer = self.subscribe(&mut client, id, user).await;
                assert_eq!(answer["type"], "subscribe_success", "{answer}");
                client
            }
        }
    }

    /// Sends a subscribe for `user` as `id` and, for Events, returns its answer.
    async fn subscribe(self, client: &mut WsClient, id: &str, user: &str) -> Json {
        match self {
            Wire::Graphql(_) => {
                client.subscribe_user(id, user).await;
                Json::Null
            }
            Wire::Events => {
                let channel = format!("/default/{user}");
                client
                    .send(json!({"type": "subscribe", "id": id, "channel": channel}))
                    .await;
                client.next_json().await
            }
        }
    }

    /// The status a delivery carries; `None` for any other message.
    pub(crate) fn status_of(self, message: &Json) -> Option<String> {
        if !matches!(message["type"].as_str(), Some("next" | "data")) {
            return None;
        }
        let status = match self {
            Wire::Events => {
                let event: Json = serde_json::from_str(message["event"].as_str()?).ok()?;
                event["status"].as_str()?.to_owned()
            }
            Wire::Graphql(_) => message["payload"]["data"]["onStatusUpdate"]["status"]
                .as_str()?
                .to_owned(),
        };
        Some(status)
    }

    /// Publishes status `n` for `user` with `padding` beside it; the HTTP status.
    async fn publish(self, addr: SocketAddr, user: &str, n: usize, padding: &str) -> u16 {
        self.publish_answer(addr, user, n, padding).await.0
    }

    /// Publishes status `n` for `user` with `padding` beside it; the HTTP status and body.
    pub(crate) async fn publish_answer(
        self,
        addr: SocketAddr,
        user: &str,
        n: usize,
        padding: &str,
    ) -> (u16, Json) {
        let status = format!("s{n}");
        match self {
            Wire::Graphql(_) => post_at(
                addr,
                "mutation P($i: StatusInput!) { publishStatus(input: $i) { status } }",
                json!({"i": {"userId": user, "jobId": "j", "status": status, "message": padding}}),
            )
            .await,
            Wire::Events => {
                let event = json!({"status": status, "message": padding}).to_string();
                crate::events::post_event(
                    addr,
                    json!({"channel": format!("/default/{user}"), "events": [event]}),
                )
                .await
            }
        }
    }
}

/// SIGTERM while each subscriber's mailbox holds more than the socket buffers: every
/// acknowledged status is written before the 1001.
#[tokio::test]
async fn shutdown_writes_the_whole_mailbox_before_1001() {
    const STATUSES: usize = 1_200;
    let mut node = ProcessNode::start(&[
        "--shutdown-deadline".into(),
        "20s".into(),
        "--outbound-queue".into(),
        "4096".into(),
    ])
    .await;
    let addr = node.addr;
    // 4 KiB statuses: 1,200 of them are ~5 MiB per subscriber, past loopback's buffers.
    let padding = "p".repeat(4 * 1024);
    let mut subscribers = Vec::new();
    for (n, wire) in WIRES.into_iter().enumerate() {
        let user = format!("drain{n}");
        subscribers.push((wire, wire.subscribed(addr, "s", &user).await, user));
    }
    let publishers = subscribers.iter().map(|(wire, _, user)| {
        let (wire, user, padding) = (*wire, user.clone(), padding.clone());
        tokio::spawn(async move {
            for n in 0..STATUSES {
                assert_eq!(
                    wire.publish(addr, &user, n, &padding).await,
                    200,
                    "{wire:?}"
                );
            }
        })
    });
    for publisher in futures_util::future::join_all(publishers).await {
        publisher.unwrap();
    }
    node.signal("TERM");
    for (wire, mut client, _) in subscribers {
        let (received, code) = client.data_until_close().await;
        assert_eq!((received, code), (STATUSES, 1001), "{wire:?}");
    }
    assert!(node.wait().await.success());
}

/// A subscriber that stopped reading is closed as a slow consumer (1008) once its mailbox
/// overflows, even while its write is stuck; the node and the other subscribers carry on.
#[tokio::test]
async fn a_stuck_writer_overflows_and_is_closed_as_a_slow_consumer() {
    let server = TestServer::with_args(&["--outbound-queue", "16"]).await;
    let padding = "x".repeat(32 * 1024);
    for wire in WIRES {
        let user = format!("stuck-{wire:?}");
        let mut stuck = wire.subscribed(server.addr, "s", &user).await;
        let before = server
            .app
            .metrics
            .slow_consumer_disconnects
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut published = 0;
        while server
            .app
            .metrics
            .slow_consumer_disconnects
            .load(std::sync::atomic::Ordering::Relaxed)
            == before
        {
            assert!(published < 2_000, "{wire:?} was never closed");
            assert_eq!(
                wire.publish(server.addr, &user, published, &padding).await,
                200
            );
            published += 1;
        }
        let (_, code) = stuck.data_until_close().await;
        assert_eq!(code, 1008, "{wire:?}");
    }
}

/// A reused live id: graphql-transport-ws closes with 4409, AppSync Events answers
/// `subscribe_error` and keeps the first subscription; the legacy protocol and AppSync replace
/// it (Amplify re-sends its ids). Either way exactly one subscription holds the id.
#[tokio::test]
async fn a_duplicate_id_is_refused_or_replaced_as_the_protocol_says() {
    let server = TestServer::start().await;
    for wire in WIRES {
        let user = format!("dup-{wire:?}");
        let mut client = wire.subscribed(server.addr, "dup", &user).await;
        let answer = wire.subscribe(&mut client, "dup", &user).await;
        match wire {
            Wire::Graphql(Proto::TransportWs) => {
                assert_eq!(client.expect_close().await.0, 4409);
                continue;
            }
            Wire::Events => {
                assert_eq!(answer["type"], "subscribe_error", "{answer}");
                assert_eq!(answer["errors"][0]["errorType"], "DuplicatedOperationError");
            }
            Wire::Graphql(_) => client.barrier().await,
        }
        assert_eq!(wire.publish(server.addr, &user, 1, "").await, 200);
        let data = client.next_json().await;
        assert_eq!(data["id"], "dup", "{wire:?}: {data}");
        client.expect_silence(Duration::from_millis(100)).await;
    }
}

/// A binary frame is answered in the protocol: an error, or a close with a reason.
#[tokio::test]
async fn a_binary_frame_is_answered() {
    let server = TestServer::start().await;
    for wire in WIRES {
        let mut client = wire.subscribed(server.addr, "s", "bin").await;
        client
            .send_message(Message::Binary(vec![1, 2, 3].into()))
            .await;
        match client.next_message().await {
            Some(Message::Text(text)) => assert!(text.contains("error"), "{wire:?}: {text}"),
            Some(Message::Close(Some(close))) => {
                assert_eq!(u16::from(close.code), 4400, "{wire:?}");
                assert!(!close.reason.is_empty(), "{wire:?}");
            }
            other => panic!("{wire:?}: no answer to a binary frame: {other:?}"),
        }
    }
}

/// A frame over `--max-frame-bytes` closes with 1009 on every protocol.
#[tokio::test]
async fn a_frame_over_the_limit_closes_with_1009() {
    let server = TestServer::with_args(&["--max-frame-bytes", "4096"]).await;
    for wire in WIRES {
        let mut client = wire.subscribed(server.addr, "s", "big").await;
        client.send_text(&"x".repeat(8192)).await;
        assert_eq!(client.expect_close().await.0, 1009, "{wire:?}");
    }
}

/// A connection's lifetime ends with 1000 on every protocol (the client reconnects).
#[tokio::test]
async fn the_lifetime_ends_every_protocol_with_1000() {
    let server = TestServer::with_args(&["--max-connection-lifetime", "1s"]).await;
    let mut clients = Vec::new();
    for wire in WIRES {
        clients.push((wire, wire.subscribed(server.addr, "s", "life").await));
    }
    for (wire, mut client) in clients {
        let (code, reason) = client.expect_close().await;
        assert_eq!(
            (code, reason.as_str()),
            (1000, "connection lifetime reached"),
            "{wire:?}"
        );
    }
}

/// The Events socket speaks RFC 6455's closes like the others (1007 for text that is not
/// UTF-8): it is served by the same actor.
#[tokio::test]
async fn events_text_that_is_not_utf8_closes_with_1007() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /event/realtime HTTP/1.1\r\nhost: {}\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\nsec-websocket-protocol: {SUBPROTOCOL}\r\nx-api-key: {KEY}\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let payload = b"{\"type\":\"\xc3\x28\"}";
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame).await.unwrap();
    let mut seen = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            if n == 0 {
                return;
            }
            seen.extend_from_slice(&buffer[..n]);
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    // The close frame: opcode 0x88, then the code.
    let close = seen
        .windows(4)
        .find(|w| w[0] == 0x88)
        .map(|w| u16::from_be_bytes([w[2], w[3]]));
    assert_eq!(close, Some(1007));
}

/// Over Redis, a subscription is live from the moment its subscribe message is read, not from
/// Redis's confirmation of the SUBSCRIBE: publishers start the instant each subscribe message
/// is written (no wait for any ack), hundreds at once on all four protocols, and every
/// acknowledged status arrives exactly once, in order.
#[tokio::test]
async fn over_redis_publishing_right_after_the_subscribe_loses_nothing() {
    use support::cluster::node;
    const PER_WIRE: usize = 60;
    const STATUSES: usize = 5;
    let redis = support::redis::RedisServer::start().await;
    let prefix = format!("receipt{}", uuid::Uuid::new_v4().simple());
    let server = node(
        &redis.url(),
        &prefix,
        "receipt",
        &["--max-http-connections-per-address", "10000"],
    )
    .await;
    let addr = server.addr;
    // Connected (and for the GraphQL protocols acknowledged) first; then, per connection, the
    // subscribe is written and its publisher starts at once.
    let mut connections = Vec::new();
    for wire in WIRES {
        for n in 0..PER_WIRE {
            let client = match wire {
                Wire::Graphql(proto) => WsClient::ready_at(addr, proto).await,
                Wire::Events => events_socket(addr, KEY).await,
            };
            connections.push((wire, format!("rcpt{}x{n}", connections.len()), client));
        }
    }
    let mut tasks = Vec::new();
    for (wire, user, mut client) in connections {
        match wire {
            Wire::Graphql(_) => client.subscribe_user("s", &user).await,
            Wire::Events => {
                let channel = format!("/default/{user}");
                client
                    .send(json!({"type": "subscribe", "id": "s", "channel": channel}))
                    .await;
            }
        }
        let publisher = {
            let user = user.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0..STATUSES {
                    let code = wire.publish(addr, &user, n, "").await;
                    assert_eq!(code, 200, "{wire:?} {user}");
                    acknowledged.push(format!("s{n}"));
                }
                acknowledged
            })
        };
        tasks.push(tokio::spawn(async move {
            let acknowledged = publisher.await.unwrap();
            let mut received = Vec::new();
            while received.len() < acknowledged.len() {
                let message = match client.next_message().await {
                    Some(Message::Text(text)) => serde_json::from_str::<Json>(&text).unwrap(),
                    Some(_) => continue,
                    None => panic!("{wire:?} {user}: got only {received:?} of {acknowledged:?}"),
                };
                if let Some(status) = wire.status_of(&message) {
                    received.push(status);
                }
            }
            client.expect_silence(Duration::from_millis(200)).await;
            (wire, user, acknowledged, received)
        }));
    }
    for task in tasks {
        let (wire, user, acknowledged, received) =
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("every subscriber gets its statuses")
                .unwrap();
        assert_eq!(acknowledged.len(), STATUSES, "{wire:?} {user}");
        assert_eq!(
            received, acknowledged,
            "{wire:?} {user}: once each, in order"
        );
    }
}

//! Resume and replay over every protocol, on one memory node and across a Redis cluster: a
//! client that reconnects with its last position receives exactly what it missed, then the live
//! stream, with publishes racing the resume; a lost position is told `recovered: false` and gets
//! what is kept; `replay` gives the latest statuses at once; a stream that loses events under a
//! positioned subscriber ends it with `StreamReset`.

use crate::support;

use std::net::SocketAddr;

use serde_json::{Value as Json, json};
use support::cluster::{node, publish_at};
use support::redis::RedisServer;
use support::{KEY, Proto, STATUS_QUERY, TestServer, WsClient};

/// Subscribes to `user`'s statuses with `extensions` in the place each protocol carries them.
async fn subscribe_with(client: &mut WsClient, id: &str, user: &str, extensions: Json) {
    let variables = json!({"userId": user});
    if client.proto == Proto::AppSync {
        let data = json!({"query": STATUS_QUERY, "variables": variables}).to_string();
        let mut payload_extensions = extensions;
        payload_extensions["authorization"] = json!({"x-api-key": KEY});
        client
            .send(json!({"id": id, "type": "start", "payload": {"data": data, "extensions": payload_extensions}}))
            .await;
        return;
    }
    let kind = client.proto.subscribe_type();
    client
        .send(json!({"id": id, "type": kind, "payload": {
            "query": STATUS_QUERY, "variables": variables, "extensions": extensions,
        }}))
        .await;
}

/// The stream's state the server sends first: on `start_ack` (AppSync) or in a data message
/// with `data: null`.
async fn summary(client: &mut WsClient, id: &str) -> Json {
    let message = client.next_json().await;
    assert_eq!(message["id"], id, "{message}");
    if client.proto == Proto::AppSync {
        assert_eq!(message["type"], "start_ack", "{message}");
    } else {
        assert_eq!(message["type"], client.proto.data_type(), "{message}");
        assert_eq!(message["payload"]["data"], Json::Null, "{message}");
    }
    message["payload"]["extensions"]["stream"].clone()
}

/// The next status and its offset.
async fn next_status(client: &mut WsClient) -> (String, u64) {
    let message = client.next_json().await;
    assert_eq!(message["type"], client.proto.data_type(), "{message}");
    let payload = &message["payload"];
    (
        payload["data"]["onStatusUpdate"]["status"]
            .as_str()
            .unwrap_or_else(|| panic!("a status: {message}"))
            .to_owned(),
        payload["extensions"]["stream"]["offset"]
            .as_u64()
            .unwrap_or_else(|| panic!("a position: {message}")),
    )
}

async fn publish(addr: SocketAddr, user: &str, status: &str) {
    let (code, body) = publish_at(addr, user, "j", status).await;
    assert_eq!(code, 200, "{body}");
}

/// A client reads A1 and A2 and leaves; A3..A5 are published; it resumes through `resume_at`
/// and gets exactly A3..A5, then A6 live. Then, `rounds` times, it resumes while the publisher
/// races it, and must see every status after its offset once, in order.
async fn resume_exactly(proto: Proto, first_at: SocketAddr, resume_at: SocketAddr, rounds: usize) {
    let user = format!("resume-{}", uuid::Uuid::new_v4());
    let mut first = WsClient::ready_at(first_at, proto).await;
    subscribe_with(&mut first, "s", &user, json!({"replay": {"last": 0}})).await;
    let state = summary(&mut first, "s").await;
    assert_eq!(state["recovered"], false, "{state}");
    assert_eq!(state["offset"], 0, "{state}");
    let epoch = state["epoch"].as_str().unwrap().to_owned();
    for status in ["A1", "A2"] {
        publish(first_at, &user, status).await;
    }
    assert_eq!(next_status(&mut first).await, ("A1".to_owned(), 1));
    assert_eq!(next_status(&mut first).await, ("A2".to_owned(), 2));
    drop(first);
    for status in ["A3", "A4", "A5"] {
        publish(first_at, &user, status).await;
    }
    let mut back = WsClient::ready_at(resume_at, proto).await;
    subscribe_with(
        &mut back,
        "s",
        &user,
        json!({"resume": {"epoch": epoch, "offset": 2}}),
    )
    .await;
    let state = summary(&mut back, "s").await;
    assert_eq!(
        state,
        json!({"epoch": epoch, "offset": 2, "wasRecovering": true, "recovered": true})
    );
    for (n, status) in ["A3", "A4", "A5"].into_iter().enumerate() {
        assert_eq!(
            next_status(&mut back).await,
            (status.to_owned(), n as u64 + 3)
        );
    }
    publish(resume_at, &user, "A6").await;
    assert_eq!(next_status(&mut back).await, ("A6".to_owned(), 6));
    drop(back);

    let mut offset = 6;
    for round in 0..rounds {
        let statuses: Vec<String> = (0..4).map(|n| format!("R{round}-{n}")).collect();
        let racing = {
            let (user, statuses) = (user.clone(), statuses.clone());
            tokio::spawn(async move {
                for status in &statuses {
                    publish(first_at, &user, status).await;
                }
            })
        };
        let mut client = WsClient::ready_at(resume_at, proto).await;
        subscribe_with(
            &mut client,
            "s",
            &user,
            json!({"resume": {"epoch": epoch, "offset": offset}}),
        )
        .await;
        let state = summary(&mut client, "s").await;
        assert_eq!(state["recovered"], true, "round {round}: {state}");
        for status in &statuses {
            offset += 1;
            assert_eq!(
                next_status(&mut client).await,
                (status.clone(), offset),
                "round {round}"
            );
        }
        racing.await.unwrap();
        client
            .expect_silence(std::time::Duration::from_millis(20))
            .await;
    }
}

#[tokio::test]
async fn resume_on_one_node_gets_exactly_what_was_missed_while_publishes_race() {
    let server = TestServer::start().await;
    for proto in Proto::EVERY {
        resume_exactly(proto, server.addr, server.addr, 34).await;
    }
}

#[tokio::test]
async fn resume_on_another_node_of_a_cluster_gets_exactly_what_was_missed() {
    let redis = RedisServer::start().await;
    let prefix = format!("resume{}", uuid::Uuid::new_v4().simple());
    let n1 = node(&redis.url(), &prefix, "n1", &[]).await;
    let n2 = node(&redis.url(), &prefix, "n2", &[]).await;
    for proto in Proto::EVERY {
        resume_exactly(proto, n1.addr, n2.addr, 34).await;
    }
}

/// A Redis restarted from its files starts a new replication history, so the topic a new epoch
/// (it may lack the last writes before the restart); the history it kept is forked, and a
/// position from before the restart, up to the fork, still resumes.
#[tokio::test]
async fn a_position_from_before_a_redis_restart_still_resumes() {
    let mut redis = RedisServer::start_persistent().await;
    let prefix = format!("restart{}", uuid::Uuid::new_v4().simple());
    let server = node(&redis.url(), &prefix, "n1", &[]).await;
    let user = "restarted";
    let mut first = WsClient::ready(&server, Proto::TransportWs).await;
    subscribe_with(&mut first, "s", user, json!({"replay": {"last": 0}})).await;
    let before = summary(&mut first, "s").await["epoch"].clone();
    for status in ["loading_agents", "validating"] {
        publish(server.addr, user, status).await;
    }
    redis.save();
    redis.restart().await;
    // The node reconnects by itself; a publish meanwhile is refused and retried.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while publish_at(server.addr, user, "j", "synthesizing").await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "publishing again");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for proto in Proto::EVERY {
        let mut client = WsClient::ready(&server, proto).await;
        let asked = json!({"epoch": before, "offset": 1});
        subscribe_with(&mut client, "s", user, json!({"resume": asked})).await;
        let state = summary(&mut client, "s").await;
        assert_eq!(state["recovered"], true, "{state}");
        assert_ne!(state["epoch"], before, "a new epoch: {state}");
        assert_eq!(next_status(&mut client).await, ("validating".to_owned(), 2));
        assert_eq!(
            next_status(&mut client).await,
            ("synthesizing".to_owned(), 3)
        );
    }
}

#[tokio::test]
async fn a_lost_position_is_not_recovered_and_gets_what_is_kept() {
    let server = TestServer::with_args(&["--history-per-topic", "3"]).await;
    let user = "trimmed";
    let mut first = WsClient::ready(&server, Proto::TransportWs).await;
    subscribe_with(&mut first, "s", user, json!({"replay": {"last": 0}})).await;
    let epoch = summary(&mut first, "s").await["epoch"].clone();
    for n in 1..=6 {
        publish(server.addr, user, &format!("T{n}")).await;
    }
    for proto in Proto::EVERY {
        for asked in [
            json!({"epoch": epoch, "offset": 1}),
            json!({"epoch": "Elsewhere", "offset": 5}),
            json!({"epoch": epoch, "offset": 99}),
        ] {
            let mut client = WsClient::ready(&server, proto).await;
            subscribe_with(&mut client, "s", user, json!({"resume": asked})).await;
            let state = summary(&mut client, "s").await;
            assert_eq!(
                state,
                json!({"epoch": epoch, "offset": 3, "wasRecovering": true, "recovered": false}),
                "{asked}"
            );
            for (status, offset) in [("T4", 4), ("T5", 5), ("T6", 6)] {
                assert_eq!(next_status(&mut client).await, (status.to_owned(), offset));
            }
        }
    }
}

#[tokio::test]
async fn replay_gives_the_latest_statuses_then_live_ones() {
    let server = TestServer::start().await;
    for proto in Proto::EVERY {
        let user = format!("replay-{}", proto.name());
        for status in ["loading_agents", "invoking_geo_agent", "validating"] {
            publish(server.addr, &user, status).await;
        }
        let mut client = WsClient::ready(&server, proto).await;
        subscribe_with(&mut client, "s", &user, json!({"replay": {"last": 1}})).await;
        let state = summary(&mut client, "s").await;
        assert_eq!(state["offset"], 2, "{state}");
        assert_eq!(state["recovered"], false, "{state}");
        assert_eq!(next_status(&mut client).await, ("validating".to_owned(), 3));
        publish(server.addr, &user, "complete").await;
        assert_eq!(next_status(&mut client).await, ("complete".to_owned(), 4));

        let since = chrono::Utc::now().to_rfc3339();
        publish(server.addr, &user, "error").await;
        let mut later = WsClient::ready(&server, proto).await;
        subscribe_with(&mut later, "s", &user, json!({"replay": {"since": since}})).await;
        summary(&mut later, "s").await;
        assert_eq!(next_status(&mut later).await, ("error".to_owned(), 5));
    }
}

#[tokio::test]
async fn a_field_can_replay_its_latest_status_to_clients_that_ask_for_nothing() {
    let server = TestServer::with_args(&["--replay-latest", "onStatusUpdate"]).await;
    for proto in Proto::EVERY {
        let user = format!("latest-{}", proto.name());
        for status in ["validating", "synthesizing"] {
            publish(server.addr, &user, status).await;
        }
        let mut client = WsClient::ready(&server, proto).await;
        client.subscribe_user("s", &user).await;
        if proto == Proto::AppSync {
            let ack = client.next_json().await;
            assert_eq!(
                ack,
                json!({"type": "start_ack", "id": "s"}),
                "nothing new on the wire"
            );
        }
        let message = client.next_json().await;
        assert_eq!(message["type"], proto.data_type(), "{message}");
        assert_eq!(
            message["payload"]["data"]["onStatusUpdate"]["status"],
            "synthesizing"
        );
        assert!(
            message["payload"].get("extensions").is_none(),
            "no positions unless asked: {message}"
        );
        publish(server.addr, &user, "complete").await;
        let (_, data) = client.next_data().await;
        assert_eq!(data["onStatusUpdate"]["status"], "complete");
    }
}

#[tokio::test]
async fn bad_resume_or_replay_requests_are_refused_in_the_protocol() {
    let server = TestServer::start().await;
    for proto in Proto::EVERY {
        for extensions in [
            json!({"resume": {"offset": 4}}),
            json!({"replay": {"last": -1}}),
            json!({"resume": {"epoch": "E", "offset": 0}, "replay": {"last": 1}}),
        ] {
            let mut client = WsClient::ready(&server, proto).await;
            subscribe_with(&mut client, "s", "u1", extensions.clone()).await;
            let (error, error_type) = client.next_operation_error("s").await;
            assert_eq!(
                error_type.as_deref(),
                Some("BadRequestException"),
                "{extensions}: {error}"
            );
        }
    }
}

#[tokio::test]
async fn a_stream_that_loses_events_ends_a_positioned_subscription_with_stream_reset() {
    // One topic per stripe: publishing to many other users drops the watched topic's stream,
    // and its next event starts a new epoch. The stripes are chosen by a seeded hash, so the
    // other users must be enough that one surely lands on the watched topic's stripe: with 64
    // stripes, 2,000 users all miss it with probability (63/64)^2000, about e^-31 (400 left it
    // untouched about once in 500 runs).
    let server = TestServer::with_args(&["--history-max-topics", "1"]).await;
    for proto in Proto::EVERY {
        let user = format!("reset-{}", proto.name());
        let mut client = WsClient::ready(&server, proto).await;
        subscribe_with(&mut client, "s", &user, json!({"replay": {"last": 0}})).await;
        summary(&mut client, "s").await;
        publish(server.addr, &user, "one").await;
        assert_eq!(next_status(&mut client).await, ("one".to_owned(), 1));
        for n in 0..2_000 {
            publish(server.addr, &format!("other-{n}"), "x").await;
        }
        publish(server.addr, &user, "two").await;
        let (error, error_type) = client.next_operation_error("s").await;
        assert_eq!(error_type.as_deref(), Some("StreamReset"), "{error}");
    }
}

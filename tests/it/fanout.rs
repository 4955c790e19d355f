//! Fan-out: each status reaches exactly its user's subscribers, in order, over every
//! protocol; a subscription is live as soon as the server has processed it; and a publish costs
//! only the matching subscribers.

use crate::support;

use serde_json::json;
use support::{Proto, TestServer, WsClient, assert_status};

async fn interleaved_statuses_reach_exactly_their_user(proto: Proto) {
    let server = TestServer::start().await;
    let mut alice = WsClient::ready(&server, proto).await;
    let mut bob = WsClient::ready(&server, proto).await;
    alice.subscribe_live("a", "A").await;
    bob.subscribe_live("b", "B").await;

    for (user, status) in [
        ("B", "B1"),
        ("A", "A1"),
        ("B", "B2"),
        ("A", "A2"),
        ("A", "A3"),
    ] {
        server.publish(user, "job-1", status).await;
    }

    for status in ["A1", "A2", "A3"] {
        let (id, data) = alice.next_data().await;
        assert_eq!(id, "a");
        assert_status(&data, "A", status);
    }
    for status in ["B1", "B2"] {
        let (id, data) = bob.next_data().await;
        assert_eq!(id, "b");
        assert_status(&data, "B", status);
    }
    alice
        .expect_silence(std::time::Duration::from_millis(200))
        .await;
    bob.expect_silence(std::time::Duration::from_millis(200))
        .await;
}

#[tokio::test]
async fn interleaved_statuses_graphql_transport_ws() {
    interleaved_statuses_reach_exactly_their_user(Proto::TransportWs).await;
}

#[tokio::test]
async fn interleaved_statuses_legacy_subscriptions_transport_ws() {
    interleaved_statuses_reach_exactly_their_user(Proto::Legacy).await;
}

#[tokio::test]
async fn interleaved_statuses_appsync() {
    interleaved_statuses_reach_exactly_their_user(Proto::AppSync).await;
}

/// A status published the instant the subscription is confirmed live is delivered, 200 times.
async fn status_right_after_subscribing_is_never_missed(proto: Proto) {
    let server = TestServer::start().await;
    let mut client = WsClient::ready(&server, proto).await;
    for round in 0..200 {
        let id = format!("s{round}");
        let user = format!("user-{round}");
        client.subscribe_live(&id, &user).await;
        server.publish(&user, "job", "validating").await;
        let (got, data) = client.next_data().await;
        assert_eq!(got, id, "round {round}");
        assert_status(&data, &user, "validating");
        client.stop_live(&id).await;
    }
}

#[tokio::test]
async fn no_miss_right_after_subscribe_graphql_transport_ws() {
    status_right_after_subscribing_is_never_missed(Proto::TransportWs).await;
}

#[tokio::test]
async fn no_miss_right_after_subscribe_legacy() {
    status_right_after_subscribing_is_never_missed(Proto::Legacy).await;
}

/// On AppSync the `start_ack` itself is the promise: published right after it, never missed.
#[tokio::test]
async fn no_miss_right_after_start_ack_appsync() {
    status_right_after_subscribing_is_never_missed(Proto::AppSync).await;
}

#[tokio::test]
async fn a_publish_touches_only_the_matching_subscribers() {
    let server = TestServer::start().await;
    let mut crowd = WsClient::ready(&server, Proto::TransportWs).await;
    for n in 0..50 {
        crowd.subscribe_user(&format!("b{n}"), "B").await;
    }
    crowd.barrier().await;
    let mut alice = WsClient::ready(&server, Proto::TransportWs).await;
    alice.subscribe_live("a", "A").await;

    let before = server.visited();
    server.publish("A", "job", "complete").await;
    assert_eq!(
        server.visited() - before,
        1,
        "only Alice's one subscriber is looked at"
    );
    let (_, data) = alice.next_data().await;
    assert_status(&data, "A", "complete");

    let before = server.visited();
    server.publish("B", "job", "complete").await;
    assert_eq!(server.visited() - before, 50);
    for _ in 0..50 {
        crowd.next_data().await;
    }
    alice
        .expect_silence(std::time::Duration::from_millis(100))
        .await;
}

#[tokio::test]
async fn stop_ends_delivery_and_subscribers_get_only_what_they_select() {
    let server = TestServer::start().await;
    let mut client = WsClient::ready(&server, Proto::TransportWs).await;
    client
        .subscribe(
            "1",
            "subscription { update: onStatusUpdate(userId: \"u\") { status ...F __typename } } fragment F on Status { jobId }",
            json!({}),
        )
        .await;
    client.barrier().await;
    server.publish("u", "j9", "synthesizing").await;
    let (_, data) = client.next_data().await;
    assert_eq!(
        data,
        json!({"update": {"status": "synthesizing", "jobId": "j9", "__typename": "Status"}})
    );
    client.stop_live("1").await;
    server.publish("u", "j9", "complete").await;
    client
        .expect_silence(std::time::Duration::from_millis(200))
        .await;
}

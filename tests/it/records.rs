//! Connection records: present with their subscriptions while connected, gone after stop and
//! after disconnect, findable by user id.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::{Proto, TestServer, WsClient};

async fn wait_until_gone(server: &TestServer, connection_id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.app.store.get(connection_id).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "record {connection_id} removed on disconnect"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn records_follow_the_connection_and_its_subscriptions() {
    let server = TestServer::with_args(&["--node-id", "node-a"]).await;
    for proto in Proto::EVERY {
        let user = format!("alice-{proto:?}");
        let mut client = WsClient::ready(&server, proto).await;
        client.subscribe_live("1", &user).await;
        client
            .subscribe(
                "2",
                "subscription { onStatusUpdate(userId: \"carol\") { status } }",
                json!({}),
            )
            .await;
        client.barrier().await;

        let records = server.app.store.by_user(&user).await.unwrap();
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record.user_id.as_deref(), Some(user.as_str()));
        assert_eq!(record.protocol, proto.name());
        assert_eq!(&*record.node_id, "node-a");
        assert!(record.remote_addr.starts_with("127.0.0.1:"));
        assert!(record.connected_at <= record.last_seen);
        let subs: Vec<_> = record
            .subscriptions
            .iter()
            .map(|s| (s.id.as_str(), s.field.as_str()))
            .collect();
        assert_eq!(subs, [("1", "onStatusUpdate"), ("2", "onStatusUpdate")]);
        assert_eq!(record.subscriptions[0].arguments["userId"], user.as_str());
        // Findable through any user it subscribes for.
        assert_eq!(server.app.store.by_user("carol").await.unwrap().len(), 1);

        client.stop_live("2").await;
        let record = server
            .app
            .store
            .get(&record.connection_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            record.subscriptions.len(),
            1,
            "the stopped subscription is gone"
        );
        assert!(server.app.store.by_user("carol").await.unwrap().is_empty());

        client.close().await;
        wait_until_gone(&server, &record.connection_id).await;
        assert!(server.app.store.by_user(&user).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_dropped_socket_removes_its_record() {
    let server = TestServer::start().await;
    let mut client = WsClient::ready(&server, Proto::TransportWs).await;
    client.subscribe_live("1", "dave").await;
    let id = server.app.store.by_user("dave").await.unwrap()[0]
        .connection_id
        .clone();
    drop(client);
    wait_until_gone(&server, &id).await;
    assert_eq!(
        server.app.index.topic_count(),
        0,
        "its subscription left the index too"
    );
}

#[tokio::test]
async fn a_numeric_user_id_names_the_same_user_as_the_owner_rule_reads() {
    let server = TestServer::start().await;
    let mut client = WsClient::ready(&server, Proto::TransportWs).await;
    // `ID` takes a number too; the record and the owner rule both read it as "42".
    client
        .subscribe(
            "n",
            "subscription S($u: ID!) { onStatusUpdate(userId: $u) { status } }",
            json!({"u": 42}),
        )
        .await;
    client.barrier().await;
    let records = server.app.store.by_user("42").await.unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].subscriptions[0].user_id.as_deref(), Some("42"));
}

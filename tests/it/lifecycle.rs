//! Connection life: clean close handshakes, keep-alives on each protocol's schedule, and a
//! shutdown that closes every socket with a reason.

use crate::support;

use std::time::{Duration, Instant};

use support::{Proto, TestServer, WsClient};

#[tokio::test]
async fn a_client_close_is_answered_with_a_close_frame() {
    let server = TestServer::start().await;
    for proto in Proto::EVERY {
        let mut client = WsClient::ready(&server, proto).await;
        client.subscribe_live("1", "u").await;
        assert_eq!(client.close_handshake(1000).await, Some(1000), "{proto:?}");
        // Even before connection_init.
        let mut client = WsClient::connect(&server, proto).await;
        assert_eq!(client.close_handshake(4499).await, Some(4499), "{proto:?}");
    }
}

#[tokio::test]
async fn legacy_ka_comes_on_its_own_interval() {
    let interval = Duration::from_millis(100);
    let setting = format!("{}ms", interval.as_millis());
    let server =
        TestServer::with_args(&["--legacy-keepalive", &setting, "--keepalive", "60s"]).await;
    let mut client = WsClient::ready(&server, Proto::Legacy).await;
    // The first `ka` follows the ack at once; then one per interval.
    let start = Instant::now();
    for _ in 0..4 {
        assert_eq!(client.next_frame_json().await["type"], "ka");
    }
    let took = start.elapsed();
    assert!(
        took >= interval * 5 / 2,
        "three intervals at least: {took:?}"
    );
    assert!(
        took < interval * 30,
        "the legacy interval, not the 60 s one: {took:?}"
    );
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001() {
    let server = TestServer::start().await;
    let mut clients = Vec::new();
    for proto in Proto::EVERY {
        let mut client = WsClient::ready(&server, proto).await;
        client.subscribe_live("1", "u").await;
        clients.push(client);
    }
    server.app.shutdown.cancel();
    for client in &mut clients {
        assert_eq!(
            client.expect_close().await,
            (1001, "server shutting down".to_owned())
        );
    }
}

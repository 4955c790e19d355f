//! SIGTERM during a stream: the node stops accepting, every subscriber gets a close frame, and
//! the process exits 0 within its deadline.

mod support;

use std::time::{Duration, Instant};

use support::cluster::{ProcessNode, publish_at};
use support::{Proto, WsClient};

#[tokio::test]
async fn sigterm_closes_every_subscriber_and_exits_zero_within_the_deadline() {
    let mut node = ProcessNode::start(&["--shutdown-deadline".into(), "3s".into()]).await;
    let mut clients = Vec::new();
    for proto in Proto::EVERY {
        let mut client = WsClient::ready_at(node.addr, proto).await;
        client.subscribe_live("s", "u1").await;
        clients.push(client);
    }
    // A stream in flight while the signal arrives.
    let addr = node.addr;
    let publisher = tokio::spawn(async move {
        for i in 0.. {
            if publish_at(addr, "u1", "j", &format!("s{i}")).await.0 != 200 {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let signalled = Instant::now();
    node.signal("TERM");
    for client in &mut clients {
        // Statuses already on their way may come first; then the close frame.
        let (code, reason) = client.expect_close_after_data().await;
        assert_eq!(
            (code, reason.as_str()),
            (1001, "server shutting down"),
            "{:?}",
            client.proto
        );
    }
    let status = node.wait().await;
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "took {:?}",
        signalled.elapsed()
    );
    publisher.abort();
}

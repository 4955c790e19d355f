//! A consumer that never reads is disconnected once its queue fills; a fast subscriber for the
//! same user receives every status and nobody waits.

use crate::support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use support::{Proto, TestServer, WsClient};

#[tokio::test]
async fn a_consumer_that_never_reads_is_closed_while_a_fast_one_gets_everything() {
    let server = TestServer::with_args(&["--outbound-queue", "64"]).await;
    let mut slow = WsClient::ready(&server, Proto::TransportWs).await;
    slow.subscribe_live("slow", "u").await;
    let mut fast = WsClient::ready(&server, Proto::TransportWs).await;
    fast.subscribe_live("fast", "u").await;
    assert_eq!(server.app.store.by_user("u").await.unwrap().len(), 2);

    let (published_tx, mut published_rx) = tokio::sync::watch::channel(None::<usize>);
    let reader = tokio::spawn(async move {
        let mut received = Vec::new();
        loop {
            if let Some(total) = *published_rx.borrow_and_update()
                && received.len() == total
            {
                return received;
            }
            tokio::select! {
                (_, data) = fast.next_data() => {
                    received.push(data["onStatusUpdate"]["status"].as_str().unwrap().to_owned());
                }
                _ = published_rx.changed() => {}
            }
        }
    });

    // 32 KiB statuses: loopback socket buffers hold a few MiB, so the slow socket fills quickly.
    let padding = "x".repeat(32 * 1024);
    let metrics = &server.app.metrics;
    let mut published = 0;
    let mut after_close = 0;
    while after_close < 20 {
        assert!(
            published < 2_000,
            "the slow consumer was never disconnected"
        );
        let status = format!("s{published}");
        server
            .publish_input(
                json!({"userId": "u", "jobId": "j", "status": status, "message": padding}),
            )
            .await;
        published += 1;
        if metrics.slow_consumer_disconnects.load(Ordering::Relaxed) > 0 {
            after_close += 1;
        }
    }
    published_tx.send(Some(published)).unwrap();
    let received = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("the fast subscriber keeps up")
        .unwrap();
    let expected: Vec<String> = (0..published).map(|n| format!("s{n}")).collect();
    assert_eq!(
        received, expected,
        "every status, in order, to the fast subscriber"
    );
    assert_eq!(metrics.slow_consumer_disconnects.load(Ordering::Relaxed), 1);

    // The slow connection is gone from the store, and its socket ends once drained.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.app.store.by_user("u").await.unwrap().len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow connection's record is removed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if slow.try_next().await.is_none() {
                return;
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the server closed the slow socket");
}

//! SIGTERM during a stream: the node stops accepting, every subscriber gets a close frame, and
//! the process exits 0 within its deadline.

use crate::support;

use std::time::{Duration, Instant};

use support::cluster::{ProcessNode, publish_at};
use support::{Proto, WsClient};

#[tokio::test]
async fn sigterm_closes_every_subscriber_and_exits_zero_within_the_deadline() {
    let deadline = Duration::from_secs(3);
    let mut node = ProcessNode::start(&[
        "--shutdown-deadline".into(),
        format!("{}s", deadline.as_secs()),
    ])
    .await;
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
    // Nothing holds the shutdown: it ends well before the deadline would force it.
    assert!(
        signalled.elapsed() < deadline,
        "took {:?}",
        signalled.elapsed()
    );
    publisher.abort();
}

/// A publish request for status `n`, as raw HTTP/1.1 with the test key.
fn publish_request(addr: std::net::SocketAddr, n: usize) -> String {
    let body = serde_json::json!({
        "query": "mutation P($i: StatusInput!) { publishStatus(input: $i) { status } }",
        "variables": {"i": {"userId": "u1", "jobId": "j", "status": format!("s{n}")}}
    })
    .to_string();
    format!(
        "POST /graphql HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        support::KEY,
        body.len()
    )
}

/// The status code of the response on `stream`, or `None` if the connection ended without one.
async fn status_of(stream: &mut tokio::net::TcpStream) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buffer = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer or a close in time")
            .unwrap_or(0);
        if read == 0 {
            return None;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test]
async fn sigterm_during_a_burst_answers_every_request_already_sent() {
    use tokio::io::AsyncWriteExt;
    let deadline = Duration::from_secs(5);
    let mut node = ProcessNode::start(&[
        "--shutdown-deadline".into(),
        format!("{}s", deadline.as_secs()),
    ])
    .await;
    let addr = node.addr;
    let mut subscriber = WsClient::ready_at(addr, Proto::TransportWs).await;
    subscriber.subscribe_live("s", "u1").await;
    // 200 connections, each with one publish; half are sent before the signal, half just after
    // it (already connected: the node accepted them, or they wait in its accept queue).
    let mut streams = Vec::new();
    for _ in 0..200 {
        streams.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let mut requests = Vec::new();
    for (n, mut stream) in streams.into_iter().enumerate() {
        let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
        requests.push((
            sent_rx,
            tokio::spawn(async move {
                if n >= 100 {
                    // The second half goes out once the signal has been sent.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                stream
                    .write_all(publish_request(addr, n).as_bytes())
                    .await
                    .unwrap();
                let _ = sent_tx.send(());
                status_of(&mut stream).await
            }),
        ));
    }
    let signalled = Instant::now();
    node.signal("TERM");
    let mut statuses = Vec::new();
    for (sent, answer) in requests {
        sent.await.unwrap();
        statuses.push(answer.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| matches!(s, Some(200 | 503))),
        "every request gets an answer: {statuses:?}"
    );
    let published = statuses.iter().filter(|s| **s == Some(200)).count();
    // Every status acknowledged to its publisher reached the subscriber before its 1001.
    let (delivered, code) = subscriber.data_until_close().await;
    assert_eq!(delivered, published, "{statuses:?}");
    assert_eq!(code, 1001);
    let status = node.wait().await;
    assert!(status.success(), "exit status {status}");
    assert!(signalled.elapsed() < deadline, "{:?}", signalled.elapsed());
}

#[tokio::test]
async fn sigterm_with_closed_output_pipes_still_shuts_down_and_a_second_signal_exits_at_once() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let deadline = Duration::from_secs(3);
    for second_signal in [false, true] {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["--listen", "127.0.0.1:0", "--api-key", support::KEY])
            .args(["--shutdown-deadline", &format!("{}s", deadline.as_secs())])
            .env("RUST_LOG", "debug")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // As `switchboard 2>&1 | head -2`: two lines read, then both pipes closed.
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(10), stdout.next_line())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.as_deref(), Some("Switchboard is listening"));
        // A request whose body never comes holds the shutdown until the deadline.
        let port: u16 = first_port(&mut stdout).await;
        let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let head = format!(
            "POST /graphql HTTP/1.1\r\nhost: x\r\nx-api-key: {}\r\ncontent-length: 100\r\n\r\n",
            support::KEY
        );
        tokio::io::AsyncWriteExt::write_all(&mut stalled, head.as_bytes())
            .await
            .unwrap();
        drop(stdout);
        drop(child.stderr.take());
        // The banner is printed once the signal handlers are installed.
        let pid = child.id().unwrap();
        let kill = |signal: &str| {
            std::process::Command::new("kill")
                .args([format!("-{signal}"), pid.to_string()])
                .status()
                .unwrap()
        };
        let signalled = Instant::now();
        assert!(kill("TERM").success());
        if second_signal {
            assert!(kill("INT").success());
        }
        let status = tokio::time::timeout(deadline * 2, child.wait())
            .await
            .expect("the node exits within its deadline")
            .unwrap();
        let took = signalled.elapsed();
        if second_signal {
            assert_eq!(status.code(), Some(130), "a second signal exits at once");
            assert!(took < deadline / 2, "{took:?}");
        } else {
            assert!(status.success(), "{status}");
            // The stalled request holds it to the deadline; then the process exits.
            assert!(
                took < deadline + Duration::from_secs(1),
                "within the {deadline:?} deadline: {took:?}"
            );
        }
        drop(stalled);
    }
}

/// The port in the banner's `HTTP` line, the next line of `lines`.
async fn first_port(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> u16 {
    let line = lines.next_line().await.unwrap().unwrap();
    let url = line.trim().strip_prefix("HTTP").unwrap().trim();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/graphql")
        .parse()
        .unwrap();
    addr.port()
}

//! On Redis a publish is one atomic step: one script that writes each of the status's topic
//! streams and publishes it. Watched with `MONITOR`: the node sends one `EVALSHA` per publish and
//! nothing else; every stream write happens inside the script.

use crate::support;

use std::time::Duration;

use support::cluster::{node, publish_at};
use support::redis::RedisServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn a_publish_is_one_script_call_and_nothing_else() {
    let redis = RedisServer::start().await;
    let prefix = format!("onetrip{}", uuid::Uuid::new_v4().simple());
    // Records in memory, so the node has no other reason to talk to Redis.
    let publisher = node(&redis.url(), &prefix, "n1", &["--store", "memory"]).await;
    // The first publish loads the script (EVALSHA, NOSCRIPT, EVAL).
    assert_eq!(
        publish_at(publisher.addr, "u0", "j", "warm-up").await.0,
        200
    );

    let mut monitor = tokio::net::TcpStream::connect(("127.0.0.1", redis.port))
        .await
        .unwrap();
    monitor.write_all(b"MONITOR\r\n").await.unwrap();
    let mut lines = BufReader::new(monitor).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("+OK"));

    let publishes = 20;
    for n in 0..publishes {
        let (code, body) = publish_at(publisher.addr, &format!("u{n}"), "j", "validating").await;
        assert_eq!(code, 200, "{body}");
    }
    // Everything Redis ran while the publishes were answered, until quiet.
    let mut from_clients = Vec::new();
    let mut in_scripts = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
    {
        // `+<time> [<db> <client or "lua">] "<COMMAND>" …`
        let Some((source, command)) = line.split_once("] ") else {
            continue;
        };
        let command = command
            .split('"')
            .nth(1)
            .unwrap_or_default()
            .to_ascii_lowercase();
        if source.ends_with(" lua") {
            in_scripts.push(command);
        } else {
            from_clients.push(command);
        }
    }
    assert_eq!(
        from_clients,
        vec!["evalsha"; publishes],
        "one script call per publish, nothing else"
    );
    for write in ["xadd", "publish"] {
        assert_eq!(
            in_scripts.iter().filter(|c| *c == write).count(),
            publishes,
            "{write} once per publish, inside the script: {in_scripts:?}"
        );
    }
}

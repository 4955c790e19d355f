//! The texts of the common start-up and CLI failures, pinned: one line, the cause once, the
//! address or value involved, and what to try.

use crate::support;

use std::process::Output;

use support::redis::free_port;
use support::{KEY, TestServer};

async fn run(args: &[&str]) -> String {
    let output: Output = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .env_remove("SWITCHBOARD_API_KEY")
            .env_remove("SWITCHBOARD_CLIENT_API_KEY")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the command ends")
    .unwrap();
    assert!(!output.status.success(), "{args:?} succeeded");
    let said = String::from_utf8(output.stderr).unwrap();
    // The serve failures come after the logs; the error is the last line.
    said.trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn start_up_failures_say_what_to_try() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_eq!(
        run(&["--listen", &addr]).await,
        format!(
            "switchboard: cannot listen on {addr}: Address already in use (os error 98); another \
             process (another Switchboard?) listens there: stop it, or choose another address \
             with --listen"
        )
    );
    let redis = format!("redis://127.0.0.1:{}", free_port());
    let listen = format!("127.0.0.1:{}", free_port());
    assert_eq!(
        run(&["--listen", &listen, "--redis-url", &redis]).await,
        format!(
            "switchboard: cannot reach Redis at {redis}: Connection refused (os error 111); is \
             redis-server running there? (--redis-url, and --redis-timeout for a slow one)"
        )
    );
    assert_eq!(
        run(&[
            "--listen",
            &listen,
            "--redis-url",
            "redis://user:secret@[oops"
        ])
        .await,
        "switchboard: invalid Redis URL: `redis://***@[oops` did not parse; use \
         redis://[user:password@]host:port[/db] (rediss:// for TLS), \
         redis+cluster://host:port,host:port or redis+sentinel://host:port,host:port/<master>"
    );
}

#[tokio::test]
async fn cli_failures_say_what_to_try() {
    let url = format!("http://127.0.0.1:{}/graphql", free_port());
    let publish = ["--user-id", "u", "--job-id", "j", "--status", "s"];
    assert_eq!(
        run(&[&["publish", "--url", &url, "--api-key", KEY][..], &publish].concat()).await,
        format!(
            "switchboard: cannot reach {url}: Connection refused (os error 111); is the server \
             running there? (start it, or pass --url)"
        )
    );
    let ws = url.replace("http://", "ws://");
    assert_eq!(
        run(&[
            "subscribe",
            "--url",
            &url,
            "--api-key",
            KEY,
            "--user-id",
            "u"
        ])
        .await,
        format!(
            "switchboard: cannot reach {ws}: Connection refused (os error 111); is the server \
             running there? (start it, or pass --url)"
        )
    );
    assert_eq!(
        run(&[&["publish", "--url", &url][..], &publish].concat()).await,
        "switchboard: no API key: pass --api-key KEY (the key `serve` printed or was given), or \
         set SWITCHBOARD_CLIENT_API_KEY or SWITCHBOARD_API_KEY"
    );

    let dir = std::env::temp_dir().join(format!("switchboard-errors-{}", uuid::Uuid::new_v4()));
    let server = TestServer::with_args(&["--tls-self-signed", dir.to_str().unwrap()]).await;
    let https = format!("https://localhost:{}/graphql", server.addr.port());
    let wss = https.replace("https://", "wss://");
    let untrusted = "invalid peer certificate: UnknownIssuer; the server's certificate is not \
                     trusted: pass --ca-file CA.pem (for a local server, its --tls-self-signed \
                     DIR/ca.pem)";
    assert_eq!(
        run(&[
            &["publish", "--url", &https, "--api-key", KEY][..],
            &publish
        ]
        .concat())
        .await,
        format!("switchboard: cannot reach {https}: {untrusted}")
    );
    assert_eq!(
        run(&[
            "subscribe",
            "--url",
            &https,
            "--api-key",
            KEY,
            "--user-id",
            "u"
        ])
        .await,
        format!("switchboard: cannot reach {wss}: {untrusted}")
    );
    std::fs::remove_dir_all(&dir).ok();
}

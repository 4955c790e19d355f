//! RFC 6455's close rules on every protocol, with raw frames a WebSocket library would never
//! send: text that is not UTF-8 (also split across fragments) closes with 1007; reserved bits,
//! unmasked frames, oversized or fragmented control frames, stray continuations and invalid
//! close codes close with 1002; a clean close is answered with the same code. (The Autobahn
//! test suite's fuzzing client, which checks the same cases, needs Python 2 and does not
//! install here.)

use crate::support;

use std::time::Duration;

use support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The three protocols as (path, subprotocol) of the upgrade.
const PROTOCOLS: [(&str, &str); 3] = [
    ("/graphql", "graphql-transport-ws"),
    ("/graphql", "graphql-ws"),
    ("/graphql/realtime", "graphql-ws"),
];

/// A WebSocket opened by hand, so that any bytes can follow the handshake.
struct RawSocket {
    stream: TcpStream,
}

impl RawSocket {
    async fn open(server: &TestServer, path: &str, subprotocol: &str) -> Self {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\nsec-websocket-protocol: {subprotocol}\r\n\r\n",
            server.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Self { stream }
    }

    /// Writes one frame: `first` is the FIN/RSV/opcode byte; masked unless told otherwise.
    async fn frame(&mut self, first: u8, payload: &[u8], masked: bool) {
        let mut frame = vec![first];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => frame.push(mask_bit | n as u8),
            n => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        if masked {
            let mask = [0x12, 0x34, 0x56, 0x78];
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        } else {
            frame.extend_from_slice(payload);
        }
        self.stream.write_all(&frame).await.unwrap();
    }

    /// Reads frames until the server's close frame; its code (`None`: the connection ended
    /// without one).
    async fn close_code(&mut self) -> Option<u16> {
        let read = async {
            loop {
                let mut head = [0u8; 2];
                self.stream.read_exact(&mut head).await.ok()?;
                let mut length = u64::from(head[1] & 0x7f);
                if length == 126 {
                    let mut ext = [0u8; 2];
                    self.stream.read_exact(&mut ext).await.ok()?;
                    length = u64::from(u16::from_be_bytes(ext));
                } else if length == 127 {
                    let mut ext = [0u8; 8];
                    self.stream.read_exact(&mut ext).await.ok()?;
                    length = u64::from_be_bytes(ext);
                }
                let mut payload = vec![0u8; length as usize];
                self.stream.read_exact(&mut payload).await.ok()?;
                if head[0] & 0x0f == 0x8 {
                    return Some(u16::from_be_bytes([payload[0], payload[1]]));
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("a close in time")
    }
}

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const FIN: u8 = 0x80;

/// Opens a socket on every protocol, lets `send` misbehave on it, and checks the close code.
async fn every_protocol_closes_with(expected: u16, case: &str, send: impl AsyncFn(&mut RawSocket)) {
    let server = TestServer::start().await;
    for (path, subprotocol) in PROTOCOLS {
        let mut socket = RawSocket::open(&server, path, subprotocol).await;
        send(&mut socket).await;
        assert_eq!(
            socket.close_code().await,
            Some(expected),
            "{case} on {path} ({subprotocol})"
        );
    }
}

#[tokio::test]
async fn text_that_is_not_utf8_closes_with_1007() {
    every_protocol_closes_with(1007, "invalid UTF-8", async |s: &mut RawSocket| {
        s.frame(FIN | TEXT, b"{\"type\":\"\xc3\x28\"}", true).await;
    })
    .await;
    every_protocol_closes_with(
        1007,
        "invalid UTF-8 across fragments",
        async |s: &mut RawSocket| {
            s.frame(TEXT, b"{\"type\":\"\xe2\x82", true).await;
            s.frame(FIN, b"\x28\"}", true).await;
        },
    )
    .await;
}

#[tokio::test]
async fn protocol_violations_close_with_1002() {
    every_protocol_closes_with(1002, "a reserved bit", async |s: &mut RawSocket| {
        s.frame(FIN | 0x40 | TEXT, b"{}", true).await;
    })
    .await;
    every_protocol_closes_with(1002, "an unmasked frame", async |s: &mut RawSocket| {
        s.frame(FIN | TEXT, b"{}", false).await;
    })
    .await;
    every_protocol_closes_with(1002, "a ping over 125 bytes", async |s: &mut RawSocket| {
        s.frame(FIN | PING, &[b'p'; 126], true).await;
    })
    .await;
    every_protocol_closes_with(1002, "a fragmented ping", async |s: &mut RawSocket| {
        s.frame(PING, b"p", true).await;
    })
    .await;
    every_protocol_closes_with(
        1002,
        "a continuation with no start",
        async |s: &mut RawSocket| {
            s.frame(FIN, b"{}", true).await;
        },
    )
    .await;
    every_protocol_closes_with(1002, "a reserved opcode", async |s: &mut RawSocket| {
        s.frame(FIN | 0x3, b"{}", true).await;
    })
    .await;
    every_protocol_closes_with(1002, "close code 1005", async |s: &mut RawSocket| {
        s.frame(FIN | CLOSE, &1005u16.to_be_bytes(), true).await;
    })
    .await;
}

#[tokio::test]
async fn a_clean_close_is_answered_with_its_code() {
    every_protocol_closes_with(1000, "close 1000", async |s: &mut RawSocket| {
        s.frame(FIN | CLOSE, &1000u16.to_be_bytes(), true).await;
    })
    .await;
}

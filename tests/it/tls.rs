//! TLS: `--tls-self-signed DIR` serves HTTPS and WSS with a certificate for localhost issued by a
//! local CA kept in DIR, which a client that trusts `DIR/ca.pem` (and nothing else) accepts; the
//! CA survives a restart. The same listener serves `POST /graphql` and the AppSync WebSocket.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use support::{KEY, STATUS_QUERY, TestServer, header_subprotocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A TLS client that trusts only the CA in `dir`.
fn connector(dir: &Path) -> TlsConnector {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.pem")).expect("ca.pem was written"))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tls_stream(
    server: &TestServer,
    dir: &Path,
    name: &str,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
    connector(dir)
        .connect(name, tcp)
        .await
        .expect("the certificate chains to ca.pem and names the host")
}

/// `POST /graphql` over HTTPS, as a raw HTTP/1.1 request; returns the JSON body.
async fn https_post(server: &TestServer, dir: &Path, body: Json) -> Json {
    let mut stream = tls_stream(server, dir, "localhost").await;
    let body = body.to_string();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nx-api-key: {KEY}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let (_, json) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(json).unwrap()
}

/// The next text message other than `ka`, as JSON.
async fn next_message<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Json
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = tokio::time::timeout(support::WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .expect("a valid frame");
        if let Message::Text(text) = message {
            let value: Json = serde_json::from_str(&text).unwrap();
            if value["type"] != "ka" {
                return value;
            }
        }
    }
}

#[tokio::test]
async fn https_and_wss_with_a_local_ca() {
    let dir = scratch_dir();
    let server = TestServer::with_args(&["--tls-self-signed", dir.to_str().unwrap()]).await;

    // Both names in the certificate are accepted.
    for name in ["localhost", "127.0.0.1"] {
        tls_stream(&server, &dir, name).await;
    }

    let stream = tls_stream(&server, &dir, "localhost").await;
    let mut request = format!("wss://localhost:{}/graphql/realtime", server.addr.port())
        .into_client_request()
        .unwrap();
    let auth = json!({"host": "localhost", "x-api-key": KEY});
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(&format!("graphql-ws, {}", header_subprotocol(&auth))).unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-ws");
    ws.send(Message::text(r#"{"type":"connection_init"}"#))
        .await
        .unwrap();
    assert_eq!(next_message(&mut ws).await["type"], "connection_ack");
    let data = json!({"query": STATUS_QUERY, "variables": {"userId": "tls"}}).to_string();
    let start = json!({"id": "1", "type": "start", "payload": {"data": data, "extensions": {"authorization": auth}}});
    ws.send(Message::text(start.to_string())).await.unwrap();
    assert_eq!(next_message(&mut ws).await["type"], "start_ack");
    let published = https_post(
        &server,
        &dir,
        json!({
            "query": "mutation P($i: StatusInput!) { publishStatus(input: $i) { userId status timestamp } }",
            "variables": {"i": {"userId": "tls", "jobId": "j", "status": "complete"}}
        }),
    )
    .await;
    assert_eq!(published["data"]["publishStatus"]["status"], "complete");
    let data = next_message(&mut ws).await;
    assert_eq!(data["type"], "data");
    assert_eq!(
        data["payload"]["data"]["onStatusUpdate"]["status"],
        "complete"
    );
    // The same port speaks plain HTTP too (Amplify: `http://` endpoint, forced `wss://`).
    server.publish("tls", "j", "plain_on_the_same_port").await;
    let data = next_message(&mut ws).await;
    assert_eq!(
        data["payload"]["data"]["onStatusUpdate"]["status"],
        "plain_on_the_same_port"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn tls_on_a_plain_port_is_explained_once_per_address_and_interval() {
    use crate::support::cluster::ProcessNode;
    let node = ProcessNode::start_logging(&[], "warn").await;
    let dir = scratch_dir();
    // A CA for the client to trust (another server creates it); this node has no certificate.
    let _other = TestServer::with_args(&["--tls-self-signed", dir.to_str().unwrap()]).await;
    for _ in 0..3 {
        let tcp = TcpStream::connect(node.addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        assert!(connector(&dir).connect(name, tcp).await.is_err());
    }
    // Plain HTTP on the same port is unaffected.
    let (status, _) = support::cluster::publish_at(node.addr, "u1", "j", "validating").await;
    assert_eq!(status, 200);
    let (_, logs) = node.stop_and_read().await;
    let told = logs.matches("a client tried TLS").count();
    assert_eq!(told, 1, "{logs}");
    assert!(logs.contains("--tls-self-signed DIR"), "{logs}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A restarted server issues its certificate from the same CA, so clients keep trusting it.
#[tokio::test]
async fn the_local_ca_is_reused_across_restarts() {
    let dir = scratch_dir();
    let first = TestServer::with_args(&["--tls-self-signed", dir.to_str().unwrap()]).await;
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    tls_stream(&first, &dir, "localhost").await;
    drop(first);
    let second = TestServer::with_args(&["--tls-self-signed", dir.to_str().unwrap()]).await;
    assert_eq!(std::fs::read_to_string(dir.join("ca.pem")).unwrap(), ca);
    tls_stream(&second, &dir, "localhost").await;

    // A client trusting another CA refuses the certificate: the trust is real.
    let other = scratch_dir();
    let _other_server =
        TestServer::with_args(&["--tls-self-signed", other.to_str().unwrap()]).await;
    let tcp = TcpStream::connect(second.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    assert!(connector(&other).connect(name, tcp).await.is_err());
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&other).ok();
}

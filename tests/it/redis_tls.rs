//! `rediss://`: a node reaches Redis over TLS (a managed Redis with encryption in transit),
//! verifying the server's certificate against the system's trust, which `SSL_CERT_FILE` can
//! name.

use crate::support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use support::cluster::{ProcessNode, history_at, node_args, publish_at};
use support::failover::prefix;
use support::redis::free_port;

#[tokio::test]
async fn a_node_publishes_and_reads_history_over_tls_and_refuses_an_untrusted_server() {
    let dir = std::env::temp_dir().join(format!("sb-redis-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    write_certificates(&dir);
    let port = free_port();
    let _redis = TlsRedis::start(&dir, port).await;
    let url = format!("rediss://localhost:{port}");
    let ca = dir.join("ca.pem");

    let node = ProcessNode::start_with_env(
        &node_args(&url, &prefix(), "n1"),
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    )
    .await;
    for status in ["loading_agents", "complete"] {
        let (code, body) = publish_at(node.addr, "u1", "job-1", status).await;
        assert_eq!(code, 200, "{body}");
    }
    assert_eq!(
        history_at(node.addr, "u1").await,
        ["loading_agents", "complete"]
    );

    // Trusting another CA, the node does not trust the server, and says so rather than start.
    let other = KeyPair::generate().unwrap();
    let mut other_ca = CertificateParams::default();
    other_ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other_ca = other_ca.self_signed(&other).unwrap();
    std::fs::write(dir.join("other.pem"), other_ca.pem()).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["--listen", "127.0.0.1:0", "--api-key", support::KEY])
        .args(node_args(&url, &prefix(), "n2"))
        .env("SSL_CERT_FILE", dir.join("other.pem"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), output)
        .await
        .expect("the node gives up within its Redis timeout")
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Redis") && stderr.to_lowercase().contains("certificate"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CA (`ca.pem`) and a certificate for localhost issued by it (`redis.pem`, `redis-key.pem`).
fn write_certificates(dir: &Path) {
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Switchboard test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    // A subject of its own: one equal to its issuer's reads as self-signed to OpenSSL.
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("redis.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("redis-key.pem"), key.serialize_pem()).unwrap();
}

/// `redis-server` serving TLS only, on `port`.
struct TlsRedis(Child);

impl TlsRedis {
    async fn start(dir: &Path, port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            // `localhost` (the certificate's name) may resolve to either.
            .args([
                "--bind",
                "127.0.0.1 -::1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--tls-cert-file")
            .arg(dir.join("redis.pem"))
            .arg("--tls-key-file")
            .arg(dir.join("redis-key.pem"))
            .arg("--tls-ca-cert-file")
            .arg(dir.join("ca.pem"))
            .args(["--tls-auth-clients", "no"])
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        let redis = Self(child);
        let ca = dir.join("ca.pem");
        support::redis::wait_until(
            || {
                Command::new("redis-cli")
                    .args(["--tls", "--cacert"])
                    .arg(&ca)
                    .args(["-h", "localhost", "-p", &port.to_string(), "PING"])
                    .output()
                    .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "PONG")
            },
            "Redis answers over TLS",
        )
        .await;
        redis
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

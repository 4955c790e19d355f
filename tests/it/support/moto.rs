//! moto's server (PyPI `moto[server]`, pinned in `.ci/requirements.txt`) on a free loopback port,
//! speaking the DynamoDB API with nothing kept on disk. Killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MotoServer {
    pub port: u16,
    child: Child,
    /// moto's request log. It goes to a file, not a pipe nobody reads (that would stall moto once
    /// full), and it explains a failed start.
    log: PathBuf,
}

const INSTALL: &str = "run ./test, which installs moto (.ci/requirements.txt) in target/test-venv";

impl MotoServer {
    /// Starts `python3 -m moto.server` and waits until it answers HTTP, without blocking the
    /// test's runtime.
    pub async fn start() -> Self {
        let port = super::redis::free_port();
        let log = std::env::temp_dir().join(format!("switchboard-moto-{port}.log"));
        let file = std::fs::File::create(&log).expect("a log file for moto");
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("a log file for moto"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("python3 does not run ({e}); then {INSTALL}"));
        let mut server = Self { port, child, log };
        server.wait().await;
        server
    }

    /// The endpoint URL for the SDK.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("moto's server exited ({status}); install it: {INSTALL}\n{log}");
            }
            if answers_http(self.port).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto's server did not answer on port {}", self.port);
    }
}

/// Whether an HTTP server on `port` answers a request.
async fn answers_http(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut reply = [0u8; 5];
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .is_ok()
        && stream.read_exact(&mut reply).await.is_ok()
        && &reply == b"HTTP/"
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

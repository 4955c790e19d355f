//! Running a node: binding its socket, serving the HTTP router through the listener, and a clean
//! shutdown that answers every request already received and closes every WebSocket with a
//! proper close frame.

pub mod banner;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::app::{App, ServerError};
use crate::config::Settings;

/// Binds the listening socket with an explicit accept backlog: a burst of clients reconnecting
/// at once (after a deploy) must queue, not be dropped into the kernel's 1 s SYN retry.
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// A node bound to its address, ready to serve.
pub struct Server {
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    generated_key: Option<String>,
}

impl Server {
    pub async fn bind(settings: Settings) -> Result<Self, ServerError> {
        let addr = settings.listen;
        let tls = crate::tls::acceptor(&settings)?;
        let (app, generated_key) = App::new(settings).await?;
        let listener = listen(addr, app.settings.listen_backlog)
            .map_err(|cause| ServerError::Bind { addr, cause })?;
        Ok(Self {
            app,
            listener,
            tls,
            generated_key,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Whether the server speaks TLS (`https://` and `wss://`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The API key generated because none was configured.
    pub fn generated_key(&self) -> Option<&str> {
        self.generated_key.as_deref()
    }

    /// Serves until [`App::shutdown`] is cancelled, then answers every request already
    /// received, closes every WebSocket and returns.
    pub async fn run(self) -> Result<(), ServerError> {
        let app = self.app.clone();
        let router = crate::http::router(app.clone());
        let connections = TaskTracker::new();
        let admission = crate::net::listener::Admission {
            limits: app.limits.clone(),
            proxies: crate::net::proxies::TrustedProxies::new(app.settings.trusted_proxies.clone()),
            drain_window: app.settings.shutdown_drain_window,
            misdials: Default::default(),
        };
        crate::net::listener::serve(
            self.listener,
            router,
            self.tls,
            admission,
            app.shutdown.clone(),
            connections.clone(),
        )
        .await;
        // Every HTTP request already received is answered (publishes included) before the
        // WebSockets close, so a status published during the drain still reaches them.
        connections.close();
        connections.wait().await;
        app.closing.cancel();
        // Upgraded sockets belong to their sessions, which watch `closing` and close
        // themselves with a close frame.
        app.sessions.close();
        app.sessions.wait().await;
        Ok(())
    }
}

//! The accept loop: TCP (optionally TLS) connections served as HTTP/1.1 by hyper, with
//! WebSocket upgrades, into the axum router. axum's own `serve` has no TLS; this loop is that
//! plus a TLS handshake, and two things every request gets before routing: the peer address and
//! a path with doubled slashes collapsed (an endpoint configured with a trailing `/` makes
//! clients dial `/graphql//realtime`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Uri};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::Instrument;

/// How long a client may take over its TLS handshake or its request headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown`, each served on its own task in `connections`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    connections: TaskTracker,
) {
    loop {
        let (tcp, remote) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // back off briefly rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Statuses are small and latency matters: no Nagle delay on any socket.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let (router, tls, shutdown) = (router.clone(), tls.clone(), shutdown.clone());
        connections.spawn(async move {
            match tls {
                None => serve_connection(tcp, remote, router, shutdown).await,
                Some(acceptor) => {
                    if let Some(stream) = handshake(&acceptor, tcp, remote).await {
                        serve_connection(stream, remote, router, shutdown).await;
                    }
                }
            }
        });
    }
}

async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    remote: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%remote, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            None
        }
    }
}

/// The caller's `x-request-id` when it is a sane token (a load balancer's), else a fresh one.
fn request_id<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Serves one connection's requests; on shutdown, lets the request in flight finish.
async fn serve_connection<I>(io: I, remote: SocketAddr, router: Router, shutdown: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        collapse_slashes(request.uri_mut());
        request.extensions_mut().insert(ConnectInfo(remote));
        let router = router.clone();
        let id = request_id(&request);
        // Everything logged while handling the request (and, for an upgrade, by the WebSocket
        // session it starts) carries this span's id.
        let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
        async move {
            let mut response = router
                .oneshot(request)
                .instrument(span)
                .await
                .unwrap_or_else(|e| match e {});
            if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
                response.headers_mut().insert("x-request-id", value);
            }
            Ok::<_, Infallible>(response)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%remote, %error, "HTTP connection ended with an error");
    }
}

/// `//graphql//realtime` -> `/graphql/realtime`; the query string is kept as it is.
fn collapse_slashes(uri: &mut Uri) {
    if !uri.path().contains("//") {
        return;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(collapsed) = Uri::from_parts(parts) {
            *uri = collapsed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubled_slashes_collapse_and_the_query_stays() {
        let mut uri: Uri = "//graphql//realtime?header=a+b//c=&payload=e30="
            .parse()
            .unwrap();
        collapse_slashes(&mut uri);
        assert_eq!(uri.path(), "/graphql/realtime");
        assert_eq!(uri.query(), Some("header=a+b//c=&payload=e30="));
    }
}

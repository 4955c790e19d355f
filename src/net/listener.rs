//! The accept loop: TCP (optionally TLS) connections served as HTTP/1.1 by hyper, with
//! WebSocket upgrades, into the axum router. axum's own `serve` has no TLS; this loop is that
//! plus a TLS handshake, the connection limits (per client address and for the node, answered
//! 429 / 503 instead of hanging), a drain on shutdown, and two things every request gets before
//! routing: the client's address (the peer, or whom a trusted proxy names) and a path with
//! doubled slashes collapsed (an endpoint configured with a trailing `/` makes clients dial
//! `/graphql//realtime`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::Instrument;

use crate::net::limits::{AddressLimits, ConnectionSlot, Refused};
use crate::net::proxies::TrustedProxies;
use crate::operation::ErrorType;

/// How long a client may take over its TLS handshake or its request headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a refused connection may take to send the request its refusal answers.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// What the accept loop needs to admit connections and tell clients apart.
#[derive(Clone)]
pub struct Admission {
    /// Per-address and node-wide connection counts.
    pub limits: Arc<AddressLimits>,
    /// Whose `X-Forwarded-For` names the client.
    pub proxies: TrustedProxies,
    /// How long idle keep-alive connections stay open once a shutdown starts.
    pub drain_window: Duration,
    /// Who dialled TLS on a plain port, and when they were last told.
    pub misdials: Arc<Misdials>,
}

/// Accepts connections until `shutdown`, each served on its own task in `connections`. On
/// shutdown it stops accepting, but still serves the connections already waiting in the
/// kernel's accept queue: their clients may have sent a request already.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    admission: Admission,
    shutdown: CancellationToken,
    connections: TaskTracker,
) {
    let spawn = |tcp: TcpStream, remote: SocketAddr| {
        // Statuses are small and latency matters: no Nagle delay on any socket.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let (router, tls, admission, shutdown) = (
            router.clone(),
            tls.clone(),
            admission.clone(),
            shutdown.clone(),
        );
        // Counted as it is accepted, in order, so the ceiling holds however tasks are scheduled.
        let counted = (!admission.proxies.trusts(remote.ip())).then_some(remote.ip());
        let slot = admission.limits.admit(counted);
        connections.spawn(async move {
            let peer = Peer {
                remote,
                admission,
                shutdown,
            };
            // One port for both: a TLS ClientHello starts with a handshake record (0x16), an
            // HTTP request with a method's letter. Amplify dials `wss://` even for an `http://`
            // endpoint, so a local server that has a certificate serves both on one port.
            let Some(first) = first_byte(&tcp).await else {
                return; // nothing sent within the handshake timeout
            };
            match (tls, first == TLS_HANDSHAKE) {
                (_, false) => serve_connection(tcp, peer, router, slot).await,
                (Some(acceptor), true) => {
                    if let Some(stream) = handshake(&acceptor, tcp, remote).await {
                        serve_connection(stream, peer, router, slot).await;
                    }
                }
                (None, true) => peer.admission.misdials.tls_on_plain_port(remote.ip()),
            }
        });
    };
    loop {
        let (tcp, remote) = tokio::select! {
            _ = shutdown.cancelled() => break,
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
        spawn(tcp, remote);
    }
    for (tcp, remote) in accept_queue(listener) {
        spawn(tcp, remote);
    }
}

/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// The first byte the client sent, without consuming it; `None` if it sent nothing within the
/// handshake timeout or closed.
async fn first_byte(tcp: &TcpStream) -> Option<u8> {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut byte)).await {
        Ok(Ok(1)) => Some(byte[0]),
        _ => None,
    }
}

/// Clients that dialled TLS on a port without a certificate: each address is told about once
/// per [`MISDIAL_NOTICE_EVERY`], so a retrying client is one warning, not a flood.
#[derive(Default)]
pub struct Misdials {
    told: Mutex<HashMap<IpAddr, Instant>>,
}

/// How often one address's TLS attempts on a plain port are logged.
pub const MISDIAL_NOTICE_EVERY: Duration = Duration::from_secs(60);

/// The most addresses remembered; past it the memory starts over.
const MISDIALS_KEPT: usize = 10_000;

impl Misdials {
    /// Logs, at most once per address and interval, what to do about a TLS client on a plain
    /// port; the connection is then closed.
    fn tls_on_plain_port(&self, address: IpAddr) {
        let mut told = self.told.lock().unwrap_or_else(|p| p.into_inner());
        if told
            .get(&address)
            .is_some_and(|at| at.elapsed() < MISDIAL_NOTICE_EVERY)
        {
            return;
        }
        if told.len() >= MISDIALS_KEPT {
            told.clear();
        }
        told.insert(address, Instant::now());
        drop(told);
        tracing::warn!(
            client = %address,
            "a client tried TLS (https:// or wss://) on this port, which has no certificate: start \
             the server with --tls-self-signed DIR (and trust DIR/ca.pem in the client) or \
             --tls-cert/--tls-key, or give the client a ws:// endpoint (Amplify: \
             generateClient's endpoint); the connection was closed"
        );
    }
}

/// Takes every connection still in the listener's accept queue without waiting, and closes
/// the listener.
fn accept_queue(listener: TcpListener) -> Vec<(TcpStream, SocketAddr)> {
    let Ok(listener) = listener.into_std() else {
        return Vec::new();
    };
    let mut queued = Vec::new();
    while let Ok((tcp, remote)) = listener.accept() {
        let tcp = tcp
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(tcp));
        match tcp {
            Ok(tcp) => queued.push((tcp, remote)),
            Err(error) => tracing::debug!(%error, "cannot serve a queued connection"),
        }
    }
    queued
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

/// One accepted connection, as its requests see it.
struct Peer {
    remote: SocketAddr,
    admission: Admission,
    shutdown: CancellationToken,
}

impl Peer {
    /// The client a request comes from: the TCP peer, or whom a trusted proxy names. Handlers
    /// read it as `ConnectInfo`, so every limit and log line uses the same address.
    fn client(&self, headers: &HeaderMap) -> SocketAddr {
        let client = self.admission.proxies.client(self.remote.ip(), headers);
        if client == self.remote.ip() {
            self.remote
        } else {
            SocketAddr::new(client, 0)
        }
    }
}

/// Serves one connection's requests, or, when `slot` says it may not be admitted, answers its
/// first request with 429 (its address holds too many) or 503 (the node does) and closes. On
/// shutdown, every response says `Connection: close`, idle connections get the drain window
/// for a request already on its way, and the request in flight finishes.
async fn serve_connection<I>(
    io: I,
    peer: Peer,
    router: Router,
    slot: Result<ConnectionSlot, Refused>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let refused = slot.as_ref().err().copied();
    let peer = Arc::new(peer);
    let service = {
        let peer = peer.clone();
        hyper::service::service_fn(move |mut request: Request<Incoming>| {
            collapse_slashes(request.uri_mut());
            let client = peer.client(request.headers());
            request.extensions_mut().insert(ConnectInfo(client));
            let router = router.clone();
            let id = request_id(&request);
            // Handlers read it from the request (a WebSocket session logs under it for life).
            if let Ok(value) = HeaderValue::from_str(&id) {
                request.headers_mut().insert("x-request-id", value);
            }
            let shutdown = peer.shutdown.clone();
            // Everything logged while handling the request (and, for an upgrade, by the
            // WebSocket session it starts) carries this span's id.
            let span = tracing::info_span!("request", request_id = %id, client = %client.ip(), method = %request.method(), path = %request.uri().path());
            async move {
                let mut response = match refused {
                    Some(refused) => refusal(refused),
                    None => router
                        .oneshot(request)
                        .instrument(span)
                        .await
                        .unwrap_or_else(|e| match e {}),
                };
                if let Ok(value) = HeaderValue::from_str(&id) {
                    response.headers_mut().insert("x-request-id", value);
                }
                if refused.is_some() || shutdown.is_cancelled() {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        })
    };
    let header_timeout = if refused.is_some() {
        REFUSAL_TIMEOUT
    } else {
        HANDSHAKE_TIMEOUT
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = peer.shutdown.cancelled() => {
            // A request may be on its way on an idle keep-alive connection: give it the drain
            // window to arrive (it is answered with `Connection: close`), then close.
            tokio::select! {
                result = connection.as_mut() => result,
                _ = tokio::time::sleep(peer.admission.drain_window) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            }
        }
    };
    drop(slot);
    if let Err(error) = result {
        tracing::debug!(remote = %peer.remote, %error, "HTTP connection ended with an error");
    }
}

/// The answer to a connection that was not admitted, in AppSync's error shape.
fn refusal(refused: Refused) -> Response<axum::body::Body> {
    let (status, error_type, message) = match refused {
        Refused::Address => (
            StatusCode::TOO_MANY_REQUESTS,
            ErrorType::TooManyRequestsException,
            "Too many connections from this address.",
        ),
        Refused::Node => (
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::ServiceUnavailable,
            "The server holds as many connections as it may; retry shortly.",
        ),
    };
    let body = serde_json::json!({"errors": [{"errorType": error_type, "message": message}]});
    let mut response = Response::new(axum::body::Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
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

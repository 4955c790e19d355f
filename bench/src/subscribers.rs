//! The subscriber fleet: N WebSocket connections, one subscription each, spread over the
//! server's nodes, opened with bounded concurrency, each confirmed live before the run starts, then each read by its own task that
//! feeds the [`Recorder`] and notes anything that ends or disturbs a connection in [`Health`].
//!
//! Per-connection state is kept small (a tokio task holding the socket with 4 KiB WebSocket
//! buffers, and two integers) so one generator can hold tens of thousands of connections.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use thiserror::Error;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::incoming::{Incoming, ServerMessage, Status, truncate};
use crate::latency::Recorder;
use crate::protocol::{ClientMessage, Endpoint, Protocol, node_for};

pub type Ws = WebSocketStream<TcpStream>;

/// The generator's WebSocket buffer sizes: statuses are a few hundred bytes.
const BUFFER_BYTES: usize = 4 * 1024;

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("closed by the server during the handshake{0}")]
    Closed(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("not confirmed within the connect timeout")]
    Timeout,
}

/// What the fleet is asked to open.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    /// The server's nodes, one per `--url` (never empty): connection `i` goes to
    /// [`FleetPlan::endpoint`]`(i)`, so the fleet spreads evenly over a cluster.
    pub endpoints: Arc<[Endpoint]>,
    pub protocol: Protocol,
    pub subscribers: usize,
    pub users: u32,
    /// Source addresses 127.0.0.1..=127.0.0.K (used only when the server is on loopback).
    pub source_addrs: u8,
    pub concurrency: usize,
    pub timeout: Duration,
}

impl FleetPlan {
    /// The node connection `index` (subscriber or churner) connects to.
    pub fn endpoint(&self, index: usize) -> &Endpoint {
        node_for(&self.endpoints, index)
    }

    /// Each node's WebSocket URL for the plan's protocol, in `endpoints`' order: made once per
    /// node rather than once per connection (AppSync's carries encoded credentials).
    pub fn urls(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .map(|e| self.protocol.url(e))
            .collect()
    }
}

/// What was opened.
#[derive(Debug, Default)]
pub struct Fleet {
    pub live: usize,
    pub failed: usize,
    /// Live subscribers per user index.
    pub per_user: Vec<u32>,
    /// Failure messages with their counts.
    pub failures: BTreeMap<String, u64>,
    pub connect_time: Duration,
}

/// Connections that ended or were told something unexpected after they went live.
#[derive(Default)]
pub struct Health {
    pub closed: AtomicU64,
    /// Connections that received at least one measured status.
    pub receiving: AtomicU64,
    events: Mutex<BTreeMap<String, u64>>,
}

impl Health {
    fn note(&self, event: String) {
        *self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(event)
            .or_insert(0) += 1;
    }

    pub fn events(&self) -> BTreeMap<String, u64> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Opens and subscribes every connection; returns once each is live or has failed.
pub async fn open(plan: &FleetPlan, recorder: Arc<Recorder>, health: Arc<Health>) -> Fleet {
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let (outcomes, mut results) = mpsc::unbounded_channel();
    let urls: Arc<[String]> = plan.urls().into();
    for index in 0..plan.subscribers {
        let permit = permits.clone().acquire_owned().await.expect("never closed");
        let (plan, urls, outcomes) = (plan.clone(), urls.clone(), outcomes.clone());
        let (recorder, health) = (recorder.clone(), health.clone());
        tokio::spawn(async move {
            let user = (index % plan.users as usize) as u32;
            let connected = tokio::time::timeout(plan.timeout, connect(&plan, &urls, index, user))
                .await
                .unwrap_or(Err(ConnectError::Timeout));
            drop(permit);
            match connected {
                Ok(ws) => {
                    let _ = outcomes.send(Ok(user));
                    drop(outcomes);
                    read(ws, plan.protocol, index, user, &recorder, &health).await;
                }
                Err(e) => {
                    let _ = outcomes.send(Err(e));
                }
            }
        });
    }
    drop(outcomes);
    let mut fleet = Fleet {
        per_user: vec![0; plan.users as usize],
        ..Fleet::default()
    };
    while let Some(outcome) = results.recv().await {
        match outcome {
            Ok(user) => {
                fleet.live += 1;
                fleet.per_user[user as usize] += 1;
            }
            Err(e) => {
                fleet.failed += 1;
                *fleet.failures.entry(e.to_string()).or_insert(0) += 1;
            }
        }
        let done = fleet.live + fleet.failed;
        if done.is_multiple_of(5000) && done < plan.subscribers {
            eprintln!("  {done}/{} connections done", plan.subscribers);
        }
    }
    fleet.connect_time = started.elapsed();
    fleet
}

/// One connection to its node ([`FleetPlan::endpoint`]; `urls` is [`FleetPlan::urls`]): TCP
/// from its source address, the upgrade, `connection_init`, the subscription, and the
/// protocol's proof that the subscription is live.
pub async fn connect(
    plan: &FleetPlan,
    urls: &[String],
    index: usize,
    user: u32,
) -> Result<Ws, ConnectError> {
    let mut ws = handshake(plan, urls, index).await?;
    send_subscribe(plan, &mut ws, index, user).await?;
    confirmed(plan, &mut ws).await?;
    Ok(ws)
}

/// TCP from the connection's source address, the upgrade and `connection_init`, acknowledged.
pub async fn handshake(
    plan: &FleetPlan,
    urls: &[String],
    index: usize,
) -> Result<Ws, ConnectError> {
    let (endpoint, url) = (plan.endpoint(index), node_for(urls, index));
    let server = endpoint.addr;
    let socket = TcpSocket::new_v4()?;
    if server.ip().is_loopback() {
        let k = plan.source_addrs.max(1) as usize;
        let source = Ipv4Addr::new(127, 0, 0, 1 + (index % k) as u8);
        defer_port_choice(&socket)?;
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    }
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(BUFFER_BYTES)
        .write_buffer_size(BUFFER_BYTES);
    let request = plan.protocol.request(url, endpoint)?;
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;

    send(&mut ws, &plan.protocol.init(endpoint)).await?;
    expect(&mut ws, |m| matches!(m, ServerMessage::ConnectionAck)).await?;
    Ok(ws)
}

/// Writes the subscription of `user` (and the protocol's liveness probe after it).
pub async fn send_subscribe(
    plan: &FleetPlan,
    ws: &mut Ws,
    index: usize,
    user: u32,
) -> Result<(), ConnectError> {
    for message in plan.protocol.subscribe(user, plan.endpoint(index)) {
        send(ws, &message).await?;
    }
    Ok(())
}

/// Reads until the protocol's proof that the subscription is live.
pub async fn confirmed(plan: &FleetPlan, ws: &mut Ws) -> Result<(), ConnectError> {
    let protocol = plan.protocol;
    expect(ws, |m| protocol.confirms(m)).await
}

/// Sets IP_BIND_ADDRESS_NO_PORT so binding to a source address leaves the port to `connect`,
/// which may then reuse a port for different destinations instead of reserving one per socket.
fn defer_port_choice(socket: &TcpSocket) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

async fn send(ws: &mut Ws, message: &ClientMessage) -> Result<(), ConnectError> {
    ws.send(Message::text(message.to_text())).await?;
    Ok(())
}

/// Reads until `wanted` matches; keep-alives and other chatter are skipped, a failure message
/// or a close ends the handshake.
async fn expect(ws: &mut Ws, wanted: impl Fn(&ServerMessage) -> bool) -> Result<(), ConnectError> {
    while let Some(frame) = ws.next().await {
        match frame? {
            Message::Text(text) => {
                let message = ServerMessage::decode(&text)
                    .map_err(|e| ConnectError::Refused(format!("undecodable {e}: {text}")))?;
                if wanted(&message) {
                    return Ok(());
                }
                if let ServerMessage::Ping = message {
                    send(ws, &ClientMessage::Pong).await?;
                } else if let Some(failure) = message.describe_failure() {
                    return Err(ConnectError::Refused(failure));
                }
            }
            Message::Close(frame) => {
                let why = frame.map_or_else(String::new, |f| format!(": {} {}", f.code, f.reason));
                return Err(ConnectError::Closed(why));
            }
            _ => {}
        }
    }
    Err(ConnectError::Closed(String::new()))
}

/// A live connection's life: record deliveries, answer pings, note whatever else happens.
async fn read(
    mut ws: Ws,
    protocol: Protocol,
    index: usize,
    user: u32,
    recorder: &Recorder,
    health: &Health,
) {
    let mut receiving = false;
    let mut record = |status: &Status<'_>| {
        let measured = recorder.record(index, user, &status.user_id, status.message.as_deref());
        if measured && !receiving {
            receiving = true;
            health.receiving.fetch_add(1, Relaxed);
        }
    };
    let ended = loop {
        let frame = match ws.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => break format!("read error: {e}"),
            None => break "connection ended without a close frame".to_owned(),
        };
        match frame {
            Message::Text(text) => match Incoming::decode(&text) {
                Ok(Incoming::Status(status)) => record(&status),
                Ok(Incoming::ChannelEvent(event)) => match Status::of_event(&event) {
                    Some(status) => record(&status),
                    None => recorder.record_unreadable(),
                },
                Ok(Incoming::Message(ServerMessage::Next {} | ServerMessage::Data {})) => {
                    recorder.record_unreadable();
                }
                Ok(Incoming::Message(ServerMessage::Ping)) => {
                    if protocol == Protocol::TransportWs {
                        let pong = Message::text(ClientMessage::Pong.to_text());
                        if let Err(e) = ws.send(pong).await {
                            break format!("write error: {e}");
                        }
                    }
                }
                Ok(Incoming::Message(message)) => {
                    if let Some(failure) = message.describe_failure() {
                        health.note(failure);
                    }
                }
                Err(e) => health.note(format!("undecodable frame ({e}): {}", truncate(&text, 120))),
            },
            Message::Close(frame) => {
                break frame.map_or_else(
                    || "close without a code".to_owned(),
                    |f| format!("close {} {}", f.code, f.reason),
                );
            }
            _ => {}
        }
    };
    health.closed.fetch_add(1, Relaxed);
    health.note(ended);
}

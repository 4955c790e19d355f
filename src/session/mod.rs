//! The session actor: one task per WebSocket connection, whatever its protocol (the three GraphQL
//! ones and AppSync Events).
//!
//! It owns the socket and the connection's state: whether it is acknowledged, its subscriptions,
//! its bounded mailbox of deliveries, its keep-alive and init timers. It speaks only
//! protocol-neutral [`ClientMessage`]s and [`Reply`]s; the connection's [`Protocol`] turns them
//! into frames. So every invariant (the init deadline, keep-alives, batching, the slow-consumer
//! close, the shutdown drain, close codes, duplicate ids, resume, the lifetime) holds for every
//! protocol alike. What only AppSync Events has (channels, publishing over the socket,
//! per-message authorization) is [`channels`]. Every way out of the loop runs the same clean-up:
//! subscriptions leave the index and the record leaves the store.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use chrono::Utc;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite;
use tracing::Instrument;

use crate::auth::{Credentials, CredentialsError, Identity};
use crate::net::limits::ConnectionSlot;

use crate::app::App;
use crate::protocol::{ClientMessage, Closing, Encoded, Fault, Malformation, Protocol, Reply};
use crate::pubsub::{Inbox, Mailbox, Registration, SubscriberId};

/// How long a closing write (the close frame) may take before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How the closing log line names a client that went away without a close frame.
const ABRUPT: &str = "the client went away without a close frame";

mod channels;
mod delivery;
mod gate;
pub mod resume;
mod subscribing;

/// What the connection looks like from outside, captured at the upgrade.
#[derive(Debug)]
pub struct Peer {
    pub remote: SocketAddr,
    /// The upgrade request's id: the session's own span carries it, so its logs join the
    /// request's without keeping the request's span alive for the connection's life.
    pub request_id: String,
    /// The credentials presented at the upgrade (HTTP headers; for AppSync also its `header-`
    /// subprotocol or `header` query parameter), or why they could not be read. Checked when the
    /// client sends `connection_init`, so a failure is reported in the protocol, not as an HTTP
    /// error the client would silently retry.
    pub credentials: Result<crate::auth::Credentials, CredentialsError>,
    /// Set when the upgrade must be refused (origin not allowed, too many connections from the
    /// address): told in the protocol at once, then the socket closes.
    pub refusal: Option<Fault>,
    /// This connection's place in its address's connection count, freed when the session ends.
    pub slot: Option<ConnectionSlot>,
}

/// Why a session's attention token was cancelled ([`Opened`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The node is closing.
    ShuttingDown,
    /// The client stopped reading: its mailbox overflowed.
    SlowConsumer,
    /// An administrator closed the connection.
    Kicked,
}

impl Stop {
    /// Asked once the token was cancelled; a node closing comes first (its sessions drain
    /// their mailboxes), then an overflow, and what is left is a kick.
    pub(crate) fn why(app: &App, mailbox: &Mailbox) -> Self {
        if app.closing.is_cancelled() {
            Stop::ShuttingDown
        } else if mailbox.overflowed().is_cancelled() {
            Stop::SlowConsumer
        } else {
            Stop::Kicked
        }
    }
}

/// Whether the session goes on after a step.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Closed,
}

/// A live subscription of this connection.
struct Active {
    registration: Registration,
    /// The subscription field, for the invalidations registry.
    field: String,
    /// For a subscription that started from its stream (resume, replay): the newest position it
    /// was sent, so a delivery its start already covered is dropped and a lost one noticed.
    watermark: Option<resume::Watermark>,
    /// Whether each event carries its position (the client asked for it).
    positioned: bool,
}

pub struct Session {
    app: Arc<App>,
    protocol: Protocol,
    id: String,
    peer: Peer,
    sink: SplitSink<WebSocket, Message>,
    mailbox: Arc<Mailbox>,
    inbox: Inbox,
    acknowledged: bool,
    /// Who the connection is, once `connection_init` was accepted (AppSync Events: once the
    /// upgrade's credentials were; `None` without any).
    identity: Option<Identity>,
    /// AppSync Events over a Lambda authorizer only: the upgrade's credentials, since the
    /// authorizer judges each subscribe and publish by its channel (see [`channels`]).
    lambda_credentials: Option<Credentials>,
    /// Subscriptions by the client's id for them; boxed, so the map's spare slots stay small.
    active: HashMap<String, Box<Active>>,
    /// The client's id for each subscription the index knows.
    client_ids: HashMap<SubscriberId, String>,
    /// Whether the client sent anything since the record's `last_seen` was last updated.
    seen_since_touch: bool,
    /// Cancelled when the session must stop and look why: the node closes, an administrator
    /// kicks it, or its mailbox overflowed (see [`Opened`]).
    attention: tokio_util::sync::CancellationToken,
    /// How the connection ended, for the closing log line: the close code and reason sent or
    /// received; `None` until then (a connection that just drops logs 1006).
    ended: Option<(u16, String)>,
}

/// What every session (GraphQL or Events) starts with: its id, its attention token and its
/// mailbox.
///
/// One token for every reason to stop: a child of the node's closing token, cancelled by an
/// administrator's kick and by the mailbox's overflow, so an idle session waits on it once
/// (each wait is a few dozen bytes in every idle session's future). The session then asks
/// which it was ([`Stop::why`]).
pub(crate) struct Opened {
    pub id: String,
    pub attention: tokio_util::sync::CancellationToken,
    pub mailbox: Arc<Mailbox>,
    pub inbox: Inbox,
}

impl Opened {
    /// Registers a new connection with the node.
    pub fn new(app: &App) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        let attention = app.connections.register(&id, &app.closing);
        let (mailbox, inbox) = Mailbox::watched(app.settings.outbound_queue, attention.clone());
        Self {
            id,
            attention,
            mailbox,
            inbox,
        }
    }
}

/// Serves one upgraded WebSocket until it closes.
///
/// Not an `async fn`: the socket is split and the session built before the future exists, so
/// the future (one per idle connection) never holds the unsplit socket or the arguments beside
/// the session built from them.
pub fn run(
    app: Arc<App>,
    socket: WebSocket,
    protocol: Protocol,
    peer: Peer,
) -> impl Future<Output = ()> + Send {
    let (sink, stream) = socket.split();
    let Opened {
        id,
        attention,
        mailbox,
        inbox,
    } = Opened::new(&app);
    let mut session = Session {
        id,
        attention,
        app,
        protocol,
        peer,
        sink,
        mailbox,
        inbox,
        acknowledged: false,
        identity: None,
        lambda_credentials: None,
        active: HashMap::new(),
        client_ids: HashMap::new(),
        seen_since_touch: false,
        ended: None,
    };
    let span = tracing::info_span!(parent: None, "connection", request_id = %session.peer.request_id, conn_id = %session.id, protocol = protocol.name());
    async move {
        let protocol_gauge = session
            .app
            .metrics
            .exported
            .connections(session.protocol)
            .clone();
        protocol_gauge.increment(1);
        let opened = Instant::now();
        tracing::info!(remote = %session.peer.remote, "connection opened");
        if let Some(refusal) = session.peer.refusal.take() {
            Box::pin(session.emit(Reply::Fault(refusal))).await;
        } else if !session.protocol.authenticates_at_upgrade()
            || Box::pin(session.open_channels()).await == Flow::Continue
        {
            session.serve(stream).await;
        }
        Box::pin(session.close()).await;
        let (code, reason) = session.ended.take().unwrap_or((1006, ABRUPT.to_owned()));
        tracing::info!(
            remote = %session.peer.remote,
            duration_ms = u64::try_from(opened.elapsed().as_millis()).unwrap_or(u64::MAX),
            code,
            reason,
            "connection closed"
        );
        protocol_gauge.decrement(1);
    }
    .instrument(span)
}

impl Session {
    async fn serve(&mut self, mut stream: SplitStream<WebSocket>) {
        let settings = &self.app.settings;
        let opened = Instant::now();
        // A lifetime too long to add up is as good as none (as `sleep` would take it).
        let end_of_life = opened
            .checked_add(settings.websocket.max_connection_lifetime)
            .unwrap_or_else(|| opened + Duration::from_secs(100 * 365 * 24 * 3600));
        // One timer for both deadlines (each timer is a hundred bytes in every idle session):
        // `connection_init`'s until the client is acknowledged, then the end of its life. A
        // protocol authenticated at the upgrade has no `connection_init` to wait for.
        let init_by = if self.protocol.authenticates_at_upgrade() {
            end_of_life
        } else {
            opened + settings.websocket.connection_init_timeout
        };
        let deadline = tokio::time::sleep_until(end_of_life.min(init_by));
        tokio::pin!(deadline);
        let every = self.protocol.keepalive(settings);
        let mut keepalive = tokio::time::interval_at(opened + every, every);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let attention = self.attention.clone();
        loop {
            let flow = tokio::select! {
                biased;
                _ = attention.cancelled() => {
                    let why = Stop::why(&self.app, &self.mailbox);
                    Box::pin(self.end_for(why)).await
                }
                _ = &mut deadline => {
                    let fault = if self.acknowledged || Instant::now() >= end_of_life {
                        Fault::Closing(Closing::LifetimeReached)
                    } else {
                        Fault::InitTimeout
                    };
                    Box::pin(self.emit(Reply::Fault(fault))).await
                }
                // Boxed: handling a frame may run the whole GraphQL validation and auth stack,
                // whose futures are kilobytes; inline they would sit in every idle session.
                frame = stream.next() => Box::pin(self.on_frame(frame)).await,
                // Boxed too: a delivery's write (with its close timer) would otherwise sit in
                // every idle session; one allocation per batch of up to 64 deliveries.
                mail = self.inbox.recv() => Box::pin(self.deliver(mail)).await,
                _ = keepalive.tick(), if self.acknowledged => Box::pin(self.keep_alive()).await,
            };
            if flow == Flow::Closed {
                return;
            }
            if self.acknowledged && deadline.deadline() != end_of_life {
                deadline.as_mut().reset(end_of_life);
            }
        }
    }

    /// Ends the session for the reason its attention token was cancelled.
    async fn end_for(&mut self, why: Stop) -> Flow {
        match why {
            Stop::ShuttingDown => self.shut_down().await,
            Stop::SlowConsumer => self.slow_consumer().await,
            Stop::Kicked => {
                self.emit(Reply::Fault(Fault::Closing(Closing::Kicked)))
                    .await
            }
        }
    }

    /// The client does not read fast enough: its mailbox overflowed.
    async fn slow_consumer(&mut self) -> Flow {
        self.app
            .metrics
            .slow_consumer_disconnects
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(remote = %self.peer.remote, "closing a slow consumer");
        self.emit(Reply::Fault(Fault::Closing(Closing::SlowConsumer)))
            .await
    }

    /// The node is stopping: statuses already in the mailbox (published before the HTTP drain
    /// ended, so their publishers were told they went out) are written, then the close frame.
    async fn shut_down(&mut self) -> Flow {
        while let Some(mail) = self.inbox.try_recv() {
            if self.deliver(mail).await == Flow::Closed {
                return Flow::Closed;
            }
        }
        self.emit(Reply::Fault(Fault::Closing(Closing::ShuttingDown)))
            .await
    }

    /// Encodes a reply and writes it. A reply that closes the connection gets [`CLOSE_GRACE`] to
    /// go out; any other write gives up when the mailbox overflows, so a client that stopped
    /// reading cannot hold the session in a write.
    async fn emit(&mut self, reply: Reply<'_>) -> Flow {
        let encoded = self.protocol.encode(reply);
        self.write(encoded).await
    }

    async fn write(&mut self, Encoded { frames, close }: Encoded) -> Flow {
        let closing = close.is_some();
        if let Some(close) = &close {
            self.ended = Some((close.code, close.reason.to_string()));
        }
        let sink = &mut self.sink;
        let write = async {
            for frame in frames {
                sink.feed(frame).await?;
            }
            if let Some(close) = close {
                sink.feed(Message::Close(Some(close))).await?;
            }
            sink.flush().await
        };
        if closing {
            let _ = tokio::time::timeout(CLOSE_GRACE, write).await;
            return Flow::Closed;
        }
        let overflowed = self.mailbox.overflowed().clone();
        tokio::select! {
            result = write => match result {
                Ok(()) => Flow::Continue,
                Err(_) => Flow::Closed,
            },
            // Only an overflow (the client stopped reading) abandons a write, never a shutdown
            // or a kick: what was acknowledged to its publisher still goes out. The serve loop
            // sees the overflow next and closes the connection.
            _ = overflowed.cancelled() => Flow::Continue,
        }
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, axum::Error>>) -> Flow {
        let message = match frame {
            None => return Flow::Closed,
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                // RFC 6455: a frame over the size limit closes with 1009, text that is not
                // UTF-8 with 1007, a malformed frame with 1002; anything else (I/O) broke the
                // connection itself.
                // A client that went away without a close frame broke nothing of the protocol.
                let closing = match error.into_inner().downcast::<tungstenite::Error>() {
                    Ok(error) => match *error {
                        tungstenite::Error::Capacity(_) => Some(Closing::FrameTooLarge),
                        tungstenite::Error::Utf8(_) => Some(Closing::InvalidUtf8),
                        tungstenite::Error::Protocol(
                            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                        ) => {
                            self.ended = Some((1006, ABRUPT.to_owned()));
                            None
                        }
                        tungstenite::Error::Protocol(_) => Some(Closing::ProtocolError),
                        _ => None,
                    },
                    Err(_) => None,
                };
                return match closing {
                    Some(closing) => self.emit(Reply::Fault(Fault::Closing(closing))).await,
                    None => Flow::Closed,
                };
            }
        };
        self.seen_since_touch = true;
        match message {
            Message::Text(text) => self.on_text(&text).await,
            Message::Binary(_) => {
                self.invalid(Fault::InvalidMessage {
                    reason: "binary frames are not supported; send JSON text".to_owned(),
                    id: None,
                    kind: Malformation::NotJson,
                    of: None,
                })
                .await
            }
            // The WebSocket layer has queued the reply to the client's close frame; flushing
            // sends it, so the client sees a clean close rather than a dropped connection.
            Message::Close(frame) => {
                self.ended = Some(match frame {
                    Some(frame) => (
                        frame.code,
                        format!("closed by the client: {}", frame.reason),
                    ),
                    None => (1005, "closed by the client".to_owned()),
                });
                let _ = tokio::time::timeout(CLOSE_GRACE, self.sink.flush()).await;
                Flow::Closed
            }
            // The WebSocket layer answers pings itself.
            Message::Ping(_) | Message::Pong(_) => Flow::Continue,
        }
    }

    async fn invalid(&mut self, fault: Fault) -> Flow {
        self.app.metrics.exported.invalid_messages.increment(1);
        self.emit(Reply::Fault(fault)).await
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        let message = match self.protocol.decode(text) {
            Ok(message) => message,
            Err(error) => {
                return self
                    .invalid(Fault::InvalidMessage {
                        reason: error.reason,
                        id: error.id,
                        kind: error.kind,
                        of: error.of,
                    })
                    .await;
            }
        };
        match message {
            ClientMessage::Init { payload } => self.init(payload).await,
            ClientMessage::Subscribe {
                id,
                request,
                authorization,
                data,
            } => self.subscribe(id, request, authorization, data).await,
            ClientMessage::SubscribeChannel {
                id,
                channel,
                authorization,
                opening,
            } => {
                self.subscribe_channel(id, &channel, authorization.as_ref(), opening.as_ref())
                    .await
            }
            ClientMessage::Publish {
                id,
                channel,
                events,
                authorization,
            } => {
                self.publish(&id, &channel, &events, authorization.as_ref())
                    .await
            }
            ClientMessage::Stop { id } => self.stop(&id).await,
            ClientMessage::Ping { payload } => self.emit(Reply::Pong(payload.as_ref())).await,
            ClientMessage::Pong => Flow::Continue,
            ClientMessage::Terminate => {
                self.ended = Some((1005, "connection_terminate from the client".to_owned()));
                let _ =
                    tokio::time::timeout(CLOSE_GRACE, self.sink.send(Message::Close(None))).await;
                Flow::Closed
            }
        }
    }

    async fn init(&mut self, payload: Option<serde_json::Value>) -> Flow {
        if self.acknowledged {
            if self.protocol.acks_repeated_init() {
                return self.emit(self.ack()).await;
            }
            return self.emit(Reply::Fault(Fault::TooManyInits)).await;
        }
        if self.protocol.authenticates_at_upgrade() {
            // Authenticated as it opened: `connection_init` only starts the keep-alives.
            self.acknowledged = true;
            return self.emit(self.ack()).await;
        }
        let identity = match self.authenticate_connection(payload.as_ref()).await {
            Ok(identity) => identity,
            Err(fault) => return self.emit(Reply::Fault(fault)).await,
        };
        tracing::debug!(mode = %identity.mode, principal = %identity.principal, "connection authenticated");
        let user = self.verified_user(&identity);
        self.identity = Some(identity);
        // The upgrade's headers served their purpose; an idle connection need not keep them.
        self.peer.credentials = Ok(Default::default());
        self.app
            .record_connect(&self.id, user, self.protocol.name(), self.peer.remote)
            .await;
        self.acknowledged = true;
        self.emit(self.ack()).await
    }

    fn ack(&self) -> Reply<'static> {
        let timeout = self.app.settings.websocket.connection_timeout.as_millis();
        Reply::Ack {
            connection_timeout_ms: u64::try_from(timeout).unwrap_or(u64::MAX),
        }
    }

    async fn keep_alive(&mut self) -> Flow {
        if std::mem::take(&mut self.seen_since_touch)
            && let Err(error) = self.app.store.touch(&self.id, Utc::now()).await
        {
            self.app.store_failed(error);
        }
        self.emit(Reply::KeepAlive).await
    }

    /// Leaves the index and the store, whatever ended the session.
    async fn close(&mut self) {
        for (_, active) in std::mem::take(&mut self.active) {
            self.leave(&active);
        }
        self.app.connections.remove(&self.id);
        self.client_ids.clear();
        if let Err(error) = self.app.store.disconnect(&self.id).await {
            self.app.store_failed(error);
        }
    }

    /// Takes a subscription out of the index and the invalidations, and tells the bus one
    /// listener fewer.
    fn leave(&self, active: &Active) {
        let registration = &active.registration;
        self.app.metrics.exported.subscriptions.decrement(1);
        self.app.index.unsubscribe(registration);
        self.app
            .invalidations
            .unwatch(&active.field, registration.id);
        self.app.bus.forget(registration.key());
    }
}

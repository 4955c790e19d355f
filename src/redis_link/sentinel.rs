//! A master found through Redis Sentinel, and followed when Sentinel promotes another server.
//!
//! redis-rs asks Sentinel once and its connections keep the address they were given, so after
//! a failover they would keep knocking at the old master (dead, or a read-only replica now).
//! Here a watcher keeps asking: every `--redis-sentinel-lookup`, at once when a command failed,
//! and at once when a sentinel announces a failover (`+switch-master`, heard on one sentinel at
//! a time), so every node moves within milliseconds of the announcement rather than each at
//! its own next lookup. When the sentinels name another server and that server says it is a
//! master (`ROLE`), the command connection is replaced, and every subscriber connection moves
//! too: it subscribes again on the new master to what it held on the old one, then tells its
//! reader the link dropped, so the bus catches its topics up from their streams.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{AsyncPushSender, ConnectionManager, MultiplexedConnection, SendError};
use redis::{
    AsyncConnectionConfig, Client, ConnectionInfo, PushInfo, PushKind, RedisResult, Value,
};
use tokio::sync::{Notify, watch};

use super::target::SentinelTarget;
use super::{RedisLinkError, server, server_config, subscriber_config};

/// The shortest time between two lookups, so a burst of failing commands asks once.
const LOOKUP_GAP: Duration = Duration::from_millis(100);

/// How long a subscriber waits before trying again to reach a new master that refused it, and
/// the announcement listener before trying the next sentinel.
const MOVE_RETRY: Duration = Duration::from_millis(200);

/// The channel on which sentinels announce a new master.
const SWITCH_MASTER: &str = "+switch-master";

/// The master of a Sentinel-watched group, as last named by the sentinels.
pub struct SentinelMaster {
    /// The command connection to the current master.
    commands: RwLock<ConnectionManager>,
    /// Where the current master is; subscribers follow it, and its sender's drop ends the
    /// watcher and the announcement listener.
    moved: watch::Sender<ConnectionInfo>,
    /// Wakes the watcher to ask the sentinels now.
    suspect: Arc<Notify>,
    timeout: Duration,
}

impl SentinelMaster {
    /// Asks the sentinels for the master, connects to it and starts the watcher (asking again
    /// every `lookup`) and the announcement listener, which end once the master is dropped.
    pub async fn connect(
        target: SentinelTarget,
        timeout: Duration,
        lookup: Duration,
    ) -> Result<Arc<Self>, RedisLinkError> {
        let announcers = target.sentinels.clone();
        let mut sentinels = Sentinels::new(target, timeout);
        let info = sentinels.master().await?;
        let commands = connect_master(&info, timeout).await?;
        let suspect = Arc::new(Notify::new());
        let master = Arc::new(Self {
            commands: RwLock::new(commands),
            moved: watch::channel(info).0,
            suspect: suspect.clone(),
            timeout,
        });
        tokio::spawn(hear_switches(
            announcers,
            suspect.clone(),
            master.moved.subscribe(),
            timeout,
        ));
        tokio::spawn(watch(
            Arc::downgrade(&master),
            master.moved.subscribe(),
            suspect,
            sentinels,
            lookup,
        ));
        Ok(master)
    }

    /// The command connection to the current master.
    pub fn commands(&self) -> ConnectionManager {
        self.commands
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Passes on a command's `result`; a failure may mean the master changed, so the sentinels
    /// are asked now.
    pub fn noted<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        if result.is_err() {
            self.suspect.notify_one();
        }
        result
    }

    /// The database commands go to (as the URL said).
    pub fn db(&self) -> i64 {
        self.moved.borrow().redis_settings().db()
    }

    /// A pub/sub connection to the current master that follows it to the next one.
    pub async fn subscriber(
        &self,
        push: Arc<dyn AsyncPushSender>,
    ) -> Result<Arc<SentinelPushConnection>, RedisLinkError> {
        let moved = self.moved.subscribe();
        let info = moved.borrow().clone();
        let connection = connect_subscriber(&info, self.timeout, &push).await?;
        let subscriber = Arc::new(SentinelPushConnection {
            connection: RwLock::new(connection),
            channels: Mutex::new(HashSet::new()),
            order: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(follow_moves(
            Arc::downgrade(&subscriber),
            moved,
            push,
            self.timeout,
        ));
        Ok(subscriber)
    }

    /// Asks the sentinels which server is the master, and switches to it if it is another one
    /// that says it is a master.
    async fn follow(&self, sentinels: &mut Sentinels) {
        let info = match sentinels.master().await {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, "asking Redis Sentinel for the master failed");
                return;
            }
        };
        let current = self.moved.borrow().addr().clone();
        if *info.addr() == current {
            return;
        }
        match connect_master(&info, self.timeout).await {
            Ok(commands) => {
                *self.commands.write().unwrap_or_else(|p| p.into_inner()) = commands;
                tracing::warn!(
                    from = %current,
                    to = %info.addr(),
                    "Redis Sentinel names a new master; following it"
                );
                self.moved.send_replace(info);
            }
            Err(error) => tracing::debug!(%error, to = %info.addr(), "the new master is not ready"),
        }
    }
}

/// The watcher: asks the sentinels when woken or every `lookup`, until the master is dropped
/// (`alive`'s sender with it). It keeps only a weak reference between lookups.
async fn watch(
    master: Weak<SentinelMaster>,
    mut alive: watch::Receiver<ConnectionInfo>,
    suspect: Arc<Notify>,
    mut sentinels: Sentinels,
    lookup: Duration,
) {
    loop {
        tokio::select! {
            _ = suspect.notified() => {}
            _ = tokio::time::sleep(lookup) => {}
            _ = closed(&mut alive) => return,
        }
        let Some(master) = master.upgrade() else {
            return;
        };
        master.follow(&mut sentinels).await;
        drop(master);
        tokio::time::sleep(LOOKUP_GAP).await;
    }
}

/// Listens for `+switch-master` on one sentinel at a time and wakes the watcher on each
/// announcement (of any master: a lookup too many is harmless). Moves on to the next sentinel
/// when one cannot be reached or its connection ends; ends once `alive`'s sender (the master)
/// is dropped.
async fn hear_switches(
    sentinels: Vec<ConnectionInfo>,
    suspect: Arc<Notify>,
    mut alive: watch::Receiver<ConnectionInfo>,
    timeout: Duration,
) {
    for sentinel in sentinels.iter().cycle() {
        let heard = async {
            let client = Client::open(sentinel.clone())?;
            let mut pubsub = tokio::time::timeout(timeout, client.get_async_pubsub())
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            pubsub.subscribe(SWITCH_MASTER).await?;
            let mut announcements = pubsub.on_message();
            while announcements.next().await.is_some() {
                suspect.notify_one();
            }
            RedisResult::Ok(())
        };
        tokio::select! {
            result = heard => if let Err(error) = result {
                tracing::debug!(%error, sentinel = %sentinel.addr(), "listening for failovers failed");
            },
            _ = closed(&mut alive) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(MOVE_RETRY) => {}
            _ = closed(&mut alive) => return,
        }
    }
}

/// Resolves once the master (the sender of `alive`) is dropped.
async fn closed(alive: &mut watch::Receiver<ConnectionInfo>) {
    while alive.changed().await.is_ok() {}
}

/// Connects to `info` and checks it is a master: a sentinel may name a server before its
/// promotion finished.
async fn connect_master(
    info: &ConnectionInfo,
    timeout: Duration,
) -> Result<ConnectionManager, RedisLinkError> {
    let mut commands =
        ConnectionManager::new_with_config(server(info)?, server_config(timeout)).await?;
    let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut commands).await?;
    match role.first() {
        Some(Value::BulkString(role)) if role == b"master" => Ok(commands),
        _ => Err(RedisLinkError::NotMaster(info.addr().to_string())),
    }
}

/// The sentinels, each with a connection made when first needed and dropped when it failed.
struct Sentinels {
    target: SentinelTarget,
    connections: Vec<Option<MultiplexedConnection>>,
    config: AsyncConnectionConfig,
}

impl Sentinels {
    fn new(target: SentinelTarget, timeout: Duration) -> Self {
        Self {
            connections: vec![None; target.sentinels.len()],
            target,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout)),
        }
    }

    /// The master as the first sentinel that knows it says (`SENTINEL
    /// get-master-addr-by-name`), asking the sentinels in turn. The one that answered is asked
    /// first next time, so an unreachable one costs a timeout once, not on every lookup.
    async fn master(&mut self) -> Result<ConnectionInfo, RedisLinkError> {
        let mut last = None;
        for i in 0..self.connections.len() {
            match self.ask(i).await {
                Ok(Some((host, port))) => {
                    self.connections.swap(0, i);
                    self.target.sentinels.swap(0, i);
                    return Ok(self.target.at(host, port));
                }
                Ok(None) => last = Some(RedisLinkError::UnknownMaster(self.target.master.clone())),
                Err(error) => {
                    self.connections[i] = None;
                    last = Some(error.into());
                }
            }
        }
        Err(last.unwrap_or(RedisLinkError::UnknownMaster(self.target.master.clone())))
    }

    async fn ask(&mut self, i: usize) -> RedisResult<Option<(String, u16)>> {
        let connection = match &mut self.connections[i] {
            Some(connection) => connection,
            slot => {
                let client = Client::open(self.target.sentinels[i].clone())?;
                let connection = client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?;
                slot.insert(connection)
            }
        };
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.target.master)
            .query_async(connection)
            .await
    }
}

/// A pub/sub connection that follows the master: what it subscribed to on one master, it
/// subscribes to again on the next.
pub struct SentinelPushConnection {
    connection: RwLock<ConnectionManager>,
    /// Every channel subscribed to, to subscribe to again after a move.
    channels: Mutex<HashSet<String>>,
    /// Held around each subscribe, unsubscribe and move, so that a move's subscriptions and
    /// a concurrent unsubscription reach the new master in the order they were decided.
    order: tokio::sync::Mutex<()>,
}

impl SentinelPushConnection {
    /// The connection to the current master.
    pub fn connection(&self) -> ConnectionManager {
        self.connection
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub async fn subscribe(&self, channels: &[String]) -> RedisResult<()> {
        let _order = self.order.lock().await;
        let result = self.connection().subscribe(channels).await;
        if result.is_ok() {
            self.channels().extend(channels.iter().cloned());
        }
        result
    }

    pub async fn unsubscribe(&self, channels: &[String]) -> RedisResult<()> {
        let _order = self.order.lock().await;
        {
            let mut held = self.channels();
            for channel in channels {
                held.remove(channel);
            }
        }
        self.connection().unsubscribe(channels).await
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects to `info`, makes it the connection, subscribes there to every channel held and
    /// tells the reader the link dropped (events published meanwhile are in the streams).
    async fn move_to(
        &self,
        info: &ConnectionInfo,
        timeout: Duration,
        push: &Arc<dyn AsyncPushSender>,
    ) -> Result<(), RedisLinkError> {
        let mut connection = connect_subscriber(info, timeout, push).await?;
        {
            let _order = self.order.lock().await;
            *self.connection.write().unwrap_or_else(|p| p.into_inner()) = connection.clone();
            let channels: Vec<String> = self.channels().iter().cloned().collect();
            if !channels.is_empty() {
                connection.subscribe(&channels).await?;
            }
        }
        push.send(PushInfo {
            kind: PushKind::Disconnection,
            data: Vec::new(),
        })
        .map_err(|SendError| RedisLinkError::Closed)?;
        Ok(())
    }
}

/// Moves `subscriber` to each master the watcher switches to, until either is dropped.
async fn follow_moves(
    subscriber: Weak<SentinelPushConnection>,
    mut moved: watch::Receiver<ConnectionInfo>,
    push: Arc<dyn AsyncPushSender>,
    timeout: Duration,
) {
    while moved.changed().await.is_ok() {
        let info = moved.borrow_and_update().clone();
        loop {
            let Some(subscriber) = subscriber.upgrade() else {
                return;
            };
            match subscriber.move_to(&info, timeout, &push).await {
                Ok(()) => break,
                Err(RedisLinkError::Closed) => return,
                Err(error) => tracing::warn!(
                    %error,
                    to = %info.addr(),
                    "moving the pub/sub connection to the new master failed; retrying"
                ),
            }
            drop(subscriber);
            // A newer master replaces this one as the goal.
            if moved.has_changed().unwrap_or(true) {
                break;
            }
            tokio::time::sleep(MOVE_RETRY).await;
        }
    }
}

async fn connect_subscriber(
    info: &ConnectionInfo,
    timeout: Duration,
    push: &Arc<dyn AsyncPushSender>,
) -> Result<ConnectionManager, RedisLinkError> {
    let push = push.clone();
    let config = subscriber_config(timeout, move |info: PushInfo| push.send(info));
    Ok(ConnectionManager::new_with_config(server(info)?, config).await?)
}

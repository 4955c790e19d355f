//! A node's shared state, [`App`]: everything a request or a session needs, built once from the
//! settings (schema, index, bus, history, store, authenticator, limits, metrics). The HTTP routes
//! and the sessions read it; `server` binds it to a socket and runs it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{Api, SchemaLimits};
use crate::auth::{AuthSetupError, Authenticator, Credentials, Identity};
use crate::caller::auth_mode::AuthMode;
use crate::config::Settings;
use crate::config::StoreKind;
use crate::connections::Connections;
use crate::events::access::ChannelAccess;
use crate::graphql::rules::{Rules, RulesError};
use crate::graphql::schema::access::{AccessPolicy, OwnerRule};
use crate::graphql::schema::{DEFAULT_SDL, SchemaError, SchemaModel};
use crate::metrics::Metrics;
use crate::net::limits::{AddressLimits, LimitSettings};
use crate::pubsub::{
    Broker, Bus, Idempotency, Invalidations, LocalBus, RedisBus, RedisBusSettings,
    SubscriptionIndex, TopicPlan,
};
use crate::redis_link::{RedisLink, RedisLinkError};
use crate::store::{ConnectionStore, MemoryStore, RedisStore, StoreError};
use crate::stream::{MemoryStreams, StreamLimits};

/// Why a node cannot start: its settings, schema, credentials setup, Redis, store or socket.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot read the schema file {path}: {source}")]
    SchemaFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The cause is shown, not chained (a chained `io::Error` would print twice); the hint is
    /// chosen by its kind.
    #[error("cannot listen on {addr}: {cause}{}", bind_hint(cause.kind()))]
    Bind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    #[error("cannot build the outbound HTTP client: {0}")]
    HttpClient(String),
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Redis(#[from] RedisLinkError),
    #[error("cannot open the connection store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// What to try when the listening address cannot be bound.
fn bind_hint(kind: std::io::ErrorKind) -> &'static str {
    match kind {
        std::io::ErrorKind::AddrInUse => {
            "; another process (another Switchboard?) listens there: stop it, or choose another address with --listen"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need privileges: choose another with --listen"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "; no interface of this machine has that address: use 127.0.0.1 or 0.0.0.0 with --listen"
        }
        _ => "",
    }
}

/// Everything a request or a session needs, shared by all of them.
pub struct App {
    pub settings: Settings,
    pub api: Api,
    pub index: Arc<SubscriptionIndex>,
    /// Carries events to every node's index (in-process, or Redis for a cluster).
    pub bus: Arc<dyn Bus>,
    pub store: Arc<dyn ConnectionStore>,
    /// The sessions this node holds, so the bus can close one for an administrator.
    pub connections: Arc<Connections>,
    /// The subscriptions an invalidation may end, by field.
    pub invalidations: Arc<Invalidations>,
    /// Server-side subscription filters and invalidations (`--rules`).
    pub rules: Arc<Rules>,
    /// The link to Redis, when the node is part of a cluster.
    pub redis: Option<RedisLink>,
    /// Verifies callers in the API's auth modes.
    pub auth: Authenticator,
    /// What a verified caller may do with AppSync Events channels.
    pub channels: ChannelAccess,
    /// Per-address connection and failed-auth limits.
    pub limits: Arc<AddressLimits>,
    /// This node's id, written into connection records (each shares this one).
    pub node_id: Arc<str>,
    pub metrics: Metrics,
    /// Cancelled to shut the node down: the listener stops accepting and HTTP connections
    /// drain; `/ready` answers 503 from then on.
    pub shutdown: CancellationToken,
    /// Cancelled once the HTTP connections have drained: every session closes (1001) and the
    /// background tasks end.
    pub closing: CancellationToken,
    /// The session tasks, so shutdown can wait for their close frames to go out.
    pub sessions: TaskTracker,
}

impl App {
    /// Builds a node's state: loads and checks the schema, wires the index, bus, history and
    /// store. Returns the API key it generated when the settings have none.
    pub async fn new(settings: Settings) -> Result<(Arc<Self>, Option<String>), ServerError> {
        if settings.websocket.connection_timeout <= settings.websocket.keepalive {
            return Err(ServerError::Settings(format!(
                "--connection-timeout ({:?}) must be longer than --keepalive ({:?}), or AppSync clients drop the connection between keep-alives",
                settings.websocket.connection_timeout, settings.websocket.keepalive
            )));
        }
        let sdl = match &settings.schema {
            Some(path) => {
                std::fs::read_to_string(path).map_err(|source| ServerError::SchemaFile {
                    path: path.display().to_string(),
                    source,
                })?
            }
            None => DEFAULT_SDL.to_owned(),
        };
        let model = Arc::new(SchemaModel::parse(&sdl)?);
        for warning in model.warnings() {
            tracing::warn!("schema: {warning}");
        }
        let rules = Arc::new(match &settings.rules {
            Some(path) => Rules::load(path, &model)?,
            None => Rules::default(),
        });
        let invalidations = Arc::new(Invalidations::default());
        let node_id: Arc<str> = settings
            .node_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
            .into();
        let shutdown = CancellationToken::new();
        let closing = CancellationToken::new();
        let index = Arc::new(SubscriptionIndex::new());
        let connections = Arc::new(Connections::default());
        let cluster = &settings.cluster;
        let redis = match &cluster.redis_url {
            Some(url) => Some(
                RedisLink::connect(
                    url,
                    &cluster.redis_prefix,
                    cluster.redis_timeout,
                    cluster.redis_sentinel_lookup,
                )
                .await?,
            ),
            None => None,
        };
        let topics =
            Arc::new(TopicPlan::new(&model).map_err(|e| ServerError::Settings(e.to_string()))?);
        let limits = StreamLimits {
            per_topic: settings.history_per_topic,
            topic_bytes: settings.history_topic_bytes,
            total_bytes: settings.history_max_bytes,
            max_topics: settings.history_max_topics,
            max_age: settings.history_max_age,
        };
        let idempotency = Idempotency {
            ttl: settings.idempotency_ttl,
            max_keys: settings.idempotency_max_keys,
        };
        let bus: Arc<dyn Bus> = match &redis {
            Some(link) => Arc::new(
                RedisBus::start(
                    link.clone(),
                    topics.clone(),
                    index.clone(),
                    connections.clone(),
                    invalidations.clone(),
                    RedisBusSettings {
                        node_id: node_id.to_string(),
                        limits,
                        inbox: cluster.redis_inbox,
                        idempotency,
                    },
                    closing.clone(),
                )
                .await?,
            ),
            None => Arc::new(LocalBus::new(
                index.clone(),
                topics.clone(),
                MemoryStreams::new(limits),
                connections.clone(),
                invalidations.clone(),
                idempotency,
            )),
        };
        let store = open_store(&settings, redis.as_ref(), &node_id).await?;
        let metrics = Metrics::default();
        for bridge in &settings.events.event_bridge {
            if !model.mutations.contains_key(&bridge.mutation) {
                return Err(ServerError::Settings(format!(
                    "--event-bridge names mutation `{}`, which the schema does not define",
                    bridge.mutation
                )));
            }
        }
        let broker = Arc::new(
            Broker::new(
                bus.clone(),
                topics,
                rules.clone(),
                settings.history_per_topic,
                metrics.exported.published.clone(),
            )
            .with_bridges(
                settings.events.event_bridge.clone(),
                settings.events.event_namespaces.clone(),
            ),
        );
        let limits = SchemaLimits {
            max_depth: settings.max_query_depth,
            max_complexity: settings.max_query_complexity,
            parsed_documents: settings.parsed_document_cache,
        };
        let (auth, generated) = Authenticator::new(
            &settings,
            crate::net::http_client::client().map_err(ServerError::HttpClient)?,
        )
        .await?;
        let api = Api::new(model, broker, limits, access_policy(&settings, &auth))?;
        let limits = Arc::new(AddressLimits::new(LimitSettings {
            websockets_per_address: settings.max_connections_per_address,
            http_per_address: settings.max_http_connections_per_address,
            connections: settings
                .max_connections
                .unwrap_or_else(crate::net::open_files::connection_ceiling),
            auth_failures_per_window: settings.max_auth_failures_per_minute,
            auth_failure_window: settings.auth_failure_window,
        }));
        tokio::spawn(heartbeat(
            store.clone(),
            settings.cluster.heartbeat,
            closing.clone(),
        ));
        let app = App {
            node_id,
            channels: ChannelAccess::new(
                &settings.events,
                &settings.trusted_modes,
                &settings.owner_claim,
                settings.admin_group.as_deref(),
            ),
            settings,
            api,
            index,
            bus,
            store,
            connections,
            invalidations,
            rules,
            redis,
            auth,
            limits,
            metrics,
            shutdown,
            closing,
            sessions: TaskTracker::new(),
        };
        Ok((Arc::new(app), generated))
    }
}

/// The access check's settings: the default mode, the owner rule, the admin group.
fn access_policy(settings: &Settings, auth: &Authenticator) -> AccessPolicy {
    AccessPolicy {
        default_mode: auth.default_mode,
        owner: settings.owner_arg.as_ref().map(|arg| OwnerRule {
            arg: arg.clone(),
            claim: settings.owner_claim.clone(),
            trusted_modes: settings.trusted_modes.clone(),
        }),
        admin_group: settings.admin_group.clone(),
    }
}

impl App {
    /// Writes a new connection's record (what the admin API lists); a failure is counted and
    /// logged, and the connection carries on. Every kind of session records itself here.
    pub async fn record_connect(
        &self,
        connection_id: &str,
        user_id: Option<String>,
        protocol: &'static str,
        remote: std::net::SocketAddr,
    ) {
        let now = chrono::Utc::now();
        let record = crate::store::ConnectionRecord {
            connection_id: connection_id.to_owned(),
            user_id,
            protocol: protocol.into(),
            remote_addr: remote.to_string(),
            node_id: self.node_id.clone(),
            connected_at: now,
            last_seen: now,
            subscriptions: Vec::new(),
        };
        if let Err(error) = self.store.connect(record).await {
            self.store_failed(error);
        }
    }

    /// A connection-store write failed: counted and logged; the connection carries on.
    pub fn store_failed(&self, error: crate::store::StoreError) {
        self.metrics.exported.store_errors.increment(1);
        tracing::warn!(%error, "connection store write failed");
    }

    /// The user a connection record names: the verified identity's owner claim for token and
    /// authorizer callers; for API keys and IAM, none.
    pub fn verified_user(&self, identity: &Identity) -> Option<String> {
        match identity.mode {
            AuthMode::ApiKey | AuthMode::Iam => None,
            _ => identity.claim(&self.settings.owner_claim),
        }
    }

    /// Counts a failed authentication from `address`: towards its lockout, and in
    /// `switchboard_auth_failures_total` by the mode the credentials were checked as. Every
    /// door (HTTP, each WebSocket protocol, the admin API) reports failures here.
    /// Logged at `info` the first time in a window and when the address is locked out, so a
    /// flood of bad credentials is a few lines, not one per attempt; no credential is logged.
    pub fn auth_failed(&self, address: IpAddr, credentials: &Credentials) {
        let mode = self.auth.mode_of(credentials);
        let (failures, locked_out) = self.limits.failed(address);
        self.metrics.exported.auth_failed(mode);
        let mode = mode.map_or("none", crate::auth::AuthMode::name);
        if locked_out {
            tracing::warn!(client = %address, mode, failures, "credentials refused; address locked out");
        } else if failures == 1 {
            tracing::info!(client = %address, mode, "credentials refused");
        }
    }
}

/// The connection store the settings name.
async fn open_store(
    settings: &Settings,
    redis: Option<&RedisLink>,
    node_id: &str,
) -> Result<Arc<dyn ConnectionStore>, ServerError> {
    let ttl = settings.cluster.record_ttl();
    match settings.cluster.store_kind() {
        StoreKind::Memory => Ok(Arc::new(MemoryStore::new())),
        StoreKind::Redis => match redis {
            Some(link) => Ok(Arc::new(RedisStore::new(link.clone(), node_id, ttl))),
            None => Err(ServerError::Settings(
                "--store redis needs --redis-url".to_owned(),
            )),
        },
        #[cfg(feature = "dynamodb")]
        StoreKind::Dynamodb => Ok(Arc::new(
            crate::store::DynamoStore::connect(&settings.cluster, node_id).await?,
        )),
        #[cfg(not(feature = "dynamodb"))]
        StoreKind::Dynamodb => Err(ServerError::Settings(
            "--store dynamodb needs a build with the `dynamodb` feature (cargo build --features dynamodb)"
                .to_owned(),
        )),
    }
}

/// Refreshes this node's connection records every `every`, so they expire only if the node
/// stops.
async fn heartbeat(store: Arc<dyn ConnectionStore>, every: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(error) = store.heartbeat().await {
            tracing::warn!(%error, "connection store heartbeat failed");
        }
    }
}

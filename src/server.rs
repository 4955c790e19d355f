//! Assembling a node from its settings, and running it: the shared [`App`] state, the listener,
//! and a clean shutdown that closes every WebSocket with a proper close frame.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::ApiKeys;
use crate::config::Settings;
use crate::history::MemoryHistory;
use crate::metrics::Metrics;
use crate::pubsub::{Broker, LocalBus, SubscriptionIndex};
use crate::schema::{Api, DEFAULT_SDL, SchemaError, SchemaLimits, SchemaModel};
use crate::store::{ConnectionStore, MemoryStore};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot read the schema file {path}: {source}")]
    SchemaFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// Everything a request or a session needs, shared by all of them.
pub struct App {
    pub settings: Settings,
    pub api: Api,
    pub index: Arc<SubscriptionIndex>,
    pub store: Arc<dyn ConnectionStore>,
    pub keys: ApiKeys,
    /// This node's id, written into connection records.
    pub node_id: String,
    pub metrics: Metrics,
    /// Cancelled to shut the node down; every session watches it.
    pub shutdown: CancellationToken,
    /// The session tasks, so shutdown can wait for their close frames to go out.
    pub sessions: TaskTracker,
}

impl App {
    /// Builds a node's state: loads and checks the schema, wires the index, bus, history and
    /// store. Returns the API key it generated when the settings have none.
    pub fn new(settings: Settings) -> Result<(Arc<Self>, Option<String>), ServerError> {
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
        let index = Arc::new(SubscriptionIndex::new());
        let bus = Arc::new(LocalBus::new(index.clone(), Arc::new(model.routes.clone())));
        let history = Arc::new(MemoryHistory::new(
            settings.history_per_topic,
            settings.history_max_topics,
        ));
        let broker = Arc::new(Broker::new(bus, history, model.history.clone()));
        let limits = SchemaLimits {
            max_depth: settings.max_query_depth,
            max_complexity: settings.max_query_complexity,
        };
        let api = Api::new(model, broker, limits)?;
        let mut keys = ApiKeys::new(settings.api_keys.iter().cloned());
        let generated = keys.is_empty().then(ApiKeys::generate);
        if let Some(key) = &generated {
            keys = ApiKeys::new([key.clone()]);
        }
        let app = App {
            node_id: settings
                .node_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            settings,
            api,
            index,
            store: Arc::new(MemoryStore::new()),
            keys,
            metrics: Metrics::default(),
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
        };
        Ok((Arc::new(app), generated))
    }
}

/// A node bound to its address, ready to serve.
pub struct Server {
    app: Arc<App>,
    listener: TcpListener,
    generated_key: Option<String>,
}

impl Server {
    pub async fn bind(settings: Settings) -> Result<Self, ServerError> {
        let addr = settings.listen;
        let (app, generated_key) = App::new(settings)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Self {
            app,
            listener,
            generated_key,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The API key generated because none was configured.
    pub fn generated_key(&self) -> Option<&str> {
        self.generated_key.as_deref()
    }

    /// Serves until [`App::shutdown`] is cancelled, then closes every WebSocket and returns.
    pub async fn run(self) -> Result<(), ServerError> {
        let app = self.app.clone();
        let router = crate::http::router(app.clone());
        let shutdown = app.shutdown.clone();
        // Statuses are small and latency matters: no Nagle delay on any socket.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(ServerError::Serve)?;
        // Upgraded sockets are not covered by axum's graceful shutdown; the sessions see the
        // same token and close themselves.
        app.sessions.close();
        app.sessions.wait().await;
        Ok(())
    }
}

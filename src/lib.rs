//! Switchboard: a self-hosted GraphQL subscription server for AWS AppSync users.
//!
//! It serves an AppSync schema, runs its mutations over `POST /graphql` as pass-throughs, and
//! pushes each result to exactly the WebSocket subscribers whose subscription matches it. See
//! `docs/architecture.md` for the modules and the path of one event.

pub mod amplify;
pub mod api;
pub mod app;
pub mod auth;
pub mod auth_mode;
pub mod client;
pub mod config;
pub mod connections;
pub mod event;
pub mod events;
pub mod filter;
pub mod http;
pub mod http_client;
pub mod identity;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod open_files;
pub mod operation;
pub mod projection;
pub mod protocol;
pub mod proxies;
pub mod pubsub;
pub mod redis_link;
pub mod rules;
pub mod schema;
pub mod server;
pub mod session;
pub mod store;
pub mod stream;
pub mod subscription;
pub mod tls;

pub use app::{App, ServerError};
pub use config::Settings;
pub use server::Server;

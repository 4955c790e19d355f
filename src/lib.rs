//! Switchboard: a self-hosted GraphQL subscription server for AWS AppSync users.
//!
//! It serves an AppSync schema, runs its mutations over `POST /graphql` as pass-throughs, and
//! pushes each result to exactly the WebSocket subscribers whose subscription matches it. See
//! `docs/architecture.md` for the modules and the path of one event.

pub mod api;
pub mod app;
pub mod auth;
pub mod caller;
pub mod client;
pub mod config;
pub mod connections;
pub mod definition;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod net;
pub mod operation;
pub mod protocol;
pub mod publication;
pub mod pubsub;
pub mod redis_link;
pub mod server;
pub mod session;
pub mod store;
pub mod stream;
pub mod tls;

pub use app::{App, ServerError};
pub use config::Settings;
pub use server::Server;

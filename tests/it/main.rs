//! Switchboard's integration tests, as one binary (linked once, not once per file): each module
//! drives real servers on `127.0.0.1:0` with real clients, a concern per module; `support` holds
//! the servers, clients, Redis instances and auth helpers they share.

mod support;

mod access_control;
mod api_definition;
mod appsync_handshake;
mod appsync_messages;
mod auth;
mod auth_iam;
mod auth_jwks;
mod auth_modes;
mod bad_input;
mod browser;
mod cli;
mod cli_any_schema;
mod cluster;
mod custom_schema;
mod enhanced_filters;
mod error_texts;
mod events;
mod events_auth;
mod events_resume;
mod every_root_field;
mod examples;
mod fanout;
mod health;
mod history;
mod http_limits;
mod idempotency;
mod invalidation;
mod js_clients;
mod lifecycle;
mod logs;
mod metrics;
mod module_graph;
mod readme;
mod readme_blocks;
mod records;
mod redis_cluster;
mod redis_sentinel;
mod redis_stall;
mod redis_streams;
mod redis_tls;
mod resume;
mod schema_check;
mod secrets_in_logs;
mod session_invariants;
mod shutdown;
mod slow_consumer;
mod store_suite;
mod tls;
mod websocket_conformance;

//! AppSync Events: channel pub/sub beside the GraphQL API, on the same node, bus, index and
//! auth. This module holds the Events API's own vocabulary: its channels ([`channel`]), who may
//! use them ([`access`], the one access check of every Events door) and what a publish answers
//! ([`Outcome`]). Its WebSocket codec is `protocol::appsync_events`, beside
//! the GraphQL ones, served by the one session actor (`session::channels` holds its own
//! commands); `POST /event` is `http::events`.

pub mod access;
pub mod bridge;
pub mod channel;
mod outcome;
pub mod settings;

pub use outcome::Outcome;

/// The events of one publish, as AppSync allows.
pub const MAX_EVENTS_PER_PUBLISH: usize = 5;

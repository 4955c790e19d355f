//! AppSync Events: channel pub/sub beside the GraphQL API, on the same node, bus, index and
//! auth. This module holds what is the Events API's own: its channels ([`channel`]) and its
//! WebSocket protocol, `aws-appsync-event-ws` ([`codec`]). The connection actor is
//! `session::events`, `POST /event` is `http::events`.

pub mod bridge;
pub mod channel;
pub mod codec;

/// The events of one publish, as AppSync allows.
pub const MAX_EVENTS_PER_PUBLISH: usize = 5;

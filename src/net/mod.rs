//! The node on the network, below the app: the accept loop ([`listener`]), per-address limits
//! ([`limits`]), the client address behind trusted proxies ([`proxies`]), the open-file ceiling
//! ([`open_files`]) and the outbound HTTP client ([`http_client`]).

pub mod http_client;
pub mod limits;
pub mod listener;
pub mod open_files;
pub mod proxies;

//! What a GraphQL API means, below the executor: the schema model and its access rules
//! ([`schema`]), a subscriber's selection set compiled for rendering ([`projection`]), AppSync's
//! enhanced filters ([`filter`]) and the server-side rules of `--rules` ([`rules`]).

pub mod filter;
pub mod projection;
pub mod rules;
pub mod schema;

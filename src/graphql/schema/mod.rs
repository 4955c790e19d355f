//! What an AppSync SDL document means to Switchboard: the [`model`] of its types, mutations,
//! subscriptions and directives, the [`access`] rules its directives and the owner rule set,
//! the AWS [`scalars`], and the cache of parsed operations ([`documents`]). The executable schema
//! wired to the broker is built one level up, in `api`.

pub mod access;
pub mod documents;
pub mod example;
pub mod model;
pub mod scalars;

use async_graphql::Pos;
pub use model::SchemaModel;

/// The schema Switchboard serves when no `--schema` is given.
pub const DEFAULT_SDL: &str = include_str!("../../../schema.graphql");

/// Why a schema cannot be served. `Parse` and `Invalid` carry where in the SDL, when known.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the schema is not valid GraphQL SDL: {0}")]
    Parse(String, Option<Pos>),
    #[error("the schema cannot be served: {0}")]
    Invalid(String, Option<Pos>),
    #[error("the schema could not be built: {0}")]
    Build(String),
}

impl SchemaError {
    /// The line and column (1-based) in the SDL the error is about, when known.
    pub fn pos(&self) -> Option<Pos> {
        match self {
            Self::Parse(_, pos) | Self::Invalid(_, pos) => *pos,
            Self::Build(_) => None,
        }
    }
}

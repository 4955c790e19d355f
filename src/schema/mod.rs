//! The API a Switchboard node serves: an AppSync SDL document read at start-up, turned into a
//! model of what its directives mean ([`model`]) and an executable async-graphql schema
//! ([`build`]).

pub mod access;
mod build;
pub mod model;
pub mod scalars;

use std::sync::Arc;

use async_graphql::dynamic::Schema;

pub use build::{SchemaLimits, ValidationProbe, typed_error};
pub use model::SchemaModel;

use crate::pubsub::Broker;

/// The schema Switchboard serves when no `--schema` is given.
pub const DEFAULT_SDL: &str = include_str!("../../schema.graphql");

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the schema is not valid GraphQL SDL: {0}")]
    Parse(String),
    #[error("the schema cannot be served: {0}")]
    Invalid(String),
    #[error("the schema could not be built: {0}")]
    Build(String),
}

/// The served API: the model (routing, plans) and the executable schema.
pub struct Api {
    pub model: Arc<SchemaModel>,
    pub schema: Schema,
}

impl Api {
    pub fn new(
        model: Arc<SchemaModel>,
        broker: Arc<Broker>,
        limits: SchemaLimits,
    ) -> Result<Self, SchemaError> {
        let schema = build::build(&model, broker, limits)?;
        Ok(Self { model, schema })
    }
}

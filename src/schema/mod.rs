//! The API a Switchboard node serves: an AppSync SDL document read at start-up, turned into a
//! model of what its directives mean ([`model`]) and an executable async-graphql schema
//! ([`build`]).

pub mod access;
mod build;
pub mod check;
pub mod documents;
pub mod model;
pub mod scalars;

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;

use async_graphql::Pos;
use async_graphql::dynamic::Schema;

pub use build::{SchemaLimits, ValidationProbe, typed_error};
pub use model::SchemaModel;

use crate::pubsub::Broker;

/// The schema Switchboard serves when no `--schema` is given.
pub const DEFAULT_SDL: &str = include_str!("../../schema.graphql");

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

/// The served API: the model (routing, plans) and the executable schema.
pub struct Api {
    pub model: Arc<SchemaModel>,
    /// The default mode and the owner rule: what [`Api::authorize`] checks beside directives.
    pub policy: access::AccessPolicy,
    pub schema: Schema,
    /// Parsed operations by their text, shared by the auth check and execution.
    pub documents: documents::Documents,
}

impl Api {
    pub fn new(
        model: Arc<SchemaModel>,
        broker: Arc<Broker>,
        limits: SchemaLimits,
        policy: access::AccessPolicy,
    ) -> Result<Self, SchemaError> {
        let schema = build::build(&model, broker, limits)?;
        Ok(Self {
            model,
            policy,
            schema,
            documents: documents::Documents::new(limits.parsed_documents),
        })
    }

    /// The one access check: every query, mutation and subscription, from every door, passes
    /// here before it runs (see [`access`]). Returns the parsed document, so execution does not
    /// look it up again; `None` when it does not parse (it passes: execution reports the syntax
    /// error).
    pub fn authorize(
        &self,
        request: &crate::operation::GraphqlRequest,
        caller: &crate::auth::Identity,
    ) -> Result<Option<Arc<ExecutableDocument>>, crate::operation::GraphqlError> {
        let Some(document) = self.documents.get(&request.query) else {
            return Ok(None);
        };
        access::authorize(&self.model, &document, request, caller, &self.policy)?;
        Ok(Some(document))
    }

    /// Runs a query or mutation with its already parsed document (from [`Api::authorize`]).
    pub async fn execute(
        &self,
        request: &crate::operation::GraphqlRequest,
        document: Option<Arc<ExecutableDocument>>,
    ) -> async_graphql::Response {
        let mut gql =
            async_graphql::Request::new(request.query.clone()).variables(request.variables());
        if let Some(name) = &request.operation_name {
            gql = gql.operation_name(name);
        }
        if let Some(document) = document {
            gql.set_parsed_query(Arc::unwrap_or_clone(document));
        }
        self.schema.execute(gql).await
    }
}

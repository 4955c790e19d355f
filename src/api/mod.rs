//! The API a node serves: the schema's model, the access check every operation passes, and the
//! executable async-graphql schema whose resolvers publish to the broker ([`build`]).

mod build;
pub mod check;
mod fast;
pub mod subscription;

use std::sync::Arc;

use async_graphql::dynamic::Schema;
use async_graphql::parser::types::ExecutableDocument;

pub use build::{SchemaLimits, ValidationProbe, typed_error};
pub use fast::FastMutation;

use crate::graphql::schema::access;
use crate::graphql::schema::documents::Documents;
use crate::graphql::schema::{SchemaError, SchemaModel};
use crate::operation::GraphqlRequest;
use crate::pubsub::{Broker, IdempotencyKey};

/// The served API: the model (routing, plans) and the executable schema.
pub struct Api {
    pub model: Arc<SchemaModel>,
    /// The default mode and the owner rule: what [`Api::authorize`] checks beside directives.
    pub policy: access::AccessPolicy,
    pub schema: Schema,
    /// Parsed operations by their text, shared by the auth check and execution.
    pub documents: Documents,
    /// Mutation documents the executor ran that repeats may skip it for ([`fast`]).
    fast: fast::FastPaths,
    broker: Arc<Broker>,
}

/// What running an operation gave: the executor's response, or the fast path's answer.
pub enum Answer {
    Executed(async_graphql::Response),
    /// The JSON body of a successful pass-through mutation, rendered as the executor would.
    Fast(String),
}

impl Api {
    pub fn new(
        model: Arc<SchemaModel>,
        broker: Arc<Broker>,
        limits: SchemaLimits,
        policy: access::AccessPolicy,
    ) -> Result<Self, SchemaError> {
        let schema = build::build(&model, broker.clone(), limits)?;
        Ok(Self {
            model,
            policy,
            schema,
            documents: Documents::new(limits.parsed_documents),
            fast: fast::FastPaths::new(limits.parsed_documents),
            broker,
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

    /// Runs a query or mutation with its already parsed document (from [`Api::authorize`]): a
    /// pass-through mutation the executor ran before takes the fast path when its variables
    /// allow; anything else, and the first run of a document, the executor. Mutations publish
    /// with `idempotency` when the caller sent a key.
    pub async fn run(
        &self,
        request: &GraphqlRequest,
        document: Option<Arc<ExecutableDocument>>,
        idempotency: Option<IdempotencyKey>,
    ) -> Answer {
        let mut failed = None;
        if let Some(plan) = self.fast.get(request)
            && let Some(args) = plan.arguments(&self.model, request.variables.as_ref())
        {
            match plan.run(&self.broker, &args, idempotency.as_ref()).await {
                Some(Ok(body)) => return Answer::Fast(body),
                // Never a second attempt (Redis may yet run the first): the executor answers
                // with this error, in its own shape.
                Some(Err(error)) => failed = Some(build::FailedPublish(error)),
                None => {}
            }
        }
        let learn = document.clone().filter(|_| !self.fast.knows(request));
        let mut gql = self.request(request, document, idempotency);
        if let Some(failed) = failed {
            gql = gql.data(failed);
        }
        let response = self.schema.execute(gql).await;
        if let Some(document) = learn
            && response.errors.is_empty()
        {
            self.fast.learn(&self.model, request, &document);
        }
        Answer::Executed(response)
    }

    /// Runs a query or mutation through async-graphql with its already parsed document (from
    /// [`Api::authorize`]); its mutations publish with `idempotency` when the caller sent a key.
    pub async fn execute(
        &self,
        request: &crate::operation::GraphqlRequest,
        document: Option<Arc<ExecutableDocument>>,
        idempotency: Option<IdempotencyKey>,
    ) -> async_graphql::Response {
        self.schema
            .execute(self.request(request, document, idempotency))
            .await
    }

    /// The executor's request for an operation with its already parsed document.
    fn request(
        &self,
        request: &crate::operation::GraphqlRequest,
        document: Option<Arc<ExecutableDocument>>,
        idempotency: Option<IdempotencyKey>,
    ) -> async_graphql::Request {
        let mut gql =
            async_graphql::Request::new(request.query.clone()).variables(request.variables());
        if let Some(key) = idempotency {
            gql = gql.data(key);
        }
        if let Some(name) = &request.operation_name {
            gql = gql.operation_name(name);
        }
        if let Some(document) = document {
            gql.set_parsed_query(Arc::unwrap_or_clone(document));
        }
        gql
    }
}

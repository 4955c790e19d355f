//! Turning a client's subscription request into something the index and the session can use:
//! the field, the filter (the arguments it supplied), and the compiled projection.
//!
//! async-graphql parses, validates and applies the depth and complexity limits (its validator is
//! only reachable through `execute_stream`, so the subscription resolver fires a probe once
//! validation passed). Switchboard reads the filter itself, because GraphQL's rule that a declared
//! but unsupplied variable counts as *omitted* (no filter), while an explicit `null` filters for
//! null, is not visible in async-graphql's coerced arguments.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, OperationType};
use async_graphql::{Name, Value, Variables};
use async_graphql_value::Value as InputValue;
use futures_util::StreamExt;
use serde_json::Value as Json;

use crate::api::{Api, ValidationProbe};
use crate::graphql::filter::group::{FilterError, RawRule};
use crate::graphql::filter::{self, Filter};

/// Filter groups before they are checked: an OR of ANDs of rules.
pub type Dnf = Vec<Vec<RawRule>>;
use crate::graphql::projection::{CompileContext, Projection};
use crate::graphql::schema::model::FilterKind;
use crate::graphql::schema::model::base_name;
use crate::operation::{ErrorType, GraphqlError, GraphqlRequest};

/// A validated subscription, ready to be filed in the index.
#[derive(Debug)]
pub struct Prepared {
    /// The subscription field (`onStatusUpdate`).
    pub field: String,
    /// The arguments the client supplied, coerced, but the enhanced filter: they pick the
    /// topic by equality.
    pub filter: Vec<(String, Value)>,
    /// The enhanced filter (from the field's `filter` argument), checked against AppSync's
    /// limits; events of the topic that fail it are not delivered.
    pub enhanced: Option<Arc<Filter>>,
    pub projection: Projection,
}

impl Prepared {
    /// The filter as a JSON object, for the connection records.
    pub fn filter_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.filter
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into_json().unwrap_or_default()))
            .collect()
    }
}

/// Validates `request` as a subscription of `api`'s schema. `document` is its text already
/// parsed (by the access check, from the API's document cache): one parse per `start`. `None`
/// (the text did not parse) parses it again only to report the syntax error.
pub async fn prepare(
    api: &Api,
    request: &GraphqlRequest,
    document: Option<Arc<ExecutableDocument>>,
    timeout: Duration,
    server_filter: impl FnOnce(&str, &[(String, Value)]) -> Result<Option<Dnf>, GraphqlError>,
) -> Result<Prepared, Vec<GraphqlError>> {
    let document = match document {
        Some(document) => document,
        None => Arc::new(
            async_graphql::parser::parse_query(&request.query)
                .map_err(|e| vec![GraphqlError::from(&async_graphql::ServerError::from(e))])?,
        ),
    };
    let operation = request.operation(&document)?;
    if operation.node.ty != OperationType::Subscription {
        let kind = if operation.node.ty == OperationType::Query {
            "query"
        } else {
            "mutation"
        };
        return Err(vec![GraphqlError::new(
            Some(ErrorType::UnsupportedOperation),
            // AppSync's words; queries and mutations go to `POST /graphql`.
            format!("{kind} not supported through the realtime channel"),
        )]);
    }
    let variables = request.variables();
    let root_type = api
        .model
        .roots
        .subscription
        .as_deref()
        .unwrap_or("Subscription");
    let ctx = CompileContext {
        model: &api.model,
        fragments: &document.fragments,
        variables: &variables,
    };
    let mut roots = Vec::new();
    ctx.fields(root_type, &operation.node.selection_set.node, &mut roots);
    let [root] = roots.as_slice() else {
        return Err(vec![GraphqlError::new(
            Some(ErrorType::DuplicatedOperationError),
            "A subscription must select exactly one top level field.",
        )]);
    };
    validate(
        api,
        request,
        &document,
        &operation.node,
        &variables,
        timeout,
    )
    .await?;

    let field = root.name.node.to_string();
    let plan = api.model.subscriptions.get(&field).ok_or_else(|| {
        vec![GraphqlError::new(
            None,
            format!("Unknown field \"{field}\" on type \"{root_type}\"."),
        )]
    })?;
    let mut filter = Vec::new();
    let mut client_groups = None;
    for arg in &plan.args {
        let supplied = root
            .arguments
            .iter()
            .find(|(name, _)| name.node == arg.name)
            .and_then(|(_, value)| argument_value(&value.node, &operation.node, &variables));
        let Some(mut value) = supplied.or_else(|| arg.default.clone()) else {
            continue;
        };
        if let Some(filter_arg) = plan.filter_arg.as_ref().filter(|f| f.name == arg.name) {
            let groups = filter_groups(filter_arg.kind, &value)
                .map_err(|error| vec![GraphqlError::from(error)])?;
            client_groups = Some(groups).filter(|groups| !groups.is_empty());
            continue;
        }
        if base_name(&arg.ty) == "ID"
            && let Value::Number(n) = &value
        {
            value = Value::String(n.to_string());
        }
        filter.push((arg.name.clone(), value));
    }
    // The server's rule for the field (`--rules`) is ANDed with the client's filter, and
    // counts toward the same limits, as AppSync's auth-injected rules do.
    let groups = match (
        client_groups,
        server_filter(&field, &filter).map_err(|e| vec![e])?,
    ) {
        (Some(client), Some(server)) => Some(filter::amplify::and(&client, &server)),
        (client, server) => client.or(server),
    };
    let enhanced = match groups {
        Some(groups) => filter::group::check(groups)
            .map_err(|error| vec![GraphqlError::from(error)])?
            .map(Arc::new),
        None => None,
    };
    Ok(Prepared {
        projection: Projection::compile(&ctx, root, &plan.return_type),
        field,
        filter,
        enhanced,
    })
}

/// The filter groups a `filter` argument's value carries; none when it carries no rule (an
/// empty or null filter: equality on the other arguments only, as on AppSync).
fn filter_groups(kind: FilterKind, value: &Value) -> Result<Dnf, FilterError> {
    match kind {
        FilterKind::Model => filter::amplify::to_groups(value),
        FilterKind::Json => match value {
            Value::Null => Ok(Vec::new()),
            Value::String(text) => filter::group::from_json(&Json::String(text.clone())),
            other => filter::group::from_json(&other.clone().into_json().unwrap_or_default()),
        },
    }
}

/// A supplied argument's value with variables substituted; `None` when it is just a variable the
/// request declared but did not supply and that has no default (GraphQL: the argument is omitted).
fn argument_value(
    value: &InputValue,
    operation: &OperationDefinition,
    variables: &Variables,
) -> Option<Value> {
    let lookup = |name: &Name| -> Option<Value> {
        variables.get(name).cloned().or_else(|| {
            operation
                .variable_definitions
                .iter()
                .find(|d| d.node.name.node == *name)
                // Only a declared default; async-graphql's `default_value()` also answers
                // null for any nullable variable, which would turn "omitted" into "null".
                .and_then(|d| d.node.default_value.as_ref().map(|v| v.node.clone()))
        })
    };
    if let InputValue::Variable(name) = value {
        return lookup(name);
    }
    value
        .clone()
        .into_const_with(|name| Ok::<_, ()>(lookup(&name).unwrap_or(Value::Null)))
        .ok()
}

/// Runs async-graphql's parse, validation and limits on the request, and waits for the
/// subscription resolver's probe (success) or the stream's first response (errors).
async fn validate(
    api: &Api,
    request: &GraphqlRequest,
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    variables: &Variables,
    timeout: Duration,
) -> Result<(), Vec<GraphqlError>> {
    // Declared nullable variables the client left out become null for async-graphql, which would
    // otherwise fail on them; the filter above still treats them as omitted.
    let mut variables = variables.clone();
    for def in &operation.variable_definitions {
        let def = &def.node;
        if def.var_type.node.nullable
            && def.default_value.is_none()
            && !variables.contains_key(&def.name.node)
        {
            variables.insert(def.name.node.clone(), Value::Null);
        }
    }
    let (probe, validated) = ValidationProbe::new();
    let mut gql = async_graphql::Request::new(request.query.clone())
        .variables(variables)
        .data(probe);
    if let Some(name) = &request.operation_name {
        gql = gql.operation_name(name);
    }
    gql.set_parsed_query(document.clone());
    let mut stream = api.schema.execute_stream(gql);
    let outcome = tokio::time::timeout(timeout, async {
        tokio::select! {
            _ = validated => Ok(()),
            response = stream.next() => Err(response
                .map(|r| r.errors.iter().map(GraphqlError::from).collect::<Vec<_>>())
                .unwrap_or_default()),
        }
    })
    .await;
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(errors)) if !errors.is_empty() => Err(errors),
        Ok(Err(_)) => Err(vec![GraphqlError::new(
            Some(ErrorType::InternalFailure),
            "the subscription ended before it started",
        )]),
        Err(_) => Err(vec![GraphqlError::new(
            Some(ErrorType::InternalFailure),
            "validating the subscription timed out",
        )]),
    }
}

#[cfg(test)]
mod tests;

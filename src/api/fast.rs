//! The pass-through fast path: a publisher sends the same mutation text thousands of times a
//! second with new variables, and async-graphql's validation and execution of it were about a
//! fifth of the server's CPU per status. Once a document has run through the executor without an
//! error, a repeat of it with new variables that are plainly valid skips the executor: the
//! arguments come from the variables, the result from [`MutationPlan::result`], the publish from
//! the same [`publish_pass_through`] the executor's resolver calls, and the answer from the
//! [`Projection`] subscribers' payloads are rendered with.
//!
//! It takes only what it can answer exactly as the executor would, and hands everything else back
//! (`None`): a document with fragments, directives, literal arguments, nested selections or
//! arguments with defaults is never fast; a request whose variables are missing, undeclared, or
//! not obviously valid for their types runs through the executor, which gives its own answer
//! (errors included). So an error answer is always the executor's, and a success is checked
//! byte-for-byte against it by `fast/tests.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationType, Selection, Type, VariableDefinition,
};
use async_graphql::{Name, Value, Variables};
use indexmap::IndexMap;

use super::build::publish_pass_through;
use crate::graphql::projection::{CompileContext, Projection};
use crate::graphql::schema::model::{MutationPlan, TypeDef, base_name};
use crate::graphql::schema::{SchemaModel, scalars};
use crate::operation::GraphqlRequest;
use crate::pubsub::{Broker, IdempotencyKey, PublishError};

/// What the executor learnt about one document and operation name: its fast plan, or that it has
/// none.
type Learnt = (Option<String>, Option<Arc<FastMutation>>);

/// Fast plans by document text, bounded like the parsed documents (when full, it starts over).
pub struct FastPaths {
    capacity: usize,
    plans: Mutex<HashMap<Arc<str>, Vec<Learnt>>>,
}

impl FastPaths {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            plans: Mutex::new(HashMap::new()),
        }
    }

    /// The fast plan of `request`'s document and operation, if one was learnt.
    pub fn get(&self, request: &GraphqlRequest) -> Option<Arc<FastMutation>> {
        let plans = self.lock();
        let learnt = plans.get(request.query.as_str())?;
        learnt
            .iter()
            .find(|(name, _)| *name == request.operation_name)
            .and_then(|(_, plan)| plan.clone())
    }

    /// Whether `request`'s document and operation were looked at already.
    pub fn knows(&self, request: &GraphqlRequest) -> bool {
        self.lock()
            .get(request.query.as_str())
            .is_some_and(|learnt| learnt.iter().any(|(n, _)| *n == request.operation_name))
    }

    /// Records what `request`'s document offers, after the executor ran it without an error.
    pub fn learn(
        &self,
        model: &SchemaModel,
        request: &GraphqlRequest,
        document: &ExecutableDocument,
    ) {
        if self.capacity == 0 || self.knows(request) {
            return;
        }
        let plan = FastMutation::prepare(model, request, document).map(Arc::new);
        let mut plans = self.lock();
        if plans.len() >= self.capacity {
            plans.clear();
        }
        plans
            .entry(Arc::from(request.query.as_str()))
            .or_default()
            .push((request.operation_name.clone(), plan));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Vec<Learnt>>> {
        self.plans.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A mutation document the fast path can run: one pass-through field whose arguments are all
/// variables, selecting leaf fields of its result.
#[derive(Debug)]
pub struct FastMutation {
    plan: Arc<MutationPlan>,
    /// The field's response key (its alias or name), which scopes an idempotency key.
    response_key: String,
    /// Each argument and the variable it takes.
    arguments: Vec<(Name, Name)>,
    /// The operation's variables and their declared types.
    variables: Vec<(Name, Type)>,
    /// Selected result fields that are non-null: a result without one is the executor's error.
    required: Vec<Name>,
    projection: Projection,
}

impl FastMutation {
    fn prepare(
        model: &SchemaModel,
        request: &GraphqlRequest,
        document: &ExecutableDocument,
    ) -> Option<Self> {
        let operation = &request.operation(document).ok()?.node;
        if operation.ty != OperationType::Mutation || !operation.directives.is_empty() {
            return None;
        }
        let [root] = operation.selection_set.node.items.as_slice() else {
            return None;
        };
        let Selection::Field(field) = &root.node else {
            return None;
        };
        let field = &field.node;
        let plan = model.mutations.get(field.name.node.as_str())?.clone();
        let definition = model
            .object(model.roots.mutation.as_deref()?)?
            .field(&field.name.node)?;
        if !field.directives.is_empty() || definition.args.iter().any(|a| a.default.is_some()) {
            return None;
        }
        let mut arguments = Vec::new();
        for (name, value) in &field.arguments {
            match &value.node {
                async_graphql_value::Value::Variable(variable) => {
                    arguments.push((name.node.clone(), variable.clone()))
                }
                _ => return None,
            }
        }
        let result = model.object(&plan.return_type)?;
        let mut required = Vec::new();
        for selection in &field.selection_set.node.items {
            let Selection::Field(selected) = &selection.node else {
                return None;
            };
            let selected = &selected.node;
            if !selected.directives.is_empty()
                || !selected.arguments.is_empty()
                || !selected.selection_set.node.items.is_empty()
            {
                return None;
            }
            if selected.name.node == "__typename" {
                continue;
            }
            let def = result.field(&selected.name.node)?;
            if !matches!(
                model.types.get(base_name(&def.ty)),
                None | Some(TypeDef::Scalar | TypeDef::Enum(_))
            ) {
                return None;
            }
            if !def.ty.nullable {
                required.push(selected.name.node.clone());
            }
        }
        let variables = operation
            .variable_definitions
            .iter()
            .map(|v| {
                let VariableDefinition { name, var_type, .. } = &v.node;
                (name.node.clone(), var_type.node.clone())
            })
            .collect();
        let none = Variables::default();
        let context = CompileContext {
            model,
            fragments: &document.fragments,
            variables: &none,
        };
        Some(Self {
            response_key: field.response_key().node.to_string(),
            projection: Projection::compile(&context, field, &plan.return_type),
            plan,
            arguments,
            variables,
            required,
        })
    }

    /// The field's arguments from `variables`, when every declared variable is there, none
    /// other is, and each is plainly valid for its type; `None` otherwise.
    pub fn arguments(
        &self,
        model: &SchemaModel,
        variables: Option<&serde_json::Value>,
    ) -> Option<IndexMap<Name, Value>> {
        let given = match variables {
            Some(serde_json::Value::Object(given)) => given,
            None if self.variables.is_empty() => &serde_json::Map::new(),
            _ => return None,
        };
        if given.len() != self.variables.len() {
            return None;
        }
        let mut values = HashMap::with_capacity(self.variables.len());
        for (name, ty) in &self.variables {
            let value = Value::from_json(given.get(name.as_str())?.clone()).ok()?;
            if !valid(model, ty, &value) {
                return None;
            }
            values.insert(name, value);
        }
        self.arguments
            .iter()
            .map(|(argument, variable)| Some((argument.clone(), values.get(variable)?.clone())))
            .collect()
    }

    /// Publishes the result of `args` and renders the answer; `None` when the result lacks a
    /// selected non-null field (the executor reports that).
    pub async fn run(
        &self,
        broker: &Broker,
        args: &IndexMap<Name, Value>,
        idempotency: Option<&IdempotencyKey>,
    ) -> Option<Result<String, PublishError>> {
        let result = self.plan.result(args);
        if !self.complete(&result) {
            return None;
        }
        let published =
            publish_pass_through(broker, &self.plan, args, idempotency, &self.response_key).await;
        match published {
            // A repeat with an idempotency key answers with the first publish's result.
            Ok(event) if self.complete(&event.payload) => {
                Some(Ok(self.projection.render(&event.payload)))
            }
            Ok(_) => None,
            Err(error) => Some(Err(error)),
        }
    }

    fn complete(&self, result: &Value) -> bool {
        let Value::Object(fields) = result else {
            return false;
        };
        self.required
            .iter()
            .all(|name| !matches!(fields.get(name), None | Some(Value::Null)))
    }
}

/// Whether `value` is valid for `ty` beyond doubt; `false` may also mean "let the executor
/// judge" (lists given as one value, input fields with defaults).
fn valid(model: &SchemaModel, ty: &Type, value: &Value) -> bool {
    if matches!(value, Value::Null) {
        return ty.nullable;
    }
    match &ty.base {
        BaseType::List(item) => match value {
            Value::List(items) => items.iter().all(|v| valid(model, item, v)),
            _ => false,
        },
        BaseType::Named(name) => valid_named(model, name, value),
    }
}

fn valid_named(model: &SchemaModel, name: &str, value: &Value) -> bool {
    match (name, value) {
        ("String", Value::String(_)) | ("Boolean", Value::Boolean(_)) => true,
        ("ID", Value::String(_)) => true,
        ("ID", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("Int", Value::Number(n)) => n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        ("Float", Value::Number(_)) => true,
        ("String" | "Boolean" | "ID" | "Int" | "Float", _) => false,
        _ => match model.types.get(name) {
            Some(TypeDef::Scalar) => scalars::validator(name).is_none_or(|check| check(value)),
            // Variables come from JSON: an enum value is a string.
            Some(TypeDef::Enum(items)) => {
                matches!(value, Value::String(given) if items.iter().any(|i| i == given))
            }
            Some(TypeDef::Input(fields)) => {
                let Value::Object(given) = value else {
                    return false;
                };
                given
                    .keys()
                    .all(|key| fields.iter().any(|f| f.name == key.as_str()))
                    && fields
                        .iter()
                        .all(|field| match given.get(field.name.as_str()) {
                            Some(v) => valid(model, &field.ty, v),
                            None => field.ty.nullable && field.default.is_none(),
                        })
            }
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests;

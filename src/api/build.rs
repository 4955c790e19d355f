//! Turns the [`SchemaModel`] into an async-graphql dynamic schema with Switchboard's resolvers:
//! pass-through mutations, history queries, and subscription fields that only confirm validation.

use std::sync::{Arc, Mutex};

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Interface, InterfaceField,
    Object, ResolverContext, Scalar, Schema, Subscription, SubscriptionField,
    SubscriptionFieldFuture, TypeRef, Union,
};
use async_graphql::parser::types::{BaseType, Type};
use async_graphql::{ErrorExtensions, Name, Value};
use indexmap::IndexMap;
use tokio::sync::oneshot;

use crate::graphql::schema::SchemaError;
use crate::graphql::schema::model::{
    ArgDef, FieldDef, HistoryPlan, MutationPlan, SchemaModel, TypeDef, base_name,
};
use crate::graphql::schema::scalars;
use crate::operation::ErrorType;
use crate::publication::Publication;
use crate::pubsub::{Broker, IdempotencyKey, PublishError};

/// Limits applied to every operation the schema validates.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Parsed operations kept by their text.
    pub parsed_documents: usize,
}

/// Put in a subscription request's data: the subscription field's resolver fires it, which proves
/// that async-graphql parsed and validated the document and coerced its arguments.
///
/// Switchboard delivers events itself (see `subscription`), so async-graphql's stream is only ever
/// used for this one signal and dropped afterwards.
pub struct ValidationProbe(Mutex<Option<oneshot::Sender<()>>>);

impl ValidationProbe {
    pub fn new() -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (Self(Mutex::new(Some(tx))), rx)
    }

    fn fire(&self) {
        if let Some(tx) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}

/// Builds the executable schema. `broker` is what the resolvers publish to and read from.
pub fn build(
    model: &SchemaModel,
    broker: Arc<Broker>,
    limits: SchemaLimits,
) -> Result<Schema, SchemaError> {
    let roots = &model.roots;
    let mut builder = Schema::build(
        &roots.query,
        roots.mutation.as_deref(),
        roots.subscription.as_deref(),
    )
    .data(broker)
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity);

    for (name, def) in &model.types {
        let is_root = [
            Some(&roots.query),
            roots.mutation.as_ref(),
            roots.subscription.as_ref(),
        ]
        .contains(&Some(name));
        builder = match def {
            TypeDef::Scalar => {
                let scalar = Scalar::new(name);
                builder.register(match scalars::validator(name) {
                    Some(check) => scalar.validator(check),
                    None => scalar,
                })
            }
            TypeDef::Enum(values) => {
                builder.register(Enum::new(name).items(values.iter().map(String::as_str)))
            }
            TypeDef::Input(fields) => {
                builder.register(fields.iter().fold(InputObject::new(name), |object, f| {
                    object.field(input_value(f))
                }))
            }
            TypeDef::Object(_) if is_root && Some(name) == roots.subscription.as_ref() => {
                builder.register(subscription_root(model, name))
            }
            TypeDef::Interface(interface) => {
                let mut out = Interface::new(name);
                for field in &interface.fields {
                    out = out.field(field.args.iter().fold(
                        InterfaceField::new(&field.name, type_ref(&field.ty)),
                        |field, arg| field.argument(input_value(arg)),
                    ));
                }
                for parent in &interface.implements {
                    out = out.implement(parent);
                }
                builder.register(out)
            }
            TypeDef::Union(members) => {
                builder.register(members.iter().fold(Union::new(name), |union, member| {
                    union.possible_type(member)
                }))
            }
            TypeDef::Object(object) => {
                let mut out = Object::new(name);
                for interface in &object.implements {
                    out = out.implement(interface);
                }
                for field in &object.fields {
                    out = out.field(if Some(name) == roots.mutation.as_ref() {
                        mutation_field(field, model.mutations[&field.name].clone())
                    } else if *name == roots.query {
                        query_field(
                            field,
                            model
                                .history
                                .iter()
                                .find(|h| h.field == field.name)
                                .cloned(),
                        )
                    } else {
                        value_field(model, name, field)
                    });
                }
                builder.register(out)
            }
        };
    }
    builder
        .finish()
        .map_err(|e| SchemaError::Build(e.to_string()))
}

fn type_ref(ty: &Type) -> TypeRef {
    let inner = match &ty.base {
        BaseType::Named(name) => TypeRef::Named(name.to_string().into()),
        BaseType::List(item) => TypeRef::List(Box::new(type_ref(item))),
    };
    if ty.nullable {
        inner
    } else {
        TypeRef::NonNull(Box::new(inner))
    }
}

fn input_value(arg: &ArgDef) -> InputValue {
    let value = InputValue::new(&arg.name, type_ref(&arg.ty));
    match &arg.default {
        Some(default) => value.default_value(default.clone()),
        None => value,
    }
}

fn with_args(field: Field, def: &FieldDef) -> Field {
    def.args
        .iter()
        .fold(field, |field, arg| field.argument(input_value(arg)))
}

/// A field of an ordinary object: read the same-named entry of the parent value. A non-null
/// field the value lacks (a pass-through mutation's caller did not supply it) is AppSync's
/// non-null error, naming the field.
fn value_field(model: &SchemaModel, parent: &str, def: &FieldDef) -> Field {
    let name = def.name.clone();
    // A pass-through result never holds an object of an interface or union type (inputs
    // cannot), so such a field is always null: there is no concrete type to name.
    let is_abstract = model.is_abstract(base_name(&def.ty));
    let missing = (!def.ty.nullable).then(|| {
        format!(
            "Cannot return null for non-nullable type: '{}' within parent '{parent}' (the mutation did not supply `{}`)",
            base_name(&def.ty),
            def.name
        )
    });
    with_args(
        Field::new(&def.name, type_ref(&def.ty), move |ctx| {
            let value = match ctx.parent_value.as_value() {
                Some(Value::Object(fields)) if !is_abstract => fields.get(name.as_str()).cloned(),
                _ => None,
            };
            let missing = missing.clone();
            FieldFuture::new(async move {
                match (value, missing) {
                    (None | Some(Value::Null), Some(message)) => Err(message.into()),
                    (value, _) => Ok(value.map(FieldValue::value)),
                }
            })
        }),
        def,
    )
}

/// An error with AppSync's `errorType`, carried in the extensions until the HTTP layer lifts it.
pub fn typed_error(error_type: ErrorType, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("errorType", error_type.as_str()))
}

/// A publish (or history read) that failed: the error keeps the [`PublishError`] as its source,
/// so the HTTP layer answers 503 by its type, not by reading the message.
fn publish_error(error: PublishError) -> async_graphql::Error {
    tracing::warn!(%error, "publish failed");
    let error_type = error.error_type();
    async_graphql::Error::new_with_source(error)
        .extend_with(move |_, e| e.set("errorType", error_type.as_str()))
}

/// A publish the fast path tried and failed, handed to the executor so that it answers with
/// this error rather than publishing a second time.
pub(super) struct FailedPublish(pub PublishError);

fn broker<'a>(ctx: &ResolverContext<'a>) -> async_graphql::Result<&'a Arc<Broker>> {
    ctx.data::<Arc<Broker>>()
}

/// A pass-through mutation: its result is its arguments plus the fields the server fills, and it
/// is published before the caller hears back.
fn mutation_field(def: &FieldDef, plan: Arc<MutationPlan>) -> Field {
    with_args(
        Field::new(&def.name, type_ref(&def.ty), move |ctx| {
            let plan = plan.clone();
            FieldFuture::new(async move {
                if let Some(FailedPublish(error)) = ctx.data_opt::<FailedPublish>() {
                    return Err(publish_error(error.clone()));
                }
                let event = publish_pass_through(
                    broker(&ctx)?,
                    &plan,
                    ctx.args.as_index_map(),
                    ctx.data_opt::<IdempotencyKey>(),
                    ctx.item.node.response_key().node.as_str(),
                )
                .await
                .map_err(publish_error)?;
                // The event published, or the first one published with this key.
                Ok(Some(FieldValue::value(event.payload.clone())))
            })
        }),
        def,
    )
}

/// Runs a pass-through mutation with its coerced arguments: builds the result, publishes it and
/// issues the invalidations it triggers; returns the event published, or the one first
/// published with the same idempotency key. The executor's resolver and the fast path both run
/// exactly this.
pub(super) async fn publish_pass_through(
    broker: &Broker,
    plan: &MutationPlan,
    args: &IndexMap<Name, Value>,
    idempotency: Option<&IdempotencyKey>,
    response_key: &str,
) -> Result<Arc<Publication>, PublishError> {
    let result = plan.result(args);
    // Scoped to this field's place in the response, so two aliased mutations in one request
    // with one key stay apart.
    let idempotency =
        idempotency.map(|key| format!("{}\u{1f}{}\u{1f}{response_key}", key.scope, plan.field));
    let event = broker
        .publish(
            &plan.field,
            &plan.return_type,
            result,
            idempotency.as_deref(),
        )
        .await?;
    broker
        .invalidate_after(&plan.field, args, &event.payload)
        .await?;
    Ok(event)
}

/// A query field: a history query reads the history; any other answers null, as an AppSync
/// field without a resolver does.
fn query_field(def: &FieldDef, plan: Option<Arc<HistoryPlan>>) -> Field {
    with_args(
        Field::new(&def.name, type_ref(&def.ty), move |ctx| {
            let plan = plan.clone();
            FieldFuture::new(async move {
                let Some(plan) = plan else {
                    return Ok(None::<FieldValue>);
                };
                if let Some(Value::Number(n)) = plan
                    .limit_arg
                    .as_deref()
                    .and_then(|l| ctx.args.as_index_map().get(l))
                    && n.as_i64().is_some_and(|n| n < 0)
                {
                    return Err(typed_error(
                        ErrorType::BadRequestException,
                        "limit must not be negative",
                    ));
                }
                let events = broker(&ctx)?
                    .recent(&plan, ctx.args.as_index_map())
                    .await
                    .map_err(publish_error)?;
                Ok(Some(FieldValue::list(
                    events
                        .iter()
                        .map(|event| FieldValue::value(event.payload.clone())),
                )))
            })
        }),
        def,
    )
}

/// The subscription root. Its resolvers fire the request's [`ValidationProbe`] and return a stream
/// that never yields: events reach subscribers through the subscription index instead.
fn subscription_root(model: &SchemaModel, name: &str) -> Subscription {
    let object = model.object(name).expect("roots were checked");
    object
        .fields
        .iter()
        .fold(Subscription::new(name), |root, def| {
            let field = SubscriptionField::new(&def.name, type_ref(&def.ty), |ctx| {
                SubscriptionFieldFuture::new(async move {
                    if let Ok(probe) = ctx.data::<ValidationProbe>() {
                        probe.fire();
                    }
                    Ok(futures_util::stream::pending::<
                        async_graphql::Result<FieldValue<'static>>,
                    >())
                })
            });
            root.field(
                def.args
                    .iter()
                    .fold(field, |field, arg| field.argument(input_value(arg))),
            )
        })
}

//! The schema as Switchboard understands it: types, roots, and the plans derived from AppSync's
//! directives.
//!
//! async-graphql's dynamic schema drops custom directives (it keeps none of the SDL's), so everything the
//! directives mean lives here, read from the parsed SDL: which subscription fields each mutation
//! fires (`@aws_subscribe`), how each pass-through mutation builds its result, and which queries
//! read the history. The model is checked once at start-up; a schema Switchboard cannot serve is
//! refused with a message that names the type and field.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::parser::types::{BaseType, Type};
use async_graphql::{Name, Pos, Value};
use indexmap::IndexMap;

use super::SchemaError;
use super::scalars;

/// One named type of the schema, reduced to what serving it needs.
#[derive(Debug, Clone)]
pub enum TypeDef {
    Object(ObjectDef),
    /// An interface: the fields its implementations share.
    Interface(ObjectDef),
    /// A union: its member object types.
    Union(Vec<String>),
    Input(Vec<ArgDef>),
    Enum(Vec<String>),
    Scalar,
}

/// An object or interface type: its fields in declaration order, and the interfaces it
/// implements.
#[derive(Debug, Clone)]
pub struct ObjectDef {
    pub fields: Vec<FieldDef>,
    pub implements: Vec<String>,
}

impl ObjectDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A field of an object type, with its arguments.
#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub ty: Type,
    pub args: Vec<ArgDef>,
    /// Where its name is in the SDL.
    pub pos: Pos,
}

/// An argument of a field or a field of an input type.
#[derive(Debug, Clone)]
pub struct ArgDef {
    pub name: String,
    pub ty: Type,
    pub default: Option<Value>,
    /// Where its name is in the SDL.
    pub pos: Pos,
}

/// A value the server generates for a non-null result field that the caller did not supply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filler {
    /// `AWSDateTime`: now, UTC, with milliseconds.
    DateTime,
    /// `AWSTimestamp`: now, in seconds.
    Timestamp,
    /// `ID`: a new UUID.
    Id,
}

impl Filler {
    fn for_type(name: &str) -> Option<Self> {
        match name {
            "AWSDateTime" => Some(Self::DateTime),
            "AWSTimestamp" => Some(Self::Timestamp),
            "ID" => Some(Self::Id),
            _ => None,
        }
    }

    fn generate(self) -> Value {
        match self {
            Self::DateTime => Value::String(scalars::now_datetime()),
            Self::Timestamp => Value::from(scalars::now_timestamp()),
            Self::Id => Value::String(uuid::Uuid::new_v4().to_string()),
        }
    }
}

/// Where a pass-through mutation finds the values of its result.
#[derive(Debug, Clone)]
enum ResultSource {
    /// The fields of its one input-object argument.
    InputObject(String),
    /// Its arguments, each becoming the same-named result field.
    Arguments,
    /// The mutation returns a scalar: the value of its one argument.
    ScalarArgument(String),
}

/// How a mutation runs: AppSync's NONE data source, the result is the arguments plus what the
/// server fills in.
#[derive(Debug)]
pub struct MutationPlan {
    pub field: String,
    /// The named type of the result (`Status`).
    pub return_type: String,
    source: ResultSource,
    /// Result fields the server fills when the caller left them out or null.
    fills: Vec<(Name, Filler)>,
    /// Result fields of type `ID`: numbers become strings so filters compare like with like.
    id_fields: Vec<Name>,
    /// The result type's fields; anything else the caller sent is not part of the result.
    result_fields: Vec<Name>,
    /// Non-null result fields it never supplies and cannot generate (see
    /// [`SchemaModel::warnings`]).
    unfilled: Vec<String>,
}

impl MutationPlan {
    /// Whether the result type has a field called `name`.
    pub fn has_result_field(&self, name: &str) -> bool {
        self.result_fields.iter().any(|f| f.as_str() == name)
    }

    /// The value the caller supplied for result field `name` (before the server fills
    /// anything): what the access check reads to see whose data a publish is.
    pub fn supplied<'a>(&self, args: &'a IndexMap<Name, Value>, name: &str) -> Option<&'a Value> {
        match &self.source {
            ResultSource::ScalarArgument(_) => None,
            ResultSource::InputObject(input) => match args.get(input.as_str()) {
                Some(Value::Object(fields)) => fields.get(name),
                _ => None,
            },
            ResultSource::Arguments => args.get(name),
        }
    }

    /// Builds the mutation's result from its coerced arguments.
    pub fn result(&self, args: &IndexMap<Name, Value>) -> Value {
        let object = match &self.source {
            ResultSource::ScalarArgument(name) => {
                return args.get(name.as_str()).cloned().unwrap_or(Value::Null);
            }
            ResultSource::InputObject(name) => match args.get(name.as_str()) {
                Some(Value::Object(fields)) => fields.clone(),
                _ => IndexMap::new(),
            },
            ResultSource::Arguments => args.clone(),
        };
        let mut result: IndexMap<Name, Value> = IndexMap::with_capacity(self.result_fields.len());
        for name in &self.result_fields {
            if let Some(value) = object.get(name) {
                result.insert(name.clone(), value.clone());
            }
        }
        for (name, filler) in &self.fills {
            if matches!(result.get(name), None | Some(Value::Null)) {
                result.insert(name.clone(), filler.generate());
            }
        }
        for name in &self.id_fields {
            if let Some(value @ Value::Number(_)) = result.get_mut(name) {
                *value = Value::String(value.to_string());
            }
        }
        Value::Object(result)
    }
}

/// A query that reads the history: it returns a list of a mutation's result type, and each of its
/// arguments names a field of that type (plus an optional `limit: Int`).
#[derive(Debug)]
pub struct HistoryPlan {
    pub field: String,
    /// The result type whose events it reads (`Status`).
    pub item_type: String,
    /// Required arguments: they pick the topic the events are kept under (`userId`).
    pub partition: Vec<String>,
    /// Optional arguments: when given and not null, only events whose field equals them.
    pub filters: Vec<String>,
    /// The argument capping how many events come back, newest last.
    pub limit_arg: Option<String>,
}

/// The roots of the schema: from a `schema { ... }` block, or the conventional names.
#[derive(Debug, Clone)]
pub struct Roots {
    pub query: String,
    pub mutation: Option<String>,
    pub subscription: Option<String>,
}

/// The whole schema model.
#[derive(Debug)]
pub struct SchemaModel {
    pub roots: Roots,
    pub types: IndexMap<String, TypeDef>,
    pub mutations: HashMap<String, Arc<MutationPlan>>,
    pub subscriptions: HashMap<String, Arc<SubscriptionPlan>>,
    pub history: Vec<Arc<HistoryPlan>>,
    /// Mutation name -> the subscription fields it fires.
    pub routes: HashMap<String, Vec<Arc<str>>>,
    /// The auth directives: which modes may use which types and fields.
    pub access: super::access::AccessRules,
}

/// The named type at the bottom of a (possibly list, possibly non-null) type.
pub fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

impl SchemaModel {
    /// Parses and checks an AppSync SDL document.
    pub fn parse(sdl: &str) -> Result<Self, SchemaError> {
        let document = async_graphql::parser::parse_schema(sdl)
            .map_err(|e| SchemaError::Parse(e.to_string(), e.positions().next()))?;
        let (types, roots, root_pos, subscribe) = collect_types(&document)?;
        let mut model = SchemaModel {
            roots,
            types,
            mutations: HashMap::new(),
            subscriptions: HashMap::new(),
            history: Vec::new(),
            routes: HashMap::new(),
            access: super::access::AccessRules::collect(&document),
        };
        model.check_references(&root_pos)?;
        model.plan_mutations()?;
        model.plan_subscriptions(&subscribe)?;
        model.plan_history();
        Ok(model)
    }

    /// Whether a value of object type `object` is a `condition`: the type itself, an interface
    /// it implements, or a union it belongs to (what a fragment's type condition asks).
    pub fn is_a(&self, object: &str, condition: &str) -> bool {
        object == condition
            || self
                .object(object)
                .is_some_and(|o| o.implements.iter().any(|i| i == condition))
            || matches!(self.types.get(condition), Some(TypeDef::Union(members)) if members.iter().any(|m| m == object))
    }

    /// Whether `name` is an interface or a union: a field of that type needs its value's
    /// concrete type.
    pub fn is_abstract(&self, name: &str) -> bool {
        matches!(
            self.types.get(name),
            Some(TypeDef::Interface(_) | TypeDef::Union(_))
        )
    }

    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        match self.types.get(name) {
            Some(TypeDef::Object(object)) => Some(object),
            _ => None,
        }
    }

    fn root_fields(&self, root: Option<&String>) -> Vec<FieldDef> {
        root.and_then(|r| self.object(r))
            .map(|o| o.fields.clone())
            .unwrap_or_default()
    }

    /// Every type a field, argument or input field names must exist. `root_pos`: where the
    /// `schema { ... }` block names each root.
    fn check_references(&self, root_pos: &HashMap<String, Pos>) -> Result<(), SchemaError> {
        let known = |ty: &Type| {
            let name = base_name(ty);
            is_builtin_scalar(name) || self.types.contains_key(name)
        };
        for (type_name, def) in &self.types {
            // Fields and their arguments of an object; the fields of an input.
            let references: Vec<(&str, &Type, Pos)> = match def {
                TypeDef::Object(object) | TypeDef::Interface(object) => object
                    .fields
                    .iter()
                    .flat_map(|f| {
                        let args = f.args.iter().map(|a| (a.name.as_str(), &a.ty, a.pos));
                        std::iter::once((f.name.as_str(), &f.ty, f.pos)).chain(args)
                    })
                    .collect(),
                TypeDef::Input(fields) => fields
                    .iter()
                    .map(|f| (f.name.as_str(), &f.ty, f.pos))
                    .collect(),
                _ => continue,
            };
            for (name, ty, pos) in references {
                if !known(ty) {
                    return Err(SchemaError::Invalid(
                        format!(
                            "{type_name}.{name} refers to unknown type `{}`",
                            base_name(ty)
                        ),
                        Some(pos),
                    ));
                }
            }
        }
        for root in [
            Some(&self.roots.query),
            self.roots.mutation.as_ref(),
            self.roots.subscription.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if self.object(root).is_none() {
                return Err(SchemaError::Invalid(
                    format!("root type `{root}` is not defined as an object type"),
                    root_pos.get(root).copied(),
                ));
            }
        }
        Ok(())
    }

    fn plan_mutations(&mut self) -> Result<(), SchemaError> {
        let root = self.roots.mutation.clone();
        for field in self.root_fields(root.as_ref()) {
            let plan = self.plan_mutation(root.as_deref().unwrap_or("Mutation"), &field)?;
            self.mutations.insert(field.name.clone(), Arc::new(plan));
        }
        Ok(())
    }

    /// Works out how a mutation's result is built, refusing a result the server cannot fill.
    fn plan_mutation(&self, root: &str, field: &FieldDef) -> Result<MutationPlan, SchemaError> {
        let return_type = base_name(&field.ty).to_owned();
        let Some(object) = self.object(&return_type) else {
            // A scalar result is the value of the mutation's one argument of that type.
            return match field.args.as_slice() {
                [arg] if base_name(&arg.ty) == return_type => Ok(MutationPlan {
                    field: field.name.clone(),
                    return_type,
                    source: ResultSource::ScalarArgument(arg.name.clone()),
                    fills: Vec::new(),
                    id_fields: Vec::new(),
                    result_fields: Vec::new(),
                    unfilled: Vec::new(),
                }),
                _ => Err(SchemaError::Invalid(
                    format!(
                        "{root}.{} returns `{return_type}`, which a pass-through mutation can \
                         only return from a single argument of that type",
                        field.name
                    ),
                    Some(field.pos),
                )),
            };
        };
        if matches!(field.ty.base, BaseType::List(_)) {
            return Err(SchemaError::Invalid(
                format!(
                    "{root}.{} returns a list; a pass-through mutation returns one object",
                    field.name
                ),
                Some(field.pos),
            ));
        }
        // The values the caller supplies: the input object's fields (the only argument, or the
        // only required one beside optional others, as Amplify's `input` beside `condition`,
        // which a pass-through has nothing to check against), or the arguments.
        let input_object = |arg: &&ArgDef| {
            matches!(self.types.get(base_name(&arg.ty)), Some(TypeDef::Input(_)))
                && !matches!(arg.ty.base, BaseType::List(_))
        };
        let required: Vec<&ArgDef> = field.args.iter().filter(|a| !a.ty.nullable).collect();
        let source_arg = match (field.args.as_slice(), required.as_slice()) {
            ([only], _) if input_object(&only) => Some(only),
            (_, [only]) if input_object(only) => Some(*only),
            _ => None,
        };
        let (source, supplied) = match source_arg {
            Some(arg) => {
                let Some(TypeDef::Input(fields)) = self.types.get(base_name(&arg.ty)) else {
                    unreachable!("an input object, checked above");
                };
                (ResultSource::InputObject(arg.name.clone()), fields.clone())
            }
            None => (ResultSource::Arguments, field.args.clone()),
        };
        let mut fills = Vec::new();
        let mut id_fields = Vec::new();
        let mut unfilled = Vec::new();
        for out in &object.fields {
            let name = Name::new(&out.name);
            if base_name(&out.ty) == "ID" && !matches!(out.ty.base, BaseType::List(_)) {
                id_fields.push(name.clone());
            }
            let input = supplied.iter().find(|s| s.name == out.name);
            if let Some(input) = input
                && base_name(&input.ty) != base_name(&out.ty)
            {
                return Err(SchemaError::Invalid(
                    format!(
                        "{return_type}.{} is `{}` but {root}.{} supplies it as `{}`",
                        out.name, out.ty, field.name, input.ty
                    ),
                    Some(out.pos),
                ));
            }
            let always_supplied = input.is_some_and(|i| !i.ty.nullable || i.default.is_some());
            if out.ty.nullable || always_supplied {
                continue;
            }
            match Filler::for_type(base_name(&out.ty))
                .filter(|_| !matches!(out.ty.base, BaseType::List(_)))
            {
                Some(filler) => fills.push((name, filler)),
                // Supplied sometimes (Amplify's `updateTodo`) or never (its `deleteTodo`, whose
                // result AppSync reads from the table): a caller that selects it without
                // supplying it gets GraphQL's non-null error, as from AppSync's NONE source.
                None if input.is_some() => {}
                None => unfilled.push(out.name.clone()),
            }
        }
        Ok(MutationPlan {
            field: field.name.clone(),
            return_type,
            source,
            fills,
            id_fields,
            result_fields: object.fields.iter().map(|f| Name::new(&f.name)).collect(),
            unfilled,
        })
    }

    /// What a user should know about a schema that is served all the same: the non-null
    /// result fields a mutation never supplies (null in its events, an error for a caller that
    /// selects them).
    pub fn warnings(&self) -> Vec<String> {
        let root = self.roots.mutation.as_deref().unwrap_or("Mutation");
        let mut warnings: Vec<String> = self
            .mutations
            .values()
            .flat_map(|plan| {
                plan.unfilled.iter().map(move |name| {
                    format!(
                        "{}.{name} is non-null, but {root}.{} never supplies it and the server \
                         can only generate AWSDateTime, AWSTimestamp and ID fields: its events \
                         carry no {name}, and a caller that selects it gets a GraphQL error",
                        plan.return_type, plan.field
                    )
                })
            })
            .collect();
        warnings.sort();
        warnings
    }

    fn plan_subscriptions(
        &mut self,
        subscribe: &HashMap<String, (Vec<String>, Pos)>,
    ) -> Result<(), SchemaError> {
        let root = self.roots.subscription.clone();
        let root_name = root.as_deref().unwrap_or("Subscription");
        for field in self.root_fields(root.as_ref()) {
            let return_type = base_name(&field.ty).to_owned();
            let (mutations, directive_pos) = match subscribe.get(&field.name) {
                Some((mutations, pos)) => (mutations.clone(), *pos),
                None => (Vec::new(), field.pos),
            };
            for mutation in &mutations {
                let Some(plan) = self.mutations.get(mutation) else {
                    return Err(SchemaError::Invalid(
                        format!(
                            "{root_name}.{}: @aws_subscribe names mutation `{mutation}`, which \
                             the schema does not define",
                            field.name
                        ),
                        Some(directive_pos),
                    ));
                };
                if plan.return_type != return_type {
                    return Err(SchemaError::Invalid(
                        format!(
                            "{root_name}.{} returns `{return_type}` but mutation `{mutation}` \
                             returns `{}`; @aws_subscribe needs the same type",
                            field.name, plan.return_type
                        ),
                        Some(field.pos),
                    ));
                }
                self.routes
                    .entry(mutation.clone())
                    .or_default()
                    .push(Arc::from(field.name.as_str()));
            }
            let filter_arg = self.filter_arg(&field, &return_type);
            self.subscriptions.insert(
                field.name.clone(),
                Arc::new(SubscriptionPlan {
                    field: field.name.clone(),
                    return_type,
                    args: field.args.clone(),
                    mutations,
                    filter_arg,
                }),
            );
        }
        Ok(())
    }

    /// Finds the queries of the history's shape (see [`HistoryPlan`]); other queries answer null.
    fn plan_history(&mut self) {
        let published: Vec<&str> = self
            .mutations
            .values()
            .map(|m| m.return_type.as_str())
            .collect();
        let mut plans = Vec::new();
        for field in self.root_fields(Some(&self.roots.query)) {
            let item_type = base_name(&field.ty);
            let (BaseType::List(_), Some(object)) = (&field.ty.base, self.object(item_type)) else {
                continue;
            };
            if !published.contains(&item_type) {
                continue;
            }
            let mut plan = HistoryPlan {
                field: field.name.clone(),
                item_type: item_type.to_owned(),
                partition: Vec::new(),
                filters: Vec::new(),
                limit_arg: None,
            };
            let shaped = field.args.iter().all(|arg| {
                if arg.name == "limit" && base_name(&arg.ty) == "Int" {
                    plan.limit_arg = Some(arg.name.clone());
                } else if object.field(&arg.name).is_some() {
                    if arg.ty.nullable {
                        plan.filters.push(arg.name.clone());
                    } else {
                        plan.partition.push(arg.name.clone());
                    }
                } else {
                    return false;
                }
                true
            });
            if shaped {
                plans.push(Arc::new(plan));
            }
        }
        self.history = plans;
    }
}

pub fn is_builtin_scalar(name: &str) -> bool {
    matches!(name, "String" | "Int" | "Float" | "Boolean" | "ID")
}

mod collect;
mod subscription;
#[cfg(test)]
mod tests;

pub use subscription::{FilterArg, FilterKind, SubscriptionPlan};

use collect::collect_types;

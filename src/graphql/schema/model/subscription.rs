//! A subscription field's plan: what it listens to, and its enhanced-filter argument.

use super::{ArgDef, FieldDef, SchemaModel, TypeDef, base_name};

/// A subscription field and what it listens to.
#[derive(Debug)]
pub struct SubscriptionPlan {
    pub field: String,
    pub return_type: String,
    pub args: Vec<ArgDef>,
    /// The mutations named in its `@aws_subscribe(mutations: [...])`.
    pub mutations: Vec<String>,
    /// Its enhanced-filter argument, when it has one: it filters by the rules it carries, not
    /// by equality, and is no part of the topic.
    pub filter_arg: Option<FilterArg>,
}

/// A subscription argument named `filter` that the result type has no field for: an enhanced
/// filter, as AppSync resolvers (and Amplify's generated ones) turn it into one.
#[derive(Debug, Clone)]
pub struct FilterArg {
    pub name: String,
    pub kind: FilterKind,
}

/// How a filter argument is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// An input object in Amplify's `ModelSubscription…FilterInput` shape.
    Model,
    /// AppSync's `filterGroup` JSON, as `AWSJSON` or a `String`.
    Json,
}

impl SubscriptionPlan {
    /// The arguments that filter by equality (all but the enhanced-filter one).
    pub fn equality_args(&self) -> impl Iterator<Item = &ArgDef> {
        self.args.iter().filter(|arg| {
            self.filter_arg
                .as_ref()
                .is_none_or(|filter| filter.name != arg.name)
        })
    }
}

impl SchemaModel {
    /// `field`'s enhanced-filter argument, if it has one (see [`FilterArg`]).
    pub(super) fn filter_arg(&self, field: &FieldDef, return_type: &str) -> Option<FilterArg> {
        let arg = field.args.iter().find(|arg| arg.name == "filter")?;
        if self
            .object(return_type)
            .is_some_and(|object| object.field("filter").is_some())
        {
            return None;
        }
        let kind = match (base_name(&arg.ty), self.types.get(base_name(&arg.ty))) {
            (_, Some(TypeDef::Input(_))) => FilterKind::Model,
            ("AWSJSON" | "String", _) => FilterKind::Json,
            _ => return None,
        };
        Some(FilterArg {
            name: arg.name.clone(),
            kind,
        })
    }
}

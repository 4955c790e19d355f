//! Who may touch what: the one access check every operation passes (queries, mutations and
//! subscriptions, over HTTP and every WebSocket protocol) before anything runs.
//!
//! It checks, in order:
//! 1. AppSync's auth directives (`@aws_api_key`, `@aws_iam`, `@aws_oidc`, `@aws_lambda`,
//!    `@aws_cognito_user_pools(cognito_groups: [...])`) on every selected type and field;
//! 2. the owner rule ([`OwnerRule`]): a root field whose argument (queries, subscriptions) or
//!    result field (mutations) is the owner argument must name the caller itself, unless the
//!    caller's mode is trusted or it belongs to the admin group.
//!
//! AppSync's rules: a field's own directives decide; without any, its type's directives decide;
//! without those, only the API's default mode may use it. Every selected field is checked,
//! nested ones included, so a type returned to an additional mode must be annotated too (the
//! classic "Not Authorized to access jobId on type Status").

use std::collections::HashMap;
use std::convert::Infallible;

use async_graphql::parser::types::{
    ConstDirective, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet, ServiceDocument, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Positioned, Value};
use indexmap::IndexMap;
use serde_json::Value as Json;

use super::model::{FieldDef, SchemaModel, base_name};
use crate::auth::{AuthMode, Identity};
use crate::operation::{ErrorType, GraphqlError, GraphqlRequest};

/// The deepest selection the check walks (validation limits depth long before this).
const MAX_DEPTH: usize = 64;

/// The modes (and, for Cognito, groups) one type or field admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    pub modes: Vec<AuthMode>,
    /// `cognito_groups` of `@aws_cognito_user_pools`: only their members, when given.
    pub cognito_groups: Option<Vec<String>>,
}

/// Every auth directive of a schema.
#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    types: HashMap<String, AccessRule>,
    /// By `Type.field`.
    fields: HashMap<String, AccessRule>,
}

fn rule_of(directives: &[Positioned<ConstDirective>]) -> Option<AccessRule> {
    let mut rule = AccessRule {
        modes: Vec::new(),
        cognito_groups: None,
    };
    for directive in directives.iter().map(|d| &d.node) {
        let Some(mode) = AuthMode::from_directive(directive.name.node.as_str()) else {
            continue;
        };
        rule.modes.push(mode);
        if mode == AuthMode::Cognito
            && let Some(Value::List(groups)) =
                directive.get_argument("cognito_groups").map(|v| &v.node)
        {
            let groups = groups.iter().filter_map(|g| match g {
                Value::String(s) => Some(s.clone()),
                _ => None,
            });
            rule.cognito_groups
                .get_or_insert_with(Vec::new)
                .extend(groups);
        }
    }
    (!rule.modes.is_empty()).then_some(rule)
}

impl AccessRules {
    pub fn collect(document: &ServiceDocument) -> Self {
        let mut rules = Self::default();
        for definition in &document.definitions {
            let TypeSystemDefinition::Type(def) = definition else {
                continue;
            };
            let def = &def.node;
            let type_name = def.name.node.to_string();
            if let Some(rule) = rule_of(&def.directives) {
                rules.types.insert(type_name.clone(), rule);
            }
            if let TypeKind::Object(object) = &def.kind {
                for field in &object.fields {
                    if let Some(rule) = rule_of(&field.node.directives) {
                        rules
                            .fields
                            .insert(format!("{type_name}.{}", field.node.name.node), rule);
                    }
                }
            }
        }
        rules
    }

    /// The rule for `Type.field`: its own, else its type's; `None` means the default mode only.
    pub fn rule(&self, type_name: &str, field: &str) -> Option<&AccessRule> {
        self.fields
            .get(&format!("{type_name}.{field}"))
            .or_else(|| self.types.get(type_name))
    }

    /// Whether `caller` may use `Type.field`.
    pub fn allows(
        &self,
        type_name: &str,
        field: &str,
        caller: &Identity,
        default: AuthMode,
    ) -> bool {
        let denied = format!("{type_name}.{field}");
        if caller.denied_fields.contains(&denied) {
            return false;
        }
        match self.rule(type_name, field) {
            None => caller.mode == default,
            Some(rule) => {
                rule.modes.contains(&caller.mode)
                    && (caller.mode != AuthMode::Cognito
                        || rule
                            .cognito_groups
                            .as_ref()
                            .is_none_or(|groups| groups.iter().any(|g| caller.in_group(g))))
            }
        }
    }
}

/// What the access check needs beside the schema: the API's default mode and the owner rule.
/// Built once from the settings; every door (`POST /graphql`, each WebSocket protocol) checks
/// through [`authorize`] with the same policy.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    /// The mode that applies wherever the schema has no auth directive.
    pub default_mode: AuthMode,
    /// Binds an argument such as `userId` to the caller's identity; `None`: no binding.
    pub owner: Option<OwnerRule>,
    /// Members of this group may read and subscribe to anyone's data and use the admin API.
    pub admin_group: Option<String>,
}

/// The owner rule: callers signed in as a user (token, authorizer) may only name themselves in
/// the owner argument. AppSync leaves this to resolvers; here it is a setting, so every query,
/// mutation and subscription field that carries the argument is bound without code.
#[derive(Debug, Clone)]
pub struct OwnerRule {
    /// The argument (and mutation result field) that names the owner, e.g. `userId`.
    pub arg: String,
    /// The identity claim it must equal, e.g. `sub`.
    pub claim: String,
    /// Modes whose callers are services, not users (API keys and IAM by default, as in
    /// AppSync): they may name anyone.
    pub trusted_modes: Vec<AuthMode>,
}

impl AccessPolicy {
    /// Whether `caller` belongs to the admin group.
    pub fn is_admin(&self, caller: &Identity) -> bool {
        self.admin_group
            .as_ref()
            .is_some_and(|group| caller.in_group(group))
    }

    /// The owner rule as it applies to `caller`: `None` when it is off or the caller is exempt.
    fn owner_rule_for(&self, caller: &Identity) -> Option<&OwnerRule> {
        let rule = self.owner.as_ref()?;
        let exempt = rule.trusted_modes.contains(&caller.mode) || self.is_admin(caller);
        (!exempt).then_some(rule)
    }
}

/// The user an owner or user argument names: a string, or a number as its text (an `ID` may be
/// sent as either). The owner rule and the connection record read it the same way.
pub fn user_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Checks a whole request: directives on every selected field, then the owner rule on every
/// root field. A document that does not parse or names no operation passes: the executor
/// reports that in its own words. `variables` are the request's, read only where an owner
/// argument is one.
pub fn authorize(
    model: &SchemaModel,
    document: &ExecutableDocument,
    request: &GraphqlRequest,
    caller: &Identity,
    policy: &AccessPolicy,
) -> Result<(), GraphqlError> {
    let Ok(operation) = request.operation(document) else {
        return Ok(());
    };
    check(
        model,
        document,
        &operation.node,
        request.variables.as_ref(),
        caller,
        policy,
    )
}

/// Checks every field `operation` selects against the schema's rules, and every root field
/// against the owner rule; the first denial is AppSync's `Unauthorized` error.
pub fn check(
    model: &SchemaModel,
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    variables: Option<&Json>,
    caller: &Identity,
    policy: &AccessPolicy,
) -> Result<(), GraphqlError> {
    let root = match operation.ty {
        OperationType::Query => Some(model.roots.query.as_str()),
        OperationType::Mutation => model.roots.mutation.as_deref(),
        OperationType::Subscription => model.roots.subscription.as_deref(),
    };
    let Some(root) = root else {
        return Ok(());
    };
    let walk = Walk {
        model,
        document,
        operation,
        variables,
        caller,
        default: policy.default_mode,
        owner: policy.owner_rule_for(caller),
    };
    walk.selection_set(root, &operation.selection_set.node, 0, true)
}

/// One pass over an operation's selections.
struct Walk<'a> {
    model: &'a SchemaModel,
    document: &'a ExecutableDocument,
    operation: &'a OperationDefinition,
    variables: Option<&'a Json>,
    caller: &'a Identity,
    default: AuthMode,
    /// The owner rule when it binds this caller.
    owner: Option<&'a OwnerRule>,
}

impl Walk<'_> {
    /// `at_root`: the selections are the operation's root fields (directly or through
    /// fragments), where the owner rule applies.
    fn selection_set(
        &self,
        type_name: &str,
        set: &SelectionSet,
        depth: usize,
        at_root: bool,
    ) -> Result<(), GraphqlError> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if name.starts_with("__") {
                        continue;
                    }
                    // Unknown fields are validation's to report.
                    let Some(def) = self.model.object(type_name).and_then(|o| o.field(name)) else {
                        continue;
                    };
                    if !self
                        .model
                        .access
                        .allows(type_name, name, self.caller, self.default)
                    {
                        return Err(GraphqlError::new(
                            Some(ErrorType::Unauthorized),
                            format!("Not Authorized to access {name} on type {type_name}"),
                        ));
                    }
                    if at_root && let Some(rule) = self.owner {
                        self.check_owner(rule, type_name, def, &field.node)?;
                    }
                    let inner = base_name(&def.ty);
                    if self.model.object(inner).is_some() {
                        self.selection_set(
                            inner,
                            &field.node.selection_set.node,
                            depth + 1,
                            false,
                        )?;
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let on = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(type_name, |c| c.node.on.node.as_str());
                    self.selection_set(on, &fragment.node.selection_set.node, depth + 1, at_root)?;
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) =
                        self.document.fragments.get(&spread.node.fragment_name.node)
                    {
                        let on = fragment.node.type_condition.node.on.node.as_str();
                        self.selection_set(
                            on,
                            &fragment.node.selection_set.node,
                            depth + 1,
                            at_root,
                        )?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The owner rule on one root field: the owner value it names must be the caller's own
    /// claim. A query or subscription names it in its argument; a mutation in its result (the
    /// field subscribers filter on), whatever argument carries it.
    fn check_owner(
        &self,
        rule: &OwnerRule,
        type_name: &str,
        def: &FieldDef,
        field: &Field,
    ) -> Result<(), GraphqlError> {
        let named = if Some(type_name) == self.model.roots.mutation.as_deref() {
            let Some(plan) = self.model.mutations.get(&def.name) else {
                return Ok(());
            };
            if !plan.has_result_field(&rule.arg) {
                return Ok(());
            }
            let args = self.arguments(def, field);
            plan.supplied(&args, &rule.arg).cloned()
        } else {
            if !def.args.iter().any(|a| a.name == rule.arg) {
                return Ok(());
            }
            self.arguments(def, field).swap_remove(rule.arg.as_str())
        };
        let named = named.as_ref().and_then(user_of);
        if named.is_some() && named == self.caller.claim(&rule.claim) {
            return Ok(());
        }
        Err(GraphqlError::new(
            Some(ErrorType::Unauthorized),
            format!(
                "Not Authorized to access {} on type {type_name}: {} must be the caller's own {}",
                def.name, rule.arg, rule.claim
            ),
        ))
    }

    /// A field's arguments with the request's variables put in (and the operation's variable
    /// defaults, then the schema's argument defaults, where a value is missing), as the
    /// executor will see them before coercion.
    fn arguments(&self, def: &FieldDef, field: &Field) -> IndexMap<Name, Value> {
        let mut args = IndexMap::with_capacity(def.args.len());
        for (name, value) in &field.arguments {
            let value = value
                .node
                .clone()
                .into_const_with(|variable| Ok::<_, Infallible>(self.variable(&variable)))
                .unwrap_or_else(|never| match never {});
            args.insert(name.node.clone(), value);
        }
        for arg in &def.args {
            if let Some(default) = &arg.default
                && !args.contains_key(arg.name.as_str())
            {
                args.insert(Name::new(&arg.name), default.clone());
            }
        }
        args
    }

    /// A variable's value: the request's, else the operation's default, else null.
    fn variable(&self, name: &Name) -> Value {
        if let Some(value) = self
            .variables
            .and_then(|v| v.get(name.as_str()))
            .and_then(|v| Value::from_json(v.clone()).ok())
        {
            return value;
        }
        self.operation
            .variable_definitions
            .iter()
            .find(|d| d.node.name.node == *name)
            .and_then(|d| d.node.default_value.as_ref())
            .map_or(Value::Null, |d| d.node.clone())
    }
}

#[cfg(test)]
mod tests;

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
use crate::operation::{GraphqlError, GraphqlRequest};

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
    let Ok(operation) =
        crate::subscription::select_operation(document, request.operation_name.as_deref())
    else {
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
                            Some("Unauthorized"),
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
        let named = named.and_then(|value| match value {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        if named.is_some() && named == self.caller.claim(&rule.claim) {
            return Ok(());
        }
        Err(GraphqlError::new(
            Some("Unauthorized"),
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
mod tests {
    use super::*;
    use serde_json::json;

    const SDL: &str = r#"
        type Query { open: String @aws_api_key @aws_oidc  plain: String }
        type Mutation { publish(v: String!): Thing @aws_iam }
        type Subscription {
          admins: Thing @aws_cognito_user_pools(cognito_groups: ["admins"])
          anyone: Thing @aws_cognito_user_pools @aws_api_key
        }
        type Thing @aws_iam @aws_cognito_user_pools @aws_api_key { v: String! }
    "#;

    fn caller(mode: AuthMode, groups: &[&str]) -> Identity {
        let mut identity = Identity::new(mode, "t");
        identity.groups = groups.iter().map(|g| (*g).to_owned()).collect();
        identity
    }

    fn run(query: &str, who: &Identity) -> Result<(), GraphqlError> {
        let policy = AccessPolicy {
            default_mode: AuthMode::Oidc,
            owner: None,
            admin_group: None,
        };
        run_with(SDL, query, json!({}), who, &policy)
    }

    fn run_with(
        sdl: &str,
        query: &str,
        variables: Json,
        who: &Identity,
        policy: &AccessPolicy,
    ) -> Result<(), GraphqlError> {
        let model = SchemaModel::parse(sdl).unwrap();
        let document = async_graphql::parser::parse_query(query).unwrap();
        let (_, operation) = document.operations.iter().next().unwrap();
        check(
            &model,
            &document,
            &operation.node,
            Some(&variables),
            who,
            policy,
        )
    }

    #[test]
    fn directives_decide_and_no_directive_means_the_default_mode() {
        let key = caller(AuthMode::ApiKey, &[]);
        let oidc = caller(AuthMode::Oidc, &[]);
        assert!(run("{ open }", &key).is_ok());
        assert!(run("{ open }", &oidc).is_ok());
        assert!(run("{ plain }", &oidc).is_ok(), "default mode");
        let denied = run("{ plain }", &key).unwrap_err();
        assert_eq!(
            denied.message,
            "Not Authorized to access plain on type Query"
        );
        assert_eq!(denied.error_type.as_deref(), Some("Unauthorized"));
        assert!(run("subscription { anyone { v } }", &key).is_ok());
        assert!(run("subscription { anyone { v } }", &oidc).is_err());
    }

    #[test]
    fn cognito_groups_and_nested_types() {
        let member = caller(AuthMode::Cognito, &["admins"]);
        let outsider = caller(AuthMode::Cognito, &["users"]);
        assert!(run("subscription { admins { v } }", &member).is_ok());
        assert!(run("subscription { admins { v } }", &outsider).is_err());
        assert!(
            run(
                "subscription { ... on Subscription { admins { v } } }",
                &outsider
            )
            .is_err()
        );
        let mut lambda = caller(AuthMode::Lambda, &[]);
        assert!(run("mutation { publish(v: \"x\") { v } }", &lambda).is_err());
        lambda.mode = AuthMode::Iam;
        assert!(run("mutation { publish(v: \"x\") { v } }", &lambda).is_ok());
        lambda.denied_fields = vec!["Thing.v".to_owned()];
        assert!(run("mutation { publish(v: \"x\") { v } }", &lambda).is_err());
    }

    const OWNED: &str = r#"
        type Query { history(userId: ID!, limit: Int): [Thing] other(n: Int): String }
        type Mutation {
          publish(input: ThingInput!): Thing
          flat(userId: ID!, v: String): Thing
          echo(v: String!): String
        }
        type Subscription { updates(userId: ID): Thing @aws_subscribe(mutations: ["publish"]) }
        type Thing { userId: ID! v: String }
        input ThingInput { userId: ID! v: String }
    "#;

    fn owner_policy() -> AccessPolicy {
        AccessPolicy {
            default_mode: AuthMode::Oidc,
            owner: Some(OwnerRule {
                arg: "userId".to_owned(),
                claim: "sub".to_owned(),
                trusted_modes: vec![AuthMode::ApiKey],
            }),
            admin_group: Some("admins".to_owned()),
        }
    }

    fn user(sub: &str, groups: &[&str]) -> Identity {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".to_owned(), json!(sub));
        let mut identity = Identity::from_claims(AuthMode::Oidc, claims);
        identity.groups = groups.iter().map(|g| (*g).to_owned()).collect();
        identity
    }

    fn owned(query: &str, variables: Json, who: &Identity) -> Result<(), GraphqlError> {
        run_with(OWNED, query, variables, who, &owner_policy())
    }

    #[test]
    fn the_owner_rule_binds_queries_mutations_and_subscriptions() {
        let u1 = user("u1", &[]);
        for (own, other) in [
            (
                r#"{ history(userId: "u1") { v } }"#,
                r#"{ history(userId: "u2") { v } }"#,
            ),
            (
                r#"mutation { publish(input: {userId: "u1"}) { v } }"#,
                r#"mutation { publish(input: {userId: "u2"}) { v } }"#,
            ),
            (
                r#"mutation { flat(userId: "u1") { v } }"#,
                r#"mutation { flat(userId: "u2") { v } }"#,
            ),
            (
                r#"subscription { updates(userId: "u1") { v } }"#,
                r#"subscription { updates(userId: "u2") { v } }"#,
            ),
        ] {
            assert!(owned(own, json!({}), &u1).is_ok(), "{own}");
            let denied = owned(other, json!({}), &u1).unwrap_err();
            assert_eq!(
                denied.error_type.as_deref(),
                Some("Unauthorized"),
                "{other}"
            );
            assert!(
                denied
                    .message
                    .contains("userId must be the caller's own sub")
            );
        }
        // Omitting the owner argument is not a way around it.
        assert!(owned("subscription { updates { v } }", json!({}), &u1).is_err());
        // Fields without the owner argument are not bound.
        assert!(owned("{ other(n: 1) }", json!({}), &u1).is_ok());
        assert!(owned(r#"mutation { echo(v: "x") }"#, json!({}), &u1).is_ok());
    }

    #[test]
    fn the_owner_rule_reads_variables_defaults_aliases_and_fragments() {
        let u1 = user("u1", &[]);
        let q = "query Q($u: ID!) { history(userId: $u) { v } }";
        assert!(owned(q, json!({"u": "u1"}), &u1).is_ok());
        assert!(owned(q, json!({"u": "u2"}), &u1).is_err());
        assert!(
            owned(q, json!({}), &u1).is_err(),
            "a missing variable is null"
        );
        let q = r#"query Q($u: ID = "u2") { history(userId: $u) { v } }"#;
        assert!(
            owned(q, json!({}), &u1).is_err(),
            "the variable's default counts"
        );
        let m = "mutation M($i: ThingInput!) { publish(input: $i) { v } }";
        assert!(owned(m, json!({"i": {"userId": "u1"}}), &u1).is_ok());
        assert!(owned(m, json!({"i": {"userId": "u2"}}), &u1).is_err());
        let aliased =
            r#"{ mine: history(userId: "u1") { v } theirs: history(userId: "u2") { v } }"#;
        assert!(owned(aliased, json!({}), &u1).is_err());
        let fragment = r#"query { ...F } fragment F on Query { history(userId: "u2") { v } }"#;
        assert!(owned(fragment, json!({}), &u1).is_err());
        let inline = r#"{ ... on Query { history(userId: "u2") { v } } }"#;
        assert!(owned(inline, json!({}), &u1).is_err());
    }

    #[test]
    fn trusted_modes_and_admins_may_name_anyone() {
        let admin = user("boss", &["admins"]);
        assert!(owned(r#"{ history(userId: "u2") { v } }"#, json!({}), &admin).is_ok());
        let mut key = caller(AuthMode::ApiKey, &[]);
        key.principal = "key".to_owned();
        let policy = AccessPolicy {
            default_mode: AuthMode::ApiKey,
            ..owner_policy()
        };
        let query = r#"{ history(userId: "u2") { v } }"#;
        assert!(run_with(OWNED, query, json!({}), &key, &policy).is_ok());
    }
}

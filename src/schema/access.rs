//! Who may touch what: AppSync's auth directives (`@aws_api_key`, `@aws_iam`, `@aws_oidc`,
//! `@aws_lambda`, `@aws_cognito_user_pools(cognito_groups: [...])`) on types and fields, and the
//! check of an operation against them.
//!
//! AppSync's rules: a field's own directives decide; without any, its type's directives decide;
//! without those, only the API's default mode may use it. Every selected field is checked,
//! nested ones included, so a type returned to an additional mode must be annotated too (the
//! classic "Not Authorized to access jobId on type Status").

use std::collections::HashMap;

use async_graphql::parser::types::{
    ConstDirective, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
    ServiceDocument, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Positioned, Value};

use super::model::{SchemaModel, base_name};
use crate::auth::{AuthMode, Identity};
use crate::operation::GraphqlError;

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

/// Checks a whole request. A document that does not parse or names no operation passes: the
/// executor reports that in its own words.
pub fn authorize(
    model: &SchemaModel,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    caller: &Identity,
    default: AuthMode,
) -> Result<(), GraphqlError> {
    let Ok(operation) = crate::subscription::select_operation(document, operation_name) else {
        return Ok(());
    };
    check(model, document, &operation.node, caller, default)
}

/// Checks every field `operation` selects against the schema's rules; the first denial is
/// AppSync's `Unauthorized` error.
pub fn check(
    model: &SchemaModel,
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    caller: &Identity,
    default: AuthMode,
) -> Result<(), GraphqlError> {
    use async_graphql::parser::types::OperationType;
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
        caller,
        default,
    };
    walk.selection_set(root, &operation.selection_set.node, 0)
}

struct Walk<'a> {
    model: &'a SchemaModel,
    document: &'a ExecutableDocument,
    caller: &'a Identity,
    default: AuthMode,
}

impl Walk<'_> {
    fn selection_set(
        &self,
        type_name: &str,
        set: &SelectionSet,
        depth: usize,
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
                    let inner = base_name(&def.ty);
                    if self.model.object(inner).is_some() {
                        self.selection_set(inner, &field.node.selection_set.node, depth + 1)?;
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let on = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(type_name, |c| c.node.on.node.as_str());
                    self.selection_set(on, &fragment.node.selection_set.node, depth + 1)?;
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) =
                        self.document.fragments.get(&spread.node.fragment_name.node)
                    {
                        let on = fragment.node.type_condition.node.on.node.as_str();
                        self.selection_set(on, &fragment.node.selection_set.node, depth + 1)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let model = SchemaModel::parse(SDL).unwrap();
        let document = async_graphql::parser::parse_query(query).unwrap();
        let (_, operation) = document.operations.iter().next().unwrap();
        check(&model, &document, &operation.node, who, AuthMode::Oidc)
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
}

//! An example to start from, built from the served schema: its first subscription, and a
//! mutation that fires it, with example arguments. GraphiQL opens on it, so a schema of one's
//! own opens on its own fields. An argument's example value depends only on its name and type,
//! so the subscription and the mutation name the same values and the one reaches the other.

use std::fmt::Write as _;

use async_graphql::parser::types::{BaseType, Type};

use super::model::{ArgDef, SchemaModel, TypeDef, base_name};

/// The most leaf fields an example selects.
const MAX_SELECTED: usize = 6;

/// The example operations, as GraphQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub subscription: String,
    /// A mutation that fires the subscription, when one does.
    pub mutation: Option<String>,
}

/// The example for `model`; `None` when it has no subscription.
pub fn example(model: &SchemaModel) -> Option<Example> {
    let root = model.object(model.roots.subscription.as_deref()?)?;
    let field = root.fields.first()?;
    let subscription = operation(model, "subscription", &field.name, &field.args, &field.ty);
    let mutation = model
        .roots
        .mutation
        .as_deref()
        .and_then(|name| model.object(name))
        .and_then(|root| {
            root.fields.iter().find(|m| {
                model
                    .routes
                    .get(&m.name)
                    .is_some_and(|fired| fired.iter().any(|s| **s == *field.name))
            })
        })
        .map(|m| operation(model, "mutation", &m.name, &m.args, &m.ty));
    Some(Example {
        subscription,
        mutation,
    })
}

/// `kind Name { field(required arguments) { leaf fields } }`, indented by two.
fn operation(model: &SchemaModel, kind: &str, field: &str, args: &[ArgDef], ty: &Type) -> String {
    let mut name: Vec<char> = field.chars().collect();
    if let Some(first) = name.first_mut() {
        *first = first.to_ascii_uppercase();
    }
    let name: String = name.into_iter().collect();
    let mut text = format!("{kind} {name} {{\n  {field}");
    let required: Vec<String> = args
        .iter()
        .filter(|arg| !arg.ty.nullable && arg.default.is_none())
        .map(|arg| format!("{}: {}", arg.name, value(model, &arg.name, &arg.ty, 0)))
        .collect();
    if !required.is_empty() {
        let _ = write!(text, "({})", required.join(", "));
    }
    let leaves = leaf_fields(model, base_name(ty));
    if !leaves.is_empty() {
        let _ = write!(text, " {{\n    {}\n  }}", leaves.join("\n    "));
    }
    text.push_str("\n}\n");
    text
}

/// The scalar and enum fields of an object type, in declaration order, at most
/// [`MAX_SELECTED`].
fn leaf_fields<'a>(model: &'a SchemaModel, type_name: &str) -> Vec<&'a str> {
    let Some(object) = model.object(type_name) else {
        return Vec::new();
    };
    object
        .fields
        .iter()
        .filter(|f| {
            matches!(
                model.types.get(base_name(&f.ty)),
                Some(TypeDef::Scalar | TypeDef::Enum(_)) | None
            ) && matches!(f.ty.base, BaseType::Named(_))
        })
        .map(|f| f.name.as_str())
        .take(MAX_SELECTED)
        .collect()
}

/// An example literal for an argument or input field named `name` of type `ty`.
fn value(model: &SchemaModel, name: &str, ty: &Type, depth: usize) -> String {
    if let BaseType::List(item) = &ty.base {
        return format!("[{}]", value(model, name, item, depth));
    }
    let type_name = base_name(ty);
    match (name, type_name) {
        // The status schema's own, so its example reads as its documentation does.
        ("userId", _) => return "\"u1\"".to_owned(),
        ("jobId", _) => return "\"j1\"".to_owned(),
        _ => {}
    }
    match model.types.get(type_name) {
        Some(TypeDef::Enum(values)) => return values.first().cloned().unwrap_or_default(),
        Some(TypeDef::Input(fields)) if depth < 3 => {
            let fields: Vec<String> = fields
                .iter()
                .filter(|f| !f.ty.nullable && f.default.is_none())
                .map(|f| format!("{}: {}", f.name, value(model, &f.name, &f.ty, depth + 1)))
                .collect();
            return format!("{{{}}}", fields.join(", "));
        }
        _ => {}
    }
    match type_name {
        "Int" | "AWSTimestamp" => "1",
        "Float" => "1.5",
        "Boolean" => "true",
        "AWSDateTime" => "\"2026-01-01T00:00:00.000Z\"",
        "AWSDate" => "\"2026-01-01\"",
        "AWSTime" => "\"12:00:00\"",
        "AWSJSON" => "\"{}\"",
        "AWSEmail" => "\"someone@example.com\"",
        "AWSURL" => "\"https://example.com\"",
        "AWSPhone" => "\"+12065550100\"",
        "AWSIPAddress" => "\"127.0.0.1\"",
        "ID" => "\"1\"",
        "String" if name == "status" => "\"validating\"",
        _ => "\"example\"",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_schema_opens_on_its_own_subscription_and_the_mutation_that_fires_it() {
        let model = SchemaModel::parse(super::super::DEFAULT_SDL).unwrap();
        let example = example(&model).unwrap();
        assert_eq!(
            example.subscription,
            "subscription OnStatusUpdate {\n  onStatusUpdate(userId: \"u1\") {\n    jobId\n    userId\n    agentName\n    status\n    message\n    timestamp\n  }\n}\n"
        );
        assert_eq!(
            example.mutation.as_deref(),
            Some(
                "mutation PublishStatus {\n  publishStatus(input: {jobId: \"j1\", userId: \"u1\", status: \"validating\"}) {\n    jobId\n    userId\n    agentName\n    status\n    message\n    timestamp\n  }\n}\n"
            )
        );
    }

    #[test]
    fn a_custom_schema_opens_on_its_first_subscription() {
        let model = SchemaModel::parse(
            r#"type Todo { id: ID! title: String! done: Boolean tags: [String] }
type Query { getTodo(id: ID!): Todo }
type Mutation { createTodo(id: ID!, title: String!, done: Boolean): Todo }
type Subscription { onCreateTodo(done: Boolean): Todo @aws_subscribe(mutations: ["createTodo"]) }"#,
        )
        .unwrap();
        let example = example(&model).unwrap();
        assert_eq!(
            example.subscription,
            "subscription OnCreateTodo {\n  onCreateTodo {\n    id\n    title\n    done\n  }\n}\n"
        );
        assert_eq!(
            example.mutation.as_deref(),
            Some(
                "mutation CreateTodo {\n  createTodo(id: \"1\", title: \"example\") {\n    id\n    title\n    done\n  }\n}\n"
            )
        );
    }
}

//! Reading the parsed SDL: every type definition, the roots, and the `@aws_subscribe` lists,
//! with the positions `schema check` reports errors at.

use std::collections::HashMap;

use async_graphql::parser::types::{
    ConstDirective, FieldDefinition, InputValueDefinition, ServiceDocument, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Pos, Value};
use indexmap::IndexMap;

use super::{ArgDef, FieldDef, ObjectDef, Roots, SchemaError, TypeDef};
use crate::graphql::schema::scalars;

pub(super) fn directive<'a>(
    directives: &'a [async_graphql::Positioned<ConstDirective>],
    name: &str,
) -> Option<&'a async_graphql::Positioned<ConstDirective>> {
    directives.iter().find(|d| d.node.name.node == name)
}

/// Directives of Amplify's GraphQL transformer on a type: they mark a source schema, which
/// Amplify compiles into the AppSync schema that is served.
const AMPLIFY_TRANSFORMER: [&str; 2] = ["model", "searchable"];

/// What to serve instead of an Amplify source schema.
fn amplify_source_hint(directive: &str) -> String {
    format!(
        "`@{directive}` marks an Amplify source schema, which AppSync never sees; serve the \
         schema Amplify compiles from it: Gen 1, amplify/backend/api/<api>/build/schema.graphql \
         (after `amplify api gql-compile`); Gen 2 or any deployed API, `aws appsync \
         get-introspection-schema --api-id <id> --format SDL schema.graphql`"
    )
}

pub(super) fn arg_def(def: &InputValueDefinition) -> ArgDef {
    ArgDef {
        name: def.name.node.to_string(),
        ty: def.ty.node.clone(),
        default: def.default_value.as_ref().map(|v| v.node.clone()),
        pos: def.name.pos,
    }
}

pub(super) fn field_def(def: &FieldDefinition) -> FieldDef {
    FieldDef {
        name: def.name.node.to_string(),
        ty: def.ty.node.clone(),
        args: def.arguments.iter().map(|a| arg_def(&a.node)).collect(),
        pos: def.name.pos,
    }
}

pub(super) type Collected = (
    IndexMap<String, TypeDef>,
    Roots,
    // Where the `schema { ... }` block names each root.
    HashMap<String, Pos>,
    // Each field's `@aws_subscribe` list and the directive's position.
    HashMap<String, (Vec<String>, Pos)>,
);

/// Reads every type definition, the roots, and the `@aws_subscribe` lists.
pub(super) fn collect_types(document: &ServiceDocument) -> Result<Collected, SchemaError> {
    let mut types: IndexMap<String, TypeDef> = IndexMap::new();
    let mut roots = Roots {
        query: "Query".to_owned(),
        mutation: None,
        subscription: None,
    };
    let mut explicit_roots = false;
    let mut root_pos: HashMap<String, Pos> = HashMap::new();
    let mut subscribe: HashMap<String, (Vec<String>, Pos)> = HashMap::new();
    for scalar in scalars::AWS_SCALARS {
        types.insert(scalar.to_owned(), TypeDef::Scalar);
    }
    for definition in &document.definitions {
        let def = match definition {
            TypeSystemDefinition::Schema(schema) => {
                let schema = &schema.node;
                explicit_roots = true;
                for name in [&schema.query, &schema.mutation, &schema.subscription]
                    .into_iter()
                    .flatten()
                {
                    root_pos.insert(name.node.to_string(), name.pos);
                }
                if let Some(q) = &schema.query {
                    roots.query = q.node.to_string();
                }
                roots.mutation = schema.mutation.as_ref().map(|n| n.node.to_string());
                roots.subscription = schema.subscription.as_ref().map(|n| n.node.to_string());
                continue;
            }
            TypeSystemDefinition::Directive(_) => continue,
            TypeSystemDefinition::Type(def) => &def.node,
        };
        if let Some(found) = AMPLIFY_TRANSFORMER
            .iter()
            .find_map(|name| directive(&def.directives, name))
        {
            return Err(SchemaError::Invalid(
                amplify_source_hint(&found.node.name.node),
                Some(found.pos),
            ));
        }
        let name = def.name.node.to_string();
        let new = match &def.kind {
            TypeKind::Scalar => TypeDef::Scalar,
            TypeKind::Enum(e) => TypeDef::Enum(
                e.values
                    .iter()
                    .map(|v| v.node.value.node.to_string())
                    .collect(),
            ),
            TypeKind::InputObject(input) => {
                TypeDef::Input(input.fields.iter().map(|f| arg_def(&f.node)).collect())
            }
            TypeKind::Object(object) => {
                for field in &object.fields {
                    if let Some(d) = directive(&field.node.directives, "aws_subscribe") {
                        subscribe.insert(
                            field.node.name.node.to_string(),
                            (subscribe_mutations(&name, &d.node, d.pos)?, d.pos),
                        );
                    }
                }
                TypeDef::Object(ObjectDef {
                    fields: object.fields.iter().map(|f| field_def(&f.node)).collect(),
                    implements: object
                        .implements
                        .iter()
                        .map(|i| i.node.to_string())
                        .collect(),
                })
            }
            TypeKind::Interface(interface) => TypeDef::Interface(ObjectDef {
                fields: interface
                    .fields
                    .iter()
                    .map(|f| field_def(&f.node))
                    .collect(),
                implements: interface
                    .implements
                    .iter()
                    .map(|i| i.node.to_string())
                    .collect(),
            }),
            TypeKind::Union(union) => {
                TypeDef::Union(union.members.iter().map(|m| m.node.to_string()).collect())
            }
        };
        match (types.get_mut(&name), new) {
            (Some(TypeDef::Object(old)), TypeDef::Object(more)) if def.extend => {
                old.fields.extend(more.fields);
                old.implements.extend(more.implements);
            }
            (Some(TypeDef::Input(old)), TypeDef::Input(more)) if def.extend => old.extend(more),
            (Some(TypeDef::Scalar), TypeDef::Scalar) => {}
            (Some(_), _) if !def.extend => {
                return Err(SchemaError::Invalid(
                    format!("type `{name}` is defined twice"),
                    Some(def.name.pos),
                ));
            }
            (_, new) => {
                types.insert(name, new);
            }
        }
    }
    if !explicit_roots {
        let is_object = |n: &str| matches!(types.get(n), Some(TypeDef::Object(_)));
        roots.mutation = is_object("Mutation").then(|| "Mutation".to_owned());
        roots.subscription = is_object("Subscription").then(|| "Subscription".to_owned());
    }
    Ok((types, roots, root_pos, subscribe))
}

fn subscribe_mutations(
    type_name: &str,
    d: &ConstDirective,
    pos: Pos,
) -> Result<Vec<String>, SchemaError> {
    let bad = || {
        SchemaError::Invalid(
            format!("{type_name}: @aws_subscribe needs `mutations: [\"name\", ...]`"),
            Some(pos),
        )
    };
    let Some(Value::List(list)) = d.get_argument("mutations").map(|v| &v.node) else {
        return Err(bad());
    };
    list.iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(bad()),
        })
        .collect()
}

//! Projection: an event's payload shaped by one subscription's selection set.
//!
//! A subscription's selection set is compiled once, when it starts (fragments inlined, aliases
//! resolved, `@skip`/`@include` decided by its variables), into a small tree. Each event is then
//! rendered straight to the JSON text of a GraphQL response, with no resolver machinery per event.

use std::collections::HashMap;

use async_graphql::parser::types::{Directive, FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned, Value, Variables};

use crate::graphql::schema::SchemaModel;
use crate::graphql::schema::model::base_name;

/// A compiled selection set for one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Projection {
    /// The response key of the subscription field (its alias or name), as a JSON string;
    /// empty for [`Projection::event_text`].
    root_key: String,
    root: Option<Fields>,
}

/// The fields selected on one object type, in response order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
struct Fields(Vec<ProjectedField>);

impl Fields {
    /// Adds a selected field. A response key selected again is the same field (validation
    /// guarantees it): what is selected on it merges into the first selection, at every depth,
    /// as GraphQL's field merging says.
    fn add(&mut self, field: ProjectedField) {
        match self
            .0
            .iter_mut()
            .find(|f| f.response_key == field.response_key)
        {
            Some(existing) => {
                if let (
                    Source::Field {
                        nested: Some(into), ..
                    },
                    Source::Field {
                        nested: Some(more), ..
                    },
                ) = (&mut existing.source, field.source)
                {
                    for field in more.0 {
                        into.add(field);
                    }
                }
            }
            None => self.0.push(field),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ProjectedField {
    /// The response key as JSON text, quotes included.
    key: String,
    /// The response key as written, to merge repeated selections.
    response_key: String,
    source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Source {
    /// `__typename`: the object type's name, known when compiling.
    Typename(String),
    /// A field of the payload, with the selection on it if it is an object.
    Field {
        name: String,
        nested: Option<Fields>,
    },
}

/// What the compiler needs to read a document.
pub struct CompileContext<'a> {
    pub model: &'a SchemaModel,
    pub fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    pub variables: &'a Variables,
}

impl<'a> CompileContext<'a> {
    /// Whether `@skip`/`@include` keep a selection.
    pub fn included(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().all(|d| {
            let condition = || {
                d.node.get_argument("if").and_then(|v| {
                    v.node
                        .clone()
                        .into_const_with(|name| self.variable(&name))
                        .ok()
                })
            };
            match d.node.name.node.as_str() {
                "skip" => condition() != Some(Value::Boolean(true)),
                "include" => condition() != Some(Value::Boolean(false)),
                _ => true,
            }
        })
    }

    fn variable(&self, name: &Name) -> Result<Value, ()> {
        Ok(self.variables.get(name).cloned().unwrap_or(Value::Null))
    }

    /// The fields of a selection set on `type_name`, with fragments that apply inlined.
    pub fn fields(
        &self,
        type_name: &str,
        set: &'a SelectionSet,
        out: &mut Vec<&'a async_graphql::parser::types::Field>,
    ) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) if self.included(&field.node.directives) => {
                    out.push(&field.node)
                }
                Selection::Field(_) => {}
                Selection::InlineFragment(fragment) => {
                    let applies = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .is_none_or(|c| self.model.is_a(type_name, &c.node.on.node));
                    if applies && self.included(&fragment.node.directives) {
                        self.fields(type_name, &fragment.node.selection_set.node, out);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if !self.included(&spread.node.directives) {
                        continue;
                    }
                    if let Some(fragment) = self.fragments.get(&spread.node.fragment_name.node)
                        && self
                            .model
                            .is_a(type_name, &fragment.node.type_condition.node.on.node)
                    {
                        self.fields(type_name, &fragment.node.selection_set.node, out);
                    }
                }
            }
        }
    }

    fn compile_fields(&self, type_name: &str, set: &'a SelectionSet) -> Fields {
        let mut selected = Vec::new();
        self.fields(type_name, set, &mut selected);
        let object = self.model.object(type_name);
        let mut out = Fields::default();
        for field in selected {
            let response_key = field.response_key().node.to_string();
            let name = field.name.node.as_str();
            let source = if name == "__typename" {
                Source::Typename(type_name.to_owned())
            } else {
                let nested = (!field.selection_set.node.items.is_empty())
                    .then(|| object.and_then(|o| o.field(name)))
                    .flatten()
                    .map(|def| self.compile_fields(base_name(&def.ty), &field.selection_set.node));
                Source::Field {
                    name: name.to_owned(),
                    nested,
                }
            };
            out.add(ProjectedField {
                key: json_string(&response_key),
                response_key,
                source,
            });
        }
        out
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

impl Projection {
    /// Compiles the selection of the subscription field `root` (already validated).
    pub fn compile<'a>(
        ctx: &CompileContext<'a>,
        root: &'a async_graphql::parser::types::Field,
        return_type: &str,
    ) -> Self {
        let set = &root.selection_set.node;
        Self {
            root_key: json_string(root.response_key().node.as_str()),
            root: (!set.items.is_empty()).then(|| ctx.compile_fields(return_type, set)),
        }
    }

    /// Renders `{"data":{"<root>":...}}` for one event payload.
    /// A projection of the whole payload under `field`, for tests that do not compile a document.
    #[cfg(test)]
    pub(crate) fn whole(field: &str) -> Self {
        Self {
            root_key: json_string(field),
            root: None,
        }
    }

    /// What an AppSync Events subscriber gets: the event's JSON text as a JSON string (the
    /// `event` of its `data` frame).
    pub fn event_text() -> Self {
        Self {
            root_key: String::new(),
            root: None,
        }
    }

    pub fn render(&self, payload: &Value) -> String {
        if self.root_key.is_empty() {
            return match payload {
                Value::String(text) => serde_json::to_string(text).unwrap_or_default(),
                other => serde_json::to_string(&other.to_string()).unwrap_or_default(),
            };
        }
        let mut out = String::with_capacity(256);
        out.push_str("{\"data\":{");
        out.push_str(&self.root_key);
        out.push(':');
        match &self.root {
            Some(fields) => write_selected(&mut out, payload, fields),
            None => write_value(&mut out, payload),
        }
        out.push_str("}}");
        out
    }
}

fn write_selected(out: &mut String, value: &Value, fields: &Fields) {
    match value {
        Value::Object(object) => {
            out.push('{');
            for (i, field) in fields.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&field.key);
                out.push(':');
                match &field.source {
                    Source::Typename(name) => out.push_str(&json_string(name)),
                    Source::Field { name, nested } => {
                        let value = object.get(name.as_str()).unwrap_or(&Value::Null);
                        match nested {
                            Some(nested) => write_selected(out, value, nested),
                            None => write_value(out, value),
                        }
                    }
                }
            }
            out.push('}');
        }
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_selected(out, item, fields);
            }
            out.push(']');
        }
        _ => out.push_str("null"),
    }
}

fn write_value(out: &mut String, value: &Value) {
    // async-graphql's Value serializes as its JSON form (enums as strings).
    out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SDL: &str = r#"
        type Query { q: String }
        type Mutation { put(v: String): Outer }
        type Subscription { on: Outer @aws_subscribe(mutations: ["put"]) }
        type Outer { a: Middle id: ID }
        type Middle { b: Inner c: String }
        type Inner { x: String y: String }
    "#;

    /// Compiles `query`'s subscription field with `variables` and renders `payload` with it.
    fn render(
        query: &str,
        variables: serde_json::Value,
        payload: serde_json::Value,
    ) -> serde_json::Value {
        let model = SchemaModel::parse(SDL).unwrap();
        let document = async_graphql::parser::parse_query(query).unwrap();
        let (_, operation) = document.operations.iter().next().unwrap();
        let Selection::Field(root) = &operation.node.selection_set.node.items[0].node else {
            panic!("a field at the root")
        };
        let variables = Variables::from_json(variables);
        let ctx = CompileContext {
            model: &model,
            fragments: &document.fragments,
            variables: &variables,
        };
        let projection = Projection::compile(&ctx, &root.node, "Outer");
        let text = projection.render(&Value::from_json(payload).unwrap());
        serde_json::from_str(&text).unwrap()
    }

    fn payload() -> serde_json::Value {
        json!({"id": "1", "a": {"c": "c", "b": {"x": "x", "y": "y"}}})
    }

    #[test]
    fn repeated_keys_merge_at_every_depth() {
        let data = render(
            "subscription { on { a { b { x } } a { b { y } } } }",
            json!({}),
            payload(),
        );
        assert_eq!(
            data,
            json!({"data": {"on": {"a": {"b": {"x": "x", "y": "y"}}}}})
        );
        let fragments =
            "subscription { on { ...F a { c b { x } } } } fragment F on Outer { a { b { y } } }";
        let data = render(fragments, json!({}), payload());
        assert_eq!(
            data,
            json!({"data": {"on": {"a": {"b": {"y": "y", "x": "x"}, "c": "c"}}}})
        );
    }

    #[test]
    fn skip_and_include_follow_their_variables() {
        let query = "subscription S($skip: Boolean!, $with: Boolean!) { on { id @skip(if: $skip) a @include(if: $with) { c } } }";
        let data = render(query, json!({"skip": true, "with": true}), payload());
        assert_eq!(data, json!({"data": {"on": {"a": {"c": "c"}}}}));
        let data = render(query, json!({"skip": false, "with": false}), payload());
        assert_eq!(data, json!({"data": {"on": {"id": "1"}}}));
        let inline = "subscription { on { ... @skip(if: true) { id } a { c } } }";
        assert_eq!(
            render(inline, json!({}), payload()),
            json!({"data": {"on": {"a": {"c": "c"}}}})
        );
    }
}

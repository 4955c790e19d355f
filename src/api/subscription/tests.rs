//! A subscriber's data is shaped exactly as async-graphql shapes the same selection: each case's
//! selection set is prepared as a subscription (its `Projection` renders the event) and executed
//! by async-graphql as a history query over the same event, and the two must agree.
//!
//! The event is published through the broker with nested values, as a mutation result with
//! nested objects would carry them, so merges, fragments and directives have depth to work at.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value as Json, json};

use super::prepare;
use crate::api::Api;
use crate::api::check::{DETACHED_LIMITS, detached_broker};
use crate::caller::auth_mode::AuthMode;
use crate::graphql::schema::SchemaModel;
use crate::graphql::schema::access::AccessPolicy;
use crate::operation::GraphqlRequest;

const SDL: &str = r#"
type Query { items(id: ID!): [Outer!]! }
type Mutation { put(id: ID!): Outer }
type Subscription { on(id: ID!): Outer @aws_subscribe(mutations: ["put"]) }
type Outer { id: ID! a: Middle list: [Inner] }
type Middle { b: Inner c: String }
type Inner { x: String y: String }
"#;

/// `(variables declared, the root field's selection set, variables)`.
const CASES: &[(&str, &str, &str)] = &[
    ("", "id a { c }", "{}"),
    ("", "a { b { x } } a { b { y } }", "{}"),
    ("", "a { b { x } c } a { b { y } } id", "{}"),
    ("", "a { b { x } } ...F", "{}"),
    ("", "... on Outer { a { b { y } } } a { c b { x } }", "{}"),
    (
        "",
        "renamed: a { c } a { b { x } } renamed: a { b { y } }",
        "{}",
    ),
    ("", "list { x } list { y }", "{}"),
    ("", "__typename a { __typename b { x } }", "{}"),
    (
        "($s: Boolean!)",
        "id @skip(if: $s) a { c }",
        r#"{"s": true}"#,
    ),
    (
        "($s: Boolean!)",
        "id @skip(if: $s) a { c }",
        r#"{"s": false}"#,
    ),
    (
        "($i: Boolean!)",
        "a @include(if: $i) { b { x } } id",
        r#"{"i": false}"#,
    ),
    (
        "($i: Boolean!)",
        "a { b @include(if: $i) { x } b { y } }",
        r#"{"i": false}"#,
    ),
    (
        "($i: Boolean!)",
        "a { b @include(if: $i) { x } b { y } }",
        r#"{"i": true}"#,
    ),
    ("($s: Boolean!)", "...F @skip(if: $s) id", r#"{"s": true}"#),
    ("", "... @include(if: false) { id } a { c }", "{}"),
    ("", "a { ... on Middle { b { x } } b { ...G } }", "{}"),
];

/// The fragments a selection spreads (GraphQL refuses a document with an unused one).
fn fragments(selection: &str) -> String {
    let mut text = String::new();
    if selection.contains("...F") {
        text.push_str(" fragment F on Outer { a { b { y } c } }");
    }
    if selection.contains("...G") {
        text.push_str(" fragment G on Inner { y }");
    }
    text
}

#[tokio::test]
async fn projections_render_as_async_graphql_executes() {
    let model = Arc::new(SchemaModel::parse(SDL).unwrap());
    // The history keeps the latest event only: each case reads its event right after it.
    let broker = detached_broker(&model).unwrap();
    let policy = AccessPolicy {
        default_mode: AuthMode::ApiKey,
        owner: None,
        admin_group: None,
    };
    let api = Api::new(model, broker.clone(), DETACHED_LIMITS, policy).unwrap();
    for (n, (declared, selection, variables)) in CASES.iter().enumerate() {
        let id = format!("case{n}");
        let payload = json!({
            "id": id,
            "a": {"b": {"x": "x", "y": "y"}, "c": "c"},
            "list": [{"x": "x1", "y": "y1"}, {"x": "x2", "y": null}],
        });
        let event = async_graphql::Value::from_json(payload).unwrap();
        broker
            .publish("put", "Outer", event.clone(), None)
            .await
            .unwrap();
        let request = |kind: &str, field: &str| GraphqlRequest {
            query: format!(
                "{kind} O{declared} {{ {field}(id: \"{id}\") {{ {selection} }} }}{}",
                fragments(selection)
            ),
            variables: Some(serde_json::from_str(variables).unwrap()),
            ..GraphqlRequest::default()
        };

        let subscription = request("subscription", "on");
        let prepared = prepare(&api, &subscription, None, Duration::from_secs(5), |_, _| {
            Ok(None)
        })
        .await
        .unwrap_or_else(|errors| panic!("case {n}: {errors:?}"));
        let rendered: Json = serde_json::from_str(&prepared.projection.render(&event)).unwrap();

        let executed = api.execute(&request("query", "items"), None, None).await;
        assert!(
            executed.errors.is_empty(),
            "case {n}: {:?}",
            executed.errors
        );
        let executed = executed.data.into_json().unwrap();
        assert_eq!(
            rendered["data"]["on"], executed["items"][0],
            "case {n}: `{selection}` rendered unlike async-graphql's execution"
        );
    }
}

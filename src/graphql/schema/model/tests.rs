//! The model's own checks on small schemas; the served behaviour is tested in `tests/`.

use super::*;

const STATUS: &str = include_str!("../../../../schema.graphql");

#[test]
fn status_schema_routes_and_plans() {
    let model = SchemaModel::parse(STATUS).unwrap();
    assert_eq!(
        model.routes["publishStatus"],
        vec![Arc::<str>::from("onStatusUpdate")]
    );
    let history = &model.history[0];
    assert_eq!(history.field, "statusHistory");
    assert_eq!(history.partition, ["userId"]);
    assert_eq!(history.filters, ["jobId"]);
    assert_eq!(history.limit_arg.as_deref(), Some("limit"));
}

#[test]
fn pass_through_fills_timestamp_and_keeps_only_result_fields() {
    let model = SchemaModel::parse(STATUS).unwrap();
    let plan = &model.mutations["publishStatus"];
    let input: IndexMap<Name, Value> = [
        (Name::new("jobId"), Value::from(7)),
        (Name::new("userId"), Value::from("u1")),
        (Name::new("status"), Value::from("validating")),
        (Name::new("extra"), Value::from("dropped")),
    ]
    .into_iter()
    .collect();
    let args = [(Name::new("input"), Value::Object(input))]
        .into_iter()
        .collect();
    let Value::Object(result) = plan.result(&args) else {
        panic!("an object result");
    };
    assert_eq!(
        result["jobId"],
        Value::from("7"),
        "ID numbers become strings"
    );
    assert!(matches!(&result["timestamp"], Value::String(t) if t.ends_with('Z')));
    assert!(!result.contains_key("extra"));
}

#[test]
fn a_result_field_never_supplied_is_a_warning_and_a_sometimes_supplied_one_is_not() {
    let sdl = r#"
        type Query { x: Int }
        type Thing { id: ID! name: String! kind: String! }
        type Mutation { make(id: ID!, name: String): Thing }
    "#;
    let warnings = SchemaModel::parse(sdl).unwrap().warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("Thing.kind is non-null, but Mutation.make never supplies it"));
}

#[test]
fn the_one_required_input_object_is_the_source_beside_optional_arguments() {
    let sdl = r#"
        type Query { x: Int }
        type Thing { id: ID! name: String }
        input ThingInput { id: ID name: String }
        input Condition { name: String }
        type Mutation { make(input: ThingInput!, condition: Condition): Thing }
    "#;
    let model = SchemaModel::parse(sdl).unwrap();
    let args: IndexMap<Name, Value> = [
        (
            Name::new("input"),
            Value::from_json(serde_json::json!({"name": "n"})).unwrap(),
        ),
        (
            Name::new("condition"),
            Value::from_json(serde_json::json!({"name": "c"})).unwrap(),
        ),
    ]
    .into_iter()
    .collect();
    let Value::Object(result) = model.mutations["make"].result(&args) else {
        panic!("an object")
    };
    assert_eq!(result.get("name"), Some(&Value::from("n")));
    assert!(
        matches!(result.get("id"), Some(Value::String(_))),
        "generated"
    );
}

#[test]
fn subscribe_to_unknown_mutation_is_refused() {
    let sdl = r#"
        type Query { x: Int }
        type T { a: String }
        type Mutation { m(a: String): T }
        type Subscription { s: T @aws_subscribe(mutations: ["nope"]) }
    "#;
    let err = SchemaModel::parse(sdl).unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
}

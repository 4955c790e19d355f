//! The model's own checks on small schemas; the served behaviour is tested in `tests/`.

use super::*;

const STATUS: &str = include_str!("../../../schema.graphql");

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
fn unfillable_result_is_refused_naming_type_and_field() {
    let sdl = r#"
        type Query { x: Int }
        type Thing { id: ID! name: String! }
        type Mutation { make(id: ID!, name: String): Thing }
    "#;
    let err = SchemaModel::parse(sdl).unwrap_err().to_string();
    assert!(err.contains("Thing.name"), "{err}");
    assert!(err.contains("Mutation.make"), "{err}");
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

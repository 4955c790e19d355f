use serde_json::json;

use super::amplify::to_groups;
use super::group::{FilterError, check, from_json};
use super::*;

/// A filter from AppSync's JSON, checked.
fn filter(json: Json) -> Result<Filter, FilterError> {
    Ok(check(from_json(&json)?)?.expect("a filter with rules"))
}

fn one(field: &str, operator: &str, value: Json) -> Result<Filter, FilterError> {
    filter(json!({"filterGroup": [{"filters": [
        {"fieldName": field, "operator": operator, "value": value}
    ]}]}))
}

fn event(json: Json) -> Value {
    Value::from_json(json).unwrap()
}

fn matches(field: &str, operator: &str, value: Json, payload: Json) -> bool {
    one(field, operator, value)
        .unwrap()
        .matches(&event(payload))
}

#[test]
fn each_operator() {
    let todo = json!({"priority": 4, "name": "Testing", "tags": ["a", "b"], "done": false,
        "owner": null, "location": {"address": {"country": "USA"}}, "kind": "TASK"});
    let cases = [
        ("priority", "eq", json!(4), true),
        ("priority", "eq", json!(4.0), true),
        ("priority", "eq", json!("4"), false),
        ("done", "eq", json!(false), true),
        ("done", "eq", json!("false"), false),
        ("name", "eq", json!("testing"), false),
        ("tags", "eq", json!("a"), false),
        ("priority", "ne", json!(5), true),
        ("owner", "ne", json!("x"), true),
        ("owner", "eq", json!(null), true),
        ("missing", "ne", json!(1), false),
        ("missing", "notIn", json!([1]), false),
        ("priority", "le", json!(4), true),
        ("priority", "lt", json!(4), false),
        ("priority", "ge", json!(4), true),
        ("priority", "gt", json!(3.5), true),
        ("priority", "gt", json!("3"), false),
        ("name", "gt", json!("Test"), true),
        ("name", "lt", json!("testing"), true),
        ("name", "contains", json!("sti"), true),
        ("name", "contains", json!("STI"), false),
        ("tags", "contains", json!("b"), true),
        ("tags", "notContains", json!("c"), true),
        ("priority", "contains", json!(4), true),
        ("name", "beginsWith", json!("Test"), true),
        ("priority", "beginsWith", json!("4"), false),
        ("priority", "in", json!([1, 4]), true),
        ("tags", "in", json!(["a"]), false),
        ("priority", "notIn", json!([1, 2]), true),
        ("priority", "between", json!([1, 5]), true),
        ("priority", "between", json!([4, 5]), false),
        ("tags", "containsAny", json!(["x", "b"]), true),
        ("tags", "containsAny", json!(["x"]), false),
        ("kind", "containsAny", json!(["TASK"]), true),
        ("owner", "attributeExists", json!(false), true),
        ("name", "attributeExists", json!(true), true),
        ("location.address.country", "eq", json!("USA"), true),
        ("location.address.city", "eq", json!("NYC"), false),
        ("name.first", "eq", json!("x"), false),
        ("priority", "lte", json!(4), true),
        ("priority", "gte", json!(5), false),
    ];
    for (field, operator, value, expected) in cases {
        assert_eq!(
            matches(field, operator, value.clone(), todo.clone()),
            expected,
            "{field} {operator} {value}"
        );
    }
    // An enum value compares as its name.
    let with_enum = Value::Object(
        [(
            async_graphql::Name::new("kind"),
            Value::Enum(async_graphql::Name::new("TASK")),
        )]
        .into_iter()
        .collect(),
    );
    assert!(
        one("kind", "eq", json!("TASK"))
            .unwrap()
            .matches(&with_enum)
    );
    // Deeper than five levels never matches.
    let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
    assert!(!matches("a.b.c.d.e.f", "eq", json!(1), deep.clone()));
    let five = json!({"a": {"b": {"c": {"d": {"e": 1}}}}});
    assert!(matches("a.b.c.d.e", "eq", json!(1), five));
}

#[test]
fn groups_are_ored_and_rules_anded() {
    let f = filter(json!({"filterGroup": [
        {"filters": [{"fieldName": "a", "operator": "eq", "value": 1},
                     {"fieldName": "b", "operator": "eq", "value": 2}]},
        {"filters": [{"fieldName": "c", "operator": "eq", "value": 3}]}
    ]}))
    .unwrap();
    assert!(f.matches(&event(json!({"a": 1, "b": 2}))));
    assert!(!f.matches(&event(json!({"a": 1, "b": 3}))));
    assert!(f.matches(&event(json!({"c": 3}))));
    // The text form, as an AWSJSON argument carries it.
    let text =
        json!(r#"{"filterGroup":[{"filters":[{"fieldName":"a","operator":"eq","value":1}]}]}"#);
    assert!(
        check(from_json(&text).unwrap())
            .unwrap()
            .unwrap()
            .matches(&event(json!({"a": 1})))
    );
}

#[test]
fn limits_and_appsync_texts() {
    let message = |result: Result<Filter, FilterError>| result.unwrap_err().to_string();
    assert_eq!(
        message(one("a", "in", json!([1, 2, 3, 4, 5, 6]))),
        "subscription exceeds maximum value limit 5 for operator `in`."
    );
    assert_eq!(
        message(one("a", "notIn", json!([1, 2, 3, 4, 5, 6]))),
        "subscription exceeds maximum value limit 5 for operator `notIn`."
    );
    let many: Vec<i32> = (0..21).collect();
    assert_eq!(
        message(one("a", "containsAny", json!(many))),
        "subscription exceeds maximum value limit 20 for operator `containsAny`."
    );
    for (operator, value) in [
        ("containsAny", json!([])),
        ("in", json!([])),
        ("between", json!([1])),
        ("between", json!(3)),
        ("beginsWith", json!(3)),
        ("eq", json!({"x": 1})),
        ("gt", json!(true)),
        ("EQ", json!(1)),
        ("size", json!(1)),
        ("eq", json!("x".repeat(257))),
    ] {
        assert_eq!(
            message(one("a", operator, value.clone())),
            format!("subscription filter has invalid filter value for operator `{operator}`."),
            "{operator} {value}"
        );
    }
    let rule = |field: &str| json!({"fieldName": field, "operator": "eq", "value": 1});
    let six: Vec<Json> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|f| rule(f))
        .collect();
    assert_eq!(
        message(filter(json!({"filterGroup": [{"filters": six}]}))),
        "Filters exceed maximum attributes limit 5 for subscription."
    );
    assert_eq!(
        message(filter(
            json!({"filterGroup": [{"filters": [rule("a"), rule("a")]}]})
        )),
        "subscription filter uses same fieldName multiple time"
    );
    let groups: Vec<Json> = (0..11).map(|_| json!({"filters": [rule("a")]})).collect();
    assert_eq!(
        message(filter(json!({"filterGroup": groups}))),
        "Filters combination exceed maximum limit 10 for subscription."
    );
    // An `in` of n values counts as n groups.
    let in_rule = json!({"fieldName": "a", "operator": "in", "value": [1, 2, 3]});
    let groups: Vec<Json> = (0..4).map(|_| json!({"filters": [in_rule]})).collect();
    assert_eq!(
        message(filter(json!({"filterGroup": groups}))),
        "Filters combination exceed maximum limit 10 for subscription."
    );
    assert!(matches!(
        filter(json!({"filterGroup": [{"rules": []}]})),
        Err(FilterError::Malformed(_))
    ));
    assert_eq!(check(Vec::new()), Ok(None), "no rules: no filter");
}

/// AppSync's `toSubscriptionFilter` examples: the Amplify input, then the groups as
/// `field op value` strings.
#[test]
fn amplify_inputs_translate_as_to_subscription_filter_does() {
    let groups = |input: Json| -> Vec<Vec<String>> {
        to_groups(&event(input))
            .unwrap()
            .into_iter()
            .map(|group| {
                group
                    .into_iter()
                    .map(|r| format!("{} {} {}", r.field_name, r.operator, r.value))
                    .collect()
            })
            .collect()
    };
    assert_eq!(
        groups(json!({"priority": {"eq": 8}, "severity": {"gt": 5}})),
        [["priority eq 8", "severity gt 5"]]
    );
    assert_eq!(
        groups(json!({"and": [{"priority": {"eq": 8}},
            {"or": [{"severity": {"gt": 5}}, {"title": {"beginsWith": "urgent"}}]}]})),
        [
            ["priority eq 8", "severity gt 5"],
            ["priority eq 8", "title beginsWith \"urgent\""]
        ]
    );
    assert_eq!(
        groups(json!({"level": {"ge": 5, "le": 10}})),
        [["level ge 5"], ["level le 10"]],
        "several operators on one field are ORed"
    );
    let four = groups(json!({"percentageUp": {"lte": 50, "gte": 20},
        "and": [{"title": {"ne": "Book1"}}, {"downvotes": {"gt": 2000}}],
        "or": [{"author": {"eq": "Admin"}}, {"isPublished": {"eq": false}}]}));
    assert_eq!(four.len(), 4);
    assert!(
        four.iter()
            .all(|g| g.contains(&"title ne \"Book1\"".to_owned())
                && g.contains(&"downvotes gt 2000".to_owned()))
    );
    assert_eq!(
        groups(json!({"name": {"eq": null}, "or": [], "and": [], "x": {}})),
        [Vec::<String>::new()],
        "nothing contributes: no filter"
    );
    assert_eq!(
        check(
            to_groups(&event(
                json!({"and": [{"level": {"ge": 5}}, {"level": {"le": 10}}]})
            ))
            .unwrap()
        )
        .unwrap_err(),
        FilterError::SameField
    );
    assert_eq!(
        to_groups(&event(json!({"not": {"a": {"eq": 1}}}))).unwrap_err(),
        FilterError::Unsupported("not".to_owned())
    );
}

#[test]
fn a_value_every_group_requires_can_index_the_filter() {
    let f = to_groups(&event(
        json!({"userId": {"eq": "u1"}, "or": [{"a": {"gt": 1}}, {"b": {"eq": "x"}}]}),
    ))
    .unwrap();
    let f = check(f).unwrap().unwrap();
    assert_eq!(f.common_eq(), Some(("userId", "u1")));
    let f = filter(json!({"filterGroup": [
        {"filters": [{"fieldName": "a", "operator": "eq", "value": "x"}]},
        {"filters": [{"fieldName": "a", "operator": "eq", "value": "y"}]}
    ]}))
    .unwrap();
    assert_eq!(f.common_eq(), None, "different values in different groups");
    assert_eq!(
        one("n", "eq", json!(1)).unwrap().common_eq(),
        None,
        "numbers compare as numbers"
    );
    assert_eq!(
        one("a.b", "eq", json!("x")).unwrap().common_eq(),
        None,
        "top-level fields only"
    );
}

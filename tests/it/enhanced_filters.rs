//! Enhanced subscription filters over all three protocols: an Amplify model schema
//! (`tests/fixtures/amplify-todo.graphql`) whose `onCreateTodo(filter:)` subscribers receive
//! exactly the creates their filter passes, in order; AppSync's `filterGroup` JSON in an `AWSJSON`
//! argument; every limit refused with AppSync's text; and a publish evaluates the filters of its
//! own topic only.

use crate::support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value as Json, json};
use support::{Proto, TestServer, WsClient};

const TODO_SDL: &str = include_str!("../fixtures/amplify-todo.graphql");

const ON_CREATE: &str = "subscription S($filter: ModelSubscriptionTodoFilterInput, $owner: String) { onCreateTodo(filter: $filter, owner: $owner) { name priority status } }";

const CREATE: &str = "mutation C($input: CreateTodoInput!) { createTodo(input: $input) { id name priority status owner createdAt } }";

async fn serve(sdl: &str) -> TestServer {
    let path = std::env::temp_dir().join(format!("switchboard-{}.graphql", uuid::Uuid::new_v4()));
    std::fs::write(&path, sdl).unwrap();
    TestServer::with_args(&["--schema", path.to_str().unwrap()]).await
}

async fn create(server: &TestServer, name: &str, priority: i64, status: &str, owner: &str) {
    let body = server
        .graphql(
            CREATE,
            json!({"input": {"name": name, "priority": priority, "status": status, "owner": owner}}),
        )
        .await;
    assert_eq!(body["data"]["createTodo"]["name"], name, "{body}");
}

/// The names of the next `count` todos `client` receives, then nothing more.
async fn names(client: &mut WsClient, count: usize) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..count {
        let (_, data) = client.next_data().await;
        names.push(data["onCreateTodo"]["name"].as_str().unwrap().to_owned());
    }
    client.expect_silence(Duration::from_millis(50)).await;
    names
}

#[tokio::test]
async fn amplify_filter_inputs_deliver_exactly_the_matching_creates() {
    let server = serve(TODO_SDL).await;
    let cases = [
        (
            json!({"priority": {"gt": 3}, "status": {"in": ["open", "blocked"]}}),
            vec!["p5-open", "p9-blocked"],
        ),
        (
            json!({"or": [{"priority": {"eq": 1}}, {"status": {"eq": "done"}}]}),
            vec!["p1-open", "p2-done"],
        ),
        (
            json!({"and": [{"name": {"beginsWith": "p"}}, {"priority": {"between": [1, 5]}}]}),
            vec!["p2-done"],
        ),
        (
            json!({"status": {"notIn": ["open"]}, "priority": {"ne": 2}}),
            vec!["p9-blocked"],
        ),
        (
            json!({}),
            vec!["p1-open", "p2-done", "p5-open", "p9-blocked"],
        ),
    ];
    for proto in Proto::EVERY {
        let mut clients = Vec::new();
        for (n, (filter, _)) in cases.iter().enumerate() {
            let mut client = WsClient::ready(&server, proto).await;
            client
                .subscribe(&format!("f{n}"), ON_CREATE, json!({"filter": filter}))
                .await;
            client.barrier().await;
            clients.push(client);
        }
        for (name, priority, status) in [
            ("p1-open", 1, "open"),
            ("p2-done", 2, "done"),
            ("p5-open", 5, "open"),
            ("p9-blocked", 9, "blocked"),
        ] {
            create(&server, name, priority, status, "alice").await;
        }
        for ((filter, expected), client) in cases.iter().zip(&mut clients) {
            let got = names(client, expected.len()).await;
            assert_eq!(got, *expected, "{proto:?} {filter}");
        }
    }
}

#[tokio::test]
async fn the_owner_argument_still_picks_the_topic_and_filters_of_other_topics_are_not_evaluated() {
    let server = serve(TODO_SDL).await;
    let mut alice = WsClient::ready(&server, Proto::AppSync).await;
    let mut bob = WsClient::ready(&server, Proto::AppSync).await;
    let filter = json!({"priority": {"ge": 5}});
    for (client, owner) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        client
            .subscribe("s", ON_CREATE, json!({"filter": filter, "owner": owner}))
            .await;
        client.barrier().await;
    }
    let stats = &server.app.index.stats;
    let before = stats.evaluated.load(Ordering::Relaxed);
    for n in 0..10 {
        create(&server, &format!("a{n}"), n, "open", "alice").await;
    }
    assert_eq!(
        stats.evaluated.load(Ordering::Relaxed) - before,
        10,
        "one evaluation per publish: alice's group only, never bob's"
    );
    assert_eq!(names(&mut alice, 5).await, ["a5", "a6", "a7", "a8", "a9"]);
    bob.expect_silence(Duration::from_millis(50)).await;
}

const JSON_SDL: &str = r#"
type Query { x: Int }
type Thing { id: ID! kind: String tags: [String] size: Int }
type Mutation { put(id: ID!, kind: String, tags: [String], size: Int): Thing }
type Subscription { onPut(filter: AWSJSON): Thing @aws_subscribe(mutations: ["put"]) }
"#;

const ON_PUT: &str = "subscription S($filter: AWSJSON) { onPut(filter: $filter) { id } }";

fn rule(field: &str, operator: &str, value: Json) -> Json {
    json!({"fieldName": field, "operator": operator, "value": value})
}

fn groups(groups: Vec<Vec<Json>>) -> String {
    json!({"filterGroup": groups.into_iter().map(|filters| json!({"filters": filters})).collect::<Vec<_>>()})
        .to_string()
}

#[tokio::test]
async fn filter_group_json_filters_by_contains_any_and_ranges() {
    let server = serve(JSON_SDL).await;
    for proto in Proto::EVERY {
        let mut client = WsClient::ready(&server, proto).await;
        let filter = groups(vec![
            vec![rule("tags", "containsAny", json!(["urgent", "vip"]))],
            vec![
                rule("kind", "eq", json!("USA")),
                rule("size", "lt", json!(3)),
            ],
        ]);
        client
            .subscribe("s", ON_PUT, json!({"filter": filter}))
            .await;
        client.barrier().await;
        for (id, tags, size, country) in [
            ("1", json!(["vip"]), 9, "FR"),
            ("2", json!([]), 1, "USA"),
            ("3", json!(["x"]), 9, "USA"),
            ("4", json!(null), 2, "FR"),
        ] {
            let body = server
                .graphql(
                    "mutation P($id: ID!, $tags: [String], $size: Int, $kind: String) { put(id: $id, tags: $tags, size: $size, kind: $kind) { id } }",
                    json!({"id": id, "tags": tags, "size": size, "kind": country}),
                )
                .await;
            assert_eq!(body["data"]["put"]["id"], id, "{body}");
        }
        for id in ["1", "2"] {
            let (_, data) = client.next_data().await;
            assert_eq!(data["onPut"]["id"], id, "{proto:?}");
        }
        client.expect_silence(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_limit_is_refused_with_appsync_text_over_every_protocol() {
    let server = serve(JSON_SDL).await;
    let todo = serve(TODO_SDL).await;
    let six_fields: Vec<Json> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|f| rule(f, "eq", json!(1)))
        .collect();
    let eleven = (0..11)
        .map(|_| vec![rule("kind", "eq", json!("x"))])
        .collect();
    let cases = [
        (
            groups(vec![vec![rule("size", "in", json!([1, 2, 3, 4, 5, 6]))]]),
            "subscription exceeds maximum value limit 5 for operator `in`.",
        ),
        (
            groups(vec![vec![rule("tags", "containsAny", json!([]))]]),
            "subscription filter has invalid filter value for operator `containsAny`.",
        ),
        (
            groups(vec![six_fields]),
            "Filters exceed maximum attributes limit 5 for subscription.",
        ),
        (
            groups(eleven),
            "Filters combination exceed maximum limit 10 for subscription.",
        ),
        (
            groups(vec![vec![
                rule("size", "gt", json!(1)),
                rule("size", "lt", json!(9)),
            ]]),
            "subscription filter uses same fieldName multiple time",
        ),
    ];
    for proto in Proto::EVERY {
        for (filter, text) in &cases {
            let mut client = WsClient::ready(&server, proto).await;
            client
                .subscribe("s", ON_PUT, json!({"filter": filter}))
                .await;
            let (error, error_type) = client.next_operation_error("s").await;
            assert_eq!(error["message"], *text, "{proto:?} {filter}");
            assert_eq!(error_type.as_deref(), Some("BadRequestException"));
        }
        // Through Amplify's input: a range on one field in an `and` is the same field twice.
        let mut client = WsClient::ready(&todo, proto).await;
        let filter = json!({"and": [{"priority": {"ge": 5}}, {"priority": {"le": 9}}]});
        client
            .subscribe("s", ON_CREATE, json!({"filter": filter}))
            .await;
        let (error, _) = client.next_operation_error("s").await;
        assert_eq!(
            error["message"], "subscription filter uses same fieldName multiple time",
            "{proto:?}"
        );
    }
}

#[tokio::test]
async fn a_filter_that_requires_a_value_is_indexed_by_it() {
    let server = serve(TODO_SDL).await;
    let mut clients = Vec::new();
    for n in 0..50 {
        let mut client = WsClient::ready(&server, Proto::TransportWs).await;
        let filter = json!({"name": {"eq": format!("t{n}")}, "priority": {"gt": 0}});
        client
            .subscribe("s", ON_CREATE, json!({"filter": filter}))
            .await;
        client.barrier().await;
        clients.push(client);
    }
    let stats = &server.app.index.stats;
    let before = stats.evaluated.load(Ordering::Relaxed);
    create(&server, "t7", 3, "open", "alice").await;
    create(&server, "t9", 0, "open", "alice").await;
    assert_eq!(
        stats.evaluated.load(Ordering::Relaxed) - before,
        2,
        "one evaluation per publish, of the one filter that wants that name"
    );
    assert_eq!(names(&mut clients[7], 1).await, ["t7"]);
    for client in &mut clients {
        client.expect_silence(Duration::from_millis(10)).await;
    }
}

/// Each operator over every protocol: four things are put, and a subscriber whose filter is
/// one rule gets exactly the ones that rule passes.
#[tokio::test]
async fn each_operator_over_every_protocol() {
    let server = serve(JSON_SDL).await;
    let things = [
        ("1", "alpha", json!(["red", "blue"]), 1),
        ("2", "beta", json!(["green"]), 5),
        ("3", "alphabet", json!([]), 9),
        ("4", "gamma", json!(["blue"]), 3),
    ];
    let cases: [(&str, &str, Json, &[&str]); 14] = [
        ("kind", "eq", json!("beta"), &["2"]),
        ("kind", "ne", json!("beta"), &["1", "3", "4"]),
        ("size", "le", json!(3), &["1", "4"]),
        ("size", "lt", json!(3), &["1"]),
        ("size", "ge", json!(5), &["2", "3"]),
        ("size", "gt", json!(5), &["3"]),
        ("kind", "contains", json!("pha"), &["1", "3"]),
        ("kind", "notContains", json!("pha"), &["2", "4"]),
        ("kind", "beginsWith", json!("al"), &["1", "3"]),
        ("size", "in", json!([1, 9]), &["1", "3"]),
        ("size", "notIn", json!([1, 9]), &["2", "4"]),
        ("size", "between", json!([1, 9]), &["2", "4"]),
        (
            "tags",
            "containsAny",
            json!(["blue", "green"]),
            &["1", "2", "4"],
        ),
        ("tags", "contains", json!("red"), &["1"]),
    ];
    for proto in Proto::EVERY {
        let mut clients = Vec::new();
        for (field, operator, value, _) in &cases {
            let mut client = WsClient::ready(&server, proto).await;
            let filter = groups(vec![vec![rule(field, operator, value.clone())]]);
            client
                .subscribe("s", ON_PUT, json!({"filter": filter}))
                .await;
            client.barrier().await;
            clients.push(client);
        }
        for (id, kind, tags, size) in &things {
            let body = server
                .graphql(
                    "mutation P($id: ID!, $kind: String, $tags: [String], $size: Int) { put(id: $id, kind: $kind, tags: $tags, size: $size) { id } }",
                    json!({"id": id, "kind": kind, "tags": tags, "size": size}),
                )
                .await;
            assert_eq!(body["data"]["put"]["id"], *id, "{body}");
        }
        for ((field, operator, value, expected), client) in cases.iter().zip(&mut clients) {
            let mut got = Vec::new();
            for _ in 0..expected.len() {
                let (_, data) = client.next_data().await;
                got.push(data["onPut"]["id"].as_str().unwrap().to_owned());
            }
            client.expect_silence(Duration::from_millis(20)).await;
            assert_eq!(got, *expected, "{proto:?}: {field} {operator} {value}");
        }
    }
}

//! The fast path against the executor: for random inputs to the status schema and to the
//! schema Amplify generates for a `Todo` model, a repeat of a document either takes the fast
//! path and answers byte for byte what the executor answers, or is handed to the executor.

use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::api::check::{DETACHED_LIMITS, detached_broker};
use crate::api::{Answer, Api, SchemaLimits};
use crate::caller::auth_mode::AuthMode;
use crate::graphql::schema::access::AccessPolicy;
use crate::graphql::schema::{DEFAULT_SDL, SchemaModel};
use crate::operation::GraphqlRequest;

fn api(sdl: &str) -> Api {
    let model = Arc::new(SchemaModel::parse(sdl).unwrap());
    let policy = AccessPolicy {
        default_mode: AuthMode::ApiKey,
        owner: None,
        admin_group: None,
    };
    let limits = SchemaLimits {
        parsed_documents: 16,
        ..DETACHED_LIMITS
    };
    Api::new(
        model.clone(),
        detached_broker(&model).unwrap(),
        limits,
        policy,
    )
    .unwrap()
}

fn request(query: &str, variables: Json) -> GraphqlRequest {
    serde_json::from_value(json!({"query": query, "variables": variables})).unwrap()
}

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A value for a field: usually of the right kind, one time in five not (absent, null, or of
/// another kind: the executor must then judge).
fn value(random: &mut Random, good: &[Json]) -> Option<Json> {
    match random.below(40) {
        0 => None,
        1 => Some(Json::Null),
        2 => Some(json!(42)),
        3 => Some(json!(4_000_000_000u64)),
        4 => Some(json!(1.5)),
        5 => Some(json!(true)),
        6 => Some(json!(["a"])),
        7 => Some(json!({"x": 1})),
        _ => Some(random.pick(good).clone()),
    }
}

fn object(random: &mut Random, fields: &[(&str, &[Json])]) -> Json {
    let mut out = serde_json::Map::new();
    for (name, good) in fields {
        if let Some(v) = value(random, good) {
            out.insert((*name).to_owned(), v);
        }
    }
    if random.below(10) == 0 {
        out.insert("extra".to_owned(), json!("x"));
    }
    Json::Object(out)
}

/// Runs `query` once through the executor (so it is learnt), then each input both ways.
async fn compare(api: &Api, query: &str, inputs: &[Json], masked: &[&str]) -> usize {
    let warm = api
        .run(&request(query, inputs[0].clone()), None, None)
        .await;
    assert!(matches!(warm, Answer::Executed(_)));
    let mut fast = 0;
    for variables in inputs {
        let request = request(query, variables.clone());
        let document = api.documents.get(query);
        let answer = api.run(&request, document.clone(), None).await;
        let Answer::Fast(body) = answer else {
            continue;
        };
        fast += 1;
        let executed = api.execute(&request, document, None).await;
        let executed = serde_json::to_string(&executed).unwrap();
        assert_eq!(
            mask(&body, masked),
            mask(&executed, masked),
            "variables {variables}"
        );
    }
    fast
}

/// `body` with the values the server generates (timestamps, ids) replaced, byte order kept.
fn mask(body: &str, masked: &[&str]) -> String {
    let mut value: Json = serde_json::from_str(body).unwrap();
    fn walk(value: &mut Json, masked: &[&str]) {
        match value {
            Json::Object(fields) => {
                for (name, field) in fields.iter_mut() {
                    if masked.contains(&name.as_str()) && !field.is_null() {
                        *field = json!("<generated>");
                    } else {
                        walk(field, masked);
                    }
                }
            }
            Json::Array(items) => items.iter_mut().for_each(|v| walk(v, masked)),
            _ => {}
        }
    }
    walk(&mut value, masked);
    let text = serde_json::to_string(&value).unwrap();
    // The raw body must be the same JSON text as its re-serialization (compact, same order).
    assert_eq!(
        serde_json::to_string(&serde_json::from_str::<Json>(body).unwrap()).unwrap(),
        body
    );
    text
}

#[tokio::test]
async fn status_publishes_answer_as_the_executor_does() {
    let api = api(DEFAULT_SDL);
    let mut random = Random(0x5eed_0001);
    let users = [json!("u1"), json!("user-2"), json!(7)];
    let statuses = [
        json!("validating"),
        json!("complete"),
        json!("é \"quoted\" \\ /"),
    ];
    let inputs: Vec<Json> = (0..400)
        .map(|_| {
            json!({"input": object(&mut random, &[
                ("jobId", &[json!("j1"), json!(12)]),
                ("userId", &users),
                ("status", &statuses),
                ("agentName", &[json!("geo"), json!("")]),
                ("message", &[json!("m"), json!("")]),
            ])})
        })
        .collect();
    let queries = [
        "mutation P($input: StatusInput!) { publishStatus(input: $input) { jobId userId status message timestamp } }",
        "mutation P($input: StatusInput!) { s: publishStatus(input: $input) { __typename status u: userId } }",
        "mutation ($input: StatusInput!) { publishStatus(input: $input) { userId userId } }",
    ];
    for query in queries {
        let fast = compare(&api, query, &inputs, &["timestamp"]).await;
        assert!(
            fast > 50,
            "{fast} of {} took the fast path: {query}",
            inputs.len()
        );
    }
}

#[tokio::test]
async fn amplify_todo_mutations_answer_as_the_executor_does() {
    let sdl = include_str!("../../../tests/fixtures/amplify-todo.graphql");
    let api = api(sdl);
    let mut random = Random(0x5eed_0002);
    let inputs: Vec<Json> = (0..400)
        .map(|_| {
            json!({"input": object(&mut random, &[
                ("id", &[json!("t1"), json!(5)]),
                ("name", &[json!("milk"), json!("")]),
                ("priority", &[json!(1), json!(-3)]),
                ("status", &[json!("open")]),
                ("owner", &[json!("u1")]),
            ])})
        })
        .collect();
    let query = "mutation C($input: CreateTodoInput!) { createTodo(input: $input) { id name priority status owner createdAt updatedAt __typename } }";
    let fast = compare(&api, query, &inputs, &["id", "createdAt", "updatedAt"]).await;
    assert!(fast > 30, "{fast} of {} took the fast path", inputs.len());
}

#[tokio::test]
async fn what_the_fast_path_leaves_to_the_executor() {
    let api = api(DEFAULT_SDL);
    let good = json!({"input": {"jobId": "j", "userId": "u", "status": "s"}});
    let cases = [
        // Literal arguments, directives, fragments: never fast.
        "mutation { publishStatus(input: {jobId: \"j\", userId: \"u\", status: \"s\"}) { status } }",
        "mutation P($input: StatusInput!) { publishStatus(input: $input) { status @include(if: true) } }",
        "mutation P($input: StatusInput!) { publishStatus(input: $input) { ...F } } fragment F on Status { status }",
        "mutation P($input: StatusInput!) { a: publishStatus(input: $input) { status } b: publishStatus(input: $input) { status } }",
    ];
    for query in cases {
        for _ in 0..2 {
            let request = request(query, good.clone());
            let answer = api.run(&request, api.documents.get(query), None).await;
            assert!(matches!(answer, Answer::Executed(_)), "{query}");
        }
    }
    // A document the executor refused is not learnt.
    let query = "mutation P($input: StatusInput!) { publishStatus(input: $input) { status } }";
    let bad = json!({"input": {"jobId": "j"}});
    for variables in [bad, good.clone()] {
        let answer = api
            .run(&request(query, variables), api.documents.get(query), None)
            .await;
        assert!(matches!(answer, Answer::Executed(_)));
    }
    let answer = api
        .run(&request(query, good), api.documents.get(query), None)
        .await;
    assert!(matches!(answer, Answer::Fast(_)), "learnt after a success");
}

//! `--schema` serves another AppSync pub/sub schema end to end with no code change; AWS scalars
//! are validated; a non-null result field a mutation never fills is a warning, and GraphQL's
//! non-null error for a caller that selects it.

use crate::support;

use std::path::PathBuf;

use serde_json::json;
use support::{Proto, TestServer, WsClient};

const CHANNEL_SDL: &str = r#"
type Channel { name: String! data: AWSJSON! }
type Query { getChannel: Channel }
type Mutation { publish(name: String!, data: AWSJSON!): Channel }
type Subscription { subscribe(name: String!): Channel @aws_subscribe(mutations: ["publish"]) }
"#;

const EVENTS_SDL: &str = r#"
type Reading { id: ID! sensor: String! at: AWSDateTime! seen: AWSTimestamp! }
type Query { noop: Int }
type Mutation { record(sensor: String!, at: AWSDateTime!): Reading }
type Subscription { onReading(sensor: String): Reading @aws_subscribe(mutations: ["record"]) }
"#;

fn schema_file(sdl: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("switchboard-{}.graphql", uuid::Uuid::new_v4()));
    std::fs::write(&path, sdl).unwrap();
    path
}

async fn serve(sdl: &str) -> TestServer {
    let path = schema_file(sdl);
    TestServer::with_args(&["--schema", path.to_str().unwrap()]).await
}

#[tokio::test]
async fn the_channel_schema_works_end_to_end() {
    let server = serve(CHANNEL_SDL).await;
    for proto in Proto::EVERY {
        let mut news = WsClient::ready(&server, proto).await;
        news.subscribe(
            "n",
            "subscription { subscribe(name: \"news\") { name data } }",
            json!({}),
        )
        .await;
        news.barrier().await;
        let publish = "mutation P($name: String!, $data: AWSJSON!) { publish(name: $name, data: $data) { name data } }";
        for (name, data) in [
            ("sports", r#"{"score":1}"#),
            ("news", r#"{"headline":"hi"}"#),
        ] {
            let body = server
                .graphql(publish, json!({"name": name, "data": data}))
                .await;
            assert_eq!(
                body["data"]["publish"],
                json!({"name": name, "data": data}),
                "{body}"
            );
        }
        let (id, data) = news.next_data().await;
        assert_eq!(id, "n");
        assert_eq!(
            data,
            json!({"subscribe": {"name": "news", "data": r#"{"headline":"hi"}"#}})
        );
        news.expect_silence(std::time::Duration::from_millis(100))
            .await;

        let bad = server
            .graphql(publish, json!({"name": "news", "data": "{not json"}))
            .await;
        assert!(
            bad["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("AWSJSON"),
            "{bad}"
        );
        assert_eq!(
            server.graphql("{ getChannel { name } }", json!({})).await["data"]["getChannel"],
            json!(null)
        );
    }
}

#[tokio::test]
async fn generated_fields_and_optional_filters() {
    let path = schema_file(EVENTS_SDL);
    let server =
        TestServer::with_args(&["--schema", path.to_str().unwrap(), "--user-arg", "sensor"]).await;
    let mut all = WsClient::ready(&server, Proto::TransportWs).await;
    all.subscribe(
        "all",
        "subscription { onReading { id sensor at seen } }",
        json!({}),
    )
    .await;
    all.subscribe(
        "t1",
        "subscription S($s: String) { onReading(sensor: $s) { sensor } }",
        json!({"s": "t1"}),
    )
    .await;
    // A declared but unsupplied variable is an omitted argument: no filter.
    all.subscribe(
        "omitted",
        "subscription S($s: String) { onReading(sensor: $s) { sensor } }",
        json!({}),
    )
    .await;
    all.barrier().await;
    // `--user-arg sensor` makes the sensor the connection's user in its record.
    assert_eq!(server.app.store.by_user("t1").await.unwrap().len(), 1);

    let body = server
        .graphql(
            "mutation { record(sensor: \"t2\", at: \"2026-11-24T10:00:00.5+01:00\") { id sensor at seen } }",
            json!({}),
        )
        .await;
    let reading = &body["data"]["record"];
    assert!(
        uuid::Uuid::parse_str(reading["id"].as_str().unwrap()).is_ok(),
        "{body}"
    );
    assert!(reading["seen"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(reading["at"], "2026-11-24T10:00:00.5+01:00");

    let mut ids = Vec::new();
    for _ in 0..2 {
        let (id, data) = all.next_data().await;
        if id == "all" {
            assert_eq!(&data["onReading"], reading);
        }
        ids.push(id);
    }
    ids.sort();
    assert_eq!(ids, ["all", "omitted"], "t1 filters for another sensor");
}

#[tokio::test]
async fn a_bad_aws_datetime_argument_is_a_validation_error_naming_the_field() {
    let server = serve(EVENTS_SDL).await;
    let body = server
        .graphql(
            "mutation { record(sensor: \"t\", at: \"yesterday\") { id } }",
            json!({}),
        )
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("\"at\"") && message.contains("AWSDateTime"),
        "{body}"
    );
    assert_eq!(body["data"], json!(null));

    let body = server
        .graphql(
            "mutation R($at: AWSDateTime!) { record(sensor: \"t\", at: $at) { id } }",
            json!({"at": "2026-11-24T10:00:00"}),
        )
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("at") && message.contains("AWSDateTime"),
        "{body}"
    );
}

#[tokio::test]
async fn a_mutation_that_never_fills_a_non_null_field_is_served_with_a_warning() {
    // As Amplify's `deleteTodo`, whose result AppSync reads from the table.
    let sdl = r#"
        type Query { x: Int }
        type Job { id: ID! owner: String! }
        type Mutation { deleteJob(id: ID!): Job }
        type Subscription { onDeleteJob: Job @aws_subscribe(mutations: ["deleteJob"]) }
        "#;
    let model = switchboard::graphql::schema::SchemaModel::parse(sdl).unwrap();
    let warnings = model.warnings();
    assert!(
        warnings.len() == 1
            && warnings[0].contains("Job.owner")
            && warnings[0].contains("Mutation.deleteJob"),
        "{warnings:?}"
    );
    let server = serve(sdl).await;
    let mut client = WsClient::ready(&server, Proto::TransportWs).await;
    client
        .subscribe("d", "subscription { onDeleteJob { id } }", json!({}))
        .await;
    client.barrier().await;
    let body = server
        .graphql("mutation { deleteJob(id: \"7\") { id } }", json!({}))
        .await;
    assert_eq!(body["data"]["deleteJob"]["id"], "7", "{body}");
    let (_, data) = client.next_data().await;
    assert_eq!(data, json!({"onDeleteJob": {"id": "7"}}));
    // Selecting what it never supplies is GraphQL's non-null error, not a crash.
    let body = server
        .graphql("mutation { deleteJob(id: \"8\") { id owner } }", json!({}))
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message
            .starts_with("Cannot return null for non-nullable type: 'String' within parent 'Job'")
            && message.contains("`owner`"),
        "{body}"
    );
}

#[tokio::test]
async fn interfaces_and_unions_are_served() {
    let server = serve(
        r#"
        interface Node { id: ID! }
        interface Named { name: String }
        type Todo implements Node & Named { id: ID! name: String done: Boolean }
        type Note implements Node { id: ID! text: String }
        union SearchResult = Todo | Note
        type Query { search(text: String): [SearchResult] node(id: ID!): Node }
        type Mutation { addTodo(name: String, done: Boolean): Todo }
        type Subscription { onTodo: Todo @aws_subscribe(mutations: ["addTodo"]) }
        "#,
    )
    .await;
    for proto in Proto::EVERY {
        let mut client = WsClient::ready(&server, proto).await;
        client
            .subscribe(
                "t",
                "subscription { onTodo { ... on Node { id } ...N done } } fragment N on Named { name }",
                json!({}),
            )
            .await;
        client.barrier().await;
        let body = server
            .graphql(
                "mutation { addTodo(name: \"milk\", done: false) { ... on Node { id } name } }",
                json!({}),
            )
            .await;
        let id = body["data"]["addTodo"]["id"].as_str().unwrap().to_owned();
        assert_eq!(body["data"]["addTodo"]["name"], "milk", "{body}");
        let (_, data) = client.next_data().await;
        assert_eq!(
            data,
            json!({"onTodo": {"id": id, "name": "milk", "done": false}})
        );
    }
    // Fields of an interface or union type have no resolver: null, as on AppSync.
    let body = server
        .graphql(
            "{ search(text: \"x\") { ... on Todo { id } ... on Note { text } } node(id: \"1\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(body, json!({"data": {"search": null, "node": null}}));
}

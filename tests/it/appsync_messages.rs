//! AppSync real-time messages, as transcripts: `start` with its JSON-string `data`, `start_ack`,
//! `data`, `stop` -> `complete`, per-subscription credentials, and every error in AppSync's
//! shape (`errors` an array of `{errorType, message}`, with the id wherever AppSync sends one).

use crate::support;

use serde_json::{Value as Json, json};
use support::{KEY, Proto, STATUS_QUERY, TestServer, WsClient, assert_status};

async fn appsync(server: &TestServer) -> WsClient {
    WsClient::ready(server, Proto::AppSync).await
}

fn request(query: &str, variables: Option<Json>) -> String {
    let mut request = json!({ "query": query });
    if let Some(variables) = variables {
        request["variables"] = variables;
    }
    request.to_string()
}

/// The next message is an `error` for `id`; returns its first error object.
async fn expect_error(client: &mut WsClient, id: &str) -> Json {
    let error = client.next_json().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], id, "{error}");
    let errors = &error["payload"]["errors"];
    assert!(errors.is_array(), "errors is an array: {error}");
    let first = errors[0].clone();
    assert!(first["errorType"].is_string(), "{error}");
    assert!(
        first["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    first
}

async fn expect_start_ack(client: &mut WsClient, id: &str) {
    let ack = client.next_json().await;
    assert_eq!(ack, json!({"type": "start_ack", "id": id}));
}

#[tokio::test]
async fn variables_may_be_absent_and_operation_name_and_extensions_present() {
    let server = TestServer::start().await;
    let mut client = appsync(&server).await;
    let data = json!({
        "query": "subscription OnStatus { onStatusUpdate(userId: \"inline\") { userId status timestamp } }",
        "operationName": "OnStatus",
        "extensions": {"persistedQuery": null},
    })
    .to_string();
    client
        .start(
            "1",
            &data,
            Some(json!({"host": "localhost", "x-api-key": KEY})),
        )
        .await;
    expect_start_ack(&mut client, "1").await;
    server.publish("inline", "j", "synthesizing").await;
    let (id, payload) = client.next_data().await;
    assert_eq!(id, "1");
    assert_eq!(payload["onStatusUpdate"]["status"], "synthesizing");
}

#[tokio::test]
async fn stop_is_answered_with_complete_and_then_nothing_for_that_id() {
    let server = TestServer::start().await;
    let mut client = appsync(&server).await;
    client.subscribe_live("s", "u").await;
    client.stop("s").await;
    assert_eq!(
        client.next_json().await,
        json!({"type": "complete", "id": "s"})
    );
    server.publish("u", "j", "complete").await;
    client
        .expect_silence(std::time::Duration::from_millis(200))
        .await;
}

#[tokio::test]
async fn the_101st_subscription_is_refused() {
    let server = TestServer::start().await;
    let mut client = appsync(&server).await;
    for n in 0..100 {
        client.subscribe_live(&format!("s{n}"), "u").await;
    }
    client.subscribe_user("s100", "u").await;
    let error = expect_error(&mut client, "s100").await;
    assert_eq!(error["errorType"], "MaxSubscriptionsReachedError");
    assert_eq!(error["message"], "Max number of 100 subscriptions reached");
    // The hundred still work.
    server.publish("u", "j", "validating").await;
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..100 {
        ids.push(client.next_data().await.0);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100);
}

#[tokio::test]
async fn an_unknown_message_type_gets_appsyncs_id_less_error_and_the_connection_stays() {
    let server = TestServer::start().await;
    let mut client = appsync(&server).await;
    // graphql-transport-ws's `subscribe`, sent to AppSync by mistake.
    client
        .send(json!({"id": "x", "type": "subscribe", "payload": {"query": STATUS_QUERY}}))
        .await;
    let error = client.next_json().await;
    assert!(error.get("id").is_none(), "{error}");
    assert_eq!(
        error["payload"]["errors"][0],
        json!({"errorType": "UnsupportedOperation", "message": "unknown not supported through the realtime channel"})
    );
    client.send_text("not json").await;
    assert_eq!(client.next_json().await["type"], "error");
    receives(&server, &mut client, "still").await;
}

async fn receives(server: &TestServer, client: &mut WsClient, user: &str) {
    client.subscribe_live("ok", user).await;
    server.publish(user, "j", "validating").await;
    assert_status(&client.next_data().await.1, user, "validating");
}

#[tokio::test]
async fn queries_and_mutations_are_unsupported_operations() {
    let server = TestServer::start().await;
    let mut client = appsync(&server).await;
    let auth = Some(json!({"x-api-key": KEY}));
    for (id, kind, query) in [
        (
            "q",
            "query",
            "query { statusHistory(userId: \"never\") { status } }",
        ),
        (
            "m",
            "mutation",
            "mutation { publishStatus(input: {jobId: \"j\", userId: \"never\", status: \"x\"}) { status } }",
        ),
    ] {
        client.start(id, &request(query, None), auth.clone()).await;
        let error = expect_error(&mut client, id).await;
        assert_eq!(error["errorType"], "UnsupportedOperation");
        assert_eq!(
            error["message"],
            format!("{kind} not supported through the realtime channel")
        );
    }
    let history = server
        .graphql("{ statusHistory(userId: \"never\") { status } }", json!({}))
        .await;
    assert_eq!(
        history["data"]["statusHistory"],
        json!([]),
        "the mutation did not run"
    );
}

#[tokio::test]
async fn bad_subscriptions_get_appsync_errors_with_their_id() {
    let server = TestServer::start().await;
    let mut client = appsync(&server).await;
    let auth = Some(json!({"x-api-key": KEY}));

    let two_roots = "subscription { a: onStatusUpdate(userId: \"u\") { status } b: onStatusUpdate(userId: \"v\") { status } }";
    client
        .start("two", &request(two_roots, None), auth.clone())
        .await;
    let error = expect_error(&mut client, "two").await;
    assert_eq!(error["errorType"], "DuplicatedOperationError");
    assert_eq!(error["message"], "Duplicated operation with id two");

    client
        .start(
            "field",
            &request("subscription { onNothing { status } }", None),
            auth.clone(),
        )
        .await;
    let error = expect_error(&mut client, "field").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Validation error of type FieldUndefined: Field 'onNothing' in type 'Subscription' is undefined"),
        "{error}"
    );

    client
        .start(
            "arg",
            &request("subscription { onStatusUpdate { status } }", None),
            auth.clone(),
        )
        .await;
    let error = expect_error(&mut client, "arg").await;
    assert!(
        error["message"].as_str().unwrap().starts_with(
            "Validation error of type MissingFieldArgument: Missing field argument userId"
        ),
        "{error}"
    );

    client
        .start("syntax", &request("subscription {", None), auth.clone())
        .await;
    assert_eq!(
        expect_error(&mut client, "syntax").await["errorType"],
        "BadRequestException"
    );

    // `data` must hold a GraphQL request encoded as JSON.
    client.start("data", "{not json", auth.clone()).await;
    assert_eq!(
        expect_error(&mut client, "data").await["errorType"],
        "BadRequestException"
    );

    receives(&server, &mut client, "after-errors").await;
}

#[tokio::test]
async fn each_start_is_authorized_with_its_own_credentials() {
    let server = TestServer::start().await;
    let mut client = appsync(&server).await;
    let data = request(STATUS_QUERY, Some(json!({"userId": "u"})));
    client
        .start(
            "bad",
            &data,
            Some(json!({"host": "localhost", "x-api-key": "da2-wrong"})),
        )
        .await;
    let error = expect_error(&mut client, "bad").await;
    assert_eq!(error["errorType"], "UnauthorizedException");
    assert_eq!(
        error["message"],
        "You are not authorized to make this call."
    );

    client
        .start("none", &data, Some(json!({"host": "localhost"})))
        .await;
    let error = expect_error(&mut client, "none").await;
    assert_eq!(error["message"], "Valid authorization header not provided.");

    // Without `extensions.authorization` the connection's credentials stand.
    client.start("conn", &data, None).await;
    expect_start_ack(&mut client, "conn").await;
    // Header names in any case.
    client
        .start("case", &data, Some(json!({"X-API-KEY": KEY})))
        .await;
    expect_start_ack(&mut client, "case").await;
}

#[tokio::test]
async fn a_start_before_connection_init_is_an_error_with_its_id() {
    let server = TestServer::start().await;
    let mut client = WsClient::connect(&server, Proto::AppSync).await;
    client.subscribe_user("early", "u").await;
    let error = expect_error(&mut client, "early").await;
    assert_eq!(error["errorType"], "BadRequestException");
    // A repeated connection_init is acknowledged again.
    for _ in 0..2 {
        client.send(json!({"type": "connection_init"})).await;
        assert_eq!(client.next_json().await["type"], "connection_ack");
    }
    receives(&server, &mut client, "late").await;
}

/// A payload over the limit is not sent: its subscriber gets an error and the subscription ends;
/// other subscribers and smaller statuses are unaffected.
#[tokio::test]
async fn an_outgoing_payload_over_the_limit_becomes_an_error() {
    let server = TestServer::with_args(&["--max-payload-bytes", "2000"]).await;
    for proto in Proto::EVERY {
        let mut client = WsClient::ready(&server, proto).await;
        let user = format!("big-{proto:?}");
        client.subscribe_live("s", &user).await;
        server
            .publish_input(json!({"userId": user, "jobId": "j", "status": "synthesizing", "message": "x".repeat(3000)}))
            .await;
        let (first, error_type) = client.next_operation_error("s").await;
        assert_eq!(
            error_type.as_deref(),
            Some("PayloadTooLargeError"),
            "{first}"
        );
        // The subscription has ended: a small status for the same user is not delivered.
        server.publish(&user, "j", "complete").await;
        client
            .expect_silence(std::time::Duration::from_millis(150))
            .await;
        client.subscribe_live("t", &user).await;
        server.publish(&user, "j", "complete").await;
        assert_status(&client.next_data().await.1, &user, "complete");
    }
}

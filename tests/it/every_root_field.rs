//! Every root field passes the one access check, whichever door it comes through: queries and
//! mutations over `POST /graphql`, subscriptions over all three WebSocket protocols.
//!
//! The fields are enumerated from the schema itself (the default one and a custom one with
//! history and non-history queries, flat and input-object mutations), and the test fails if a
//! root field has no expectation below, so a new field or query kind cannot slip past unchecked.
//! For each field: an API-key caller is refused unless a directive admits API keys; where the
//! owner rule binds the field (`userId` argument, or a mutation whose result has `userId`), a
//! token for `u1` naming `u2` is refused, naming `u1` is not, and an admin may name anyone.

use crate::support;

use async_graphql::parser::types::{BaseType, Type};
use serde_json::{Map, Value as Json, json};
use support::auth::{self, claims, hs256};
use support::{KEY, Proto, TestServer, WsClient};
use switchboard::graphql::schema::model::{SchemaModel, TypeDef, base_name};

const CUSTOM_SDL: &str = r#"
schema { query: Q mutation: M subscription: S }
type Q {
  jobsOf(userId: ID!, jobId: ID, limit: Int): [Job!]!
  profile(userId: ID!): String
  serverTime: AWSDateTime @aws_api_key
  motto: String
}
type M {
  recordJob(userId: ID!, jobId: ID!, state: JobState!, at: AWSDateTime): Job
  announce(text: String!): Notice @aws_api_key
}
type S {
  onJob(userId: ID!, jobId: ID): Job @aws_subscribe(mutations: ["recordJob"]) @aws_oidc @aws_api_key
  onNotice: Notice @aws_subscribe(mutations: ["announce"]) @aws_api_key
}
enum JobState { RUNNING DONE }
type Job @aws_oidc @aws_api_key { userId: ID! jobId: ID! state: JobState! at: AWSDateTime }
type Notice @aws_api_key @aws_oidc { text: String! }
"#;

/// What the access check must do with one root field.
struct Expect {
    field: &'static str,
    /// The owner rule binds it.
    owned: bool,
    /// A directive admits API keys (the default mode here is OIDC).
    admits_api_key: bool,
    /// A directive admits OIDC tokens (or none does: OIDC is the default mode).
    admits_token: bool,
}

const DEFAULT_EXPECT: &[Expect] = &[
    Expect {
        field: "statusHistory",
        owned: true,
        admits_api_key: false,
        admits_token: true,
    },
    Expect {
        field: "publishStatus",
        owned: true,
        admits_api_key: false,
        admits_token: true,
    },
    Expect {
        field: "onStatusUpdate",
        owned: true,
        admits_api_key: false,
        admits_token: true,
    },
];

const CUSTOM_EXPECT: &[Expect] = &[
    Expect {
        field: "jobsOf",
        owned: true,
        admits_api_key: false,
        admits_token: true,
    },
    Expect {
        field: "profile",
        owned: true,
        admits_api_key: false,
        admits_token: true,
    },
    Expect {
        field: "serverTime",
        owned: false,
        admits_api_key: true,
        admits_token: false,
    },
    Expect {
        field: "motto",
        owned: false,
        admits_api_key: false,
        admits_token: true,
    },
    Expect {
        field: "recordJob",
        owned: true,
        admits_api_key: false,
        admits_token: true,
    },
    Expect {
        field: "announce",
        owned: false,
        admits_api_key: true,
        admits_token: false,
    },
    Expect {
        field: "onJob",
        owned: true,
        admits_api_key: true,
        admits_token: true,
    },
    Expect {
        field: "onNotice",
        owned: false,
        admits_api_key: true,
        admits_token: false,
    },
];

/// One root field as an operation: its kind, text and variables, with every `userId` (at any
/// depth of the arguments) set to `owner`.
struct Operation {
    kind: &'static str,
    root: String,
    text: String,
    variables: Json,
}

fn sample(model: &SchemaModel, ty: &Type, name: &str, owner: &str) -> Json {
    if name == "userId" {
        return json!(owner);
    }
    let named = match &ty.base {
        BaseType::List(inner) => return json!([sample(model, inner, name, owner)]),
        BaseType::Named(named) => named.as_str(),
    };
    match named {
        "Int" | "AWSTimestamp" => json!(1),
        "Float" => json!(1.5),
        "Boolean" => json!(true),
        "AWSDateTime" => json!("2026-01-01T00:00:00.000Z"),
        "AWSJSON" => json!("{}"),
        _ => match model.types.get(named) {
            Some(TypeDef::Input(fields)) => {
                let object: Map<String, Json> = fields
                    .iter()
                    .map(|f| (f.name.clone(), sample(model, &f.ty, &f.name, owner)))
                    .collect();
                Json::Object(object)
            }
            Some(TypeDef::Enum(values)) => json!(values[0]),
            _ => json!("x"),
        },
    }
}

/// The scalar fields of an object type, as a selection set; nothing for a scalar.
fn selection(model: &SchemaModel, type_name: &str) -> String {
    match model.object(type_name) {
        Some(object) => {
            let scalars: Vec<&str> = object
                .fields
                .iter()
                .filter(|f| model.object(base_name(&f.ty)).is_none())
                .map(|f| f.name.as_str())
                .collect();
            format!("{{ {} }}", scalars.join(" "))
        }
        None => String::new(),
    }
}

/// Every root field of the schema as an operation naming `owner`.
fn operations(model: &SchemaModel, owner: &str) -> Vec<(String, Operation)> {
    let roots = [
        ("query", Some(model.roots.query.clone())),
        ("mutation", model.roots.mutation.clone()),
        ("subscription", model.roots.subscription.clone()),
    ];
    let mut out = Vec::new();
    for (kind, root) in roots {
        let Some(root) = root else { continue };
        for field in &model.object(&root).unwrap().fields {
            let declared: Vec<String> = field
                .args
                .iter()
                .map(|a| format!("${}: {}", a.name, a.ty))
                .collect();
            let passed: Vec<String> = field
                .args
                .iter()
                .map(|a| format!("{0}: ${0}", a.name))
                .collect();
            let variables: Map<String, Json> = field
                .args
                .iter()
                .map(|a| (a.name.clone(), sample(model, &a.ty, &a.name, owner)))
                .collect();
            let (declared, passed) = if declared.is_empty() {
                (String::new(), String::new())
            } else {
                (
                    format!("({})", declared.join(", ")),
                    format!("({})", passed.join(", ")),
                )
            };
            let text = format!(
                "{kind} Op{declared} {{ {}{passed} {} }}",
                field.name,
                selection(model, base_name(&field.ty))
            );
            let operation = Operation {
                kind,
                root: root.clone(),
                text,
                variables: Json::Object(variables),
            };
            out.push((field.name.clone(), operation));
        }
    }
    out
}

/// The outcome of one attempt: refused by the access check (with its message), or not.
#[derive(Debug)]
enum Outcome {
    Refused(String),
    Admitted,
}

async fn attempt(server: &TestServer, credentials: &Json, operation: &Operation) -> Outcome {
    if operation.kind != "subscription" {
        let body = json!({"query": operation.text, "variables": operation.variables});
        let (status, body) = auth::post_as(server, credentials, &body).await;
        assert_eq!(status, 200, "{body}");
        let refusal = body["errors"].as_array().and_then(|errors| {
            errors
                .iter()
                .find(|e| e["errorType"] == "Unauthorized")
                .map(|e| e["message"].as_str().unwrap().to_owned())
        });
        return match refusal {
            Some(message) => Outcome::Refused(message),
            None => {
                assert!(body.get("errors").is_none(), "{}: {body}", operation.text);
                Outcome::Admitted
            }
        };
    }
    // A subscription: the outcome must agree over every protocol.
    let mut outcomes = Vec::new();
    for proto in Proto::EVERY {
        let mut client = auth::connect_as(server, proto, credentials).await;
        auth::expect_accepted(&mut client).await;
        match proto {
            Proto::AppSync => {
                let data = json!({"query": operation.text, "variables": operation.variables});
                client
                    .start("s", &data.to_string(), Some(credentials.clone()))
                    .await;
                let answer = client.next_json().await;
                outcomes.push(match answer["type"].as_str() {
                    Some("start_ack") => Outcome::Admitted,
                    _ => {
                        let error = &answer["payload"]["errors"][0];
                        assert_eq!(error["errorType"], "Unauthorized", "{answer}");
                        Outcome::Refused(error["message"].as_str().unwrap().to_owned())
                    }
                });
            }
            _ => {
                client
                    .subscribe("s", &operation.text, operation.variables.clone())
                    .await;
                outcomes.push(subscription_outcome(&mut client).await);
            }
        }
    }
    let first = format!("{:?}", outcomes[0]);
    assert!(
        outcomes.iter().all(|o| format!("{o:?}") == first),
        "{}: {outcomes:?}",
        operation.text
    );
    outcomes.remove(0)
}

/// graphql-transport-ws and the legacy protocol acknowledge nothing: a refusal is an `error`
/// for the subscription's id before the barrier's answer (a `pong`, or the legacy protocol's
/// id-less error for an unknown message); admission is the barrier's answer alone.
async fn subscription_outcome(client: &mut WsClient) -> Outcome {
    let barrier = match client.proto {
        Proto::TransportWs => json!({"type": "ping"}),
        _ => json!({"type": "barrier"}),
    };
    client.send(barrier).await;
    let answer = client.next_json().await;
    if answer["type"] == "error" && answer["id"] == "s" {
        let first = &answer["payload"][0];
        assert_eq!(first["extensions"]["errorType"], "Unauthorized", "{answer}");
        return Outcome::Refused(first["message"].as_str().unwrap().to_owned());
    }
    Outcome::Admitted
}

fn token(sub: &str, groups: &[&str]) -> Json {
    json!({"Authorization": hs256(&claims(sub, json!({"cognito:groups": groups})))})
}

async fn every_root_field_is_checked(sdl: Option<&str>, expected: &[Expect]) {
    let path = std::env::temp_dir().join(format!(
        "switchboard-every-{}.graphql",
        uuid::Uuid::new_v4()
    ));
    let mut args = [&auth::OIDC_ARGS[..], &auth::OWNER_ARGS[..]].concat();
    if let Some(sdl) = sdl {
        std::fs::write(&path, sdl).unwrap();
        args.extend(["--schema", path.to_str().unwrap()]);
    }
    let server = TestServer::with_args(&args).await;
    let model =
        SchemaModel::parse(sdl.unwrap_or(switchboard::graphql::schema::DEFAULT_SDL)).unwrap();
    let theirs = operations(&model, "u2");
    let own = operations(&model, "u1");
    let fields: Vec<&str> = theirs.iter().map(|(f, _)| f.as_str()).collect();
    let listed: Vec<&str> = expected.iter().map(|e| e.field).collect();
    assert_eq!(
        fields, listed,
        "every root field needs an expectation in this test"
    );
    let key = json!({"x-api-key": KEY});
    let (u1, admin) = (token("u1", &[]), token("boss", &["admins"]));
    for (((field, other), (_, mine)), expect) in theirs.iter().zip(&own).zip(expected) {
        let mut refusals = 0;
        let by_key = attempt(&server, &key, other).await;
        if expect.admits_api_key {
            assert!(matches!(by_key, Outcome::Admitted), "{field}: {by_key:?}");
        } else {
            let Outcome::Refused(message) = by_key else {
                panic!("{field}: an API key is not admitted by the directives")
            };
            assert_eq!(
                message,
                format!("Not Authorized to access {field} on type {}", other.root)
            );
            refusals += 1;
        }
        let by_u1 = attempt(&server, &u1, other).await;
        if !expect.admits_token {
            assert!(matches!(by_u1, Outcome::Refused(_)), "{field}: {by_u1:?}");
            refusals += 1;
        } else if expect.owned {
            let Outcome::Refused(message) = by_u1 else {
                panic!("{field}: u1 may not name u2")
            };
            assert!(
                message.ends_with("userId must be the caller's own sub"),
                "{message}"
            );
            refusals += 1;
            let by_owner = attempt(&server, &u1, mine).await;
            assert!(
                matches!(by_owner, Outcome::Admitted),
                "{field}: {by_owner:?}"
            );
            let by_admin = attempt(&server, &admin, other).await;
            assert!(
                matches!(by_admin, Outcome::Admitted),
                "{field}: {by_admin:?}"
            );
        } else {
            assert!(matches!(by_u1, Outcome::Admitted), "{field}: {by_u1:?}");
        }
        assert!(refusals > 0, "{field}: no check refused anything");
    }
    std::fs::remove_file(path).ok();
}

#[tokio::test]
async fn every_root_field_of_the_default_schema_is_checked() {
    every_root_field_is_checked(None, DEFAULT_EXPECT).await;
}

#[tokio::test]
async fn every_root_field_of_a_custom_schema_is_checked() {
    every_root_field_is_checked(Some(CUSTOM_SDL), CUSTOM_EXPECT).await;
}

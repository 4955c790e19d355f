//! The access check against small schemas: directives, groups, and the owner rule on every
//! kind of root field.

use super::*;
use crate::operation::ErrorType;
use serde_json::json;

const SDL: &str = r#"
    type Query { open: String @aws_api_key @aws_oidc  plain: String }
    type Mutation { publish(v: String!): Thing @aws_iam }
    type Subscription {
      admins: Thing @aws_cognito_user_pools(cognito_groups: ["admins"])
      anyone: Thing @aws_cognito_user_pools @aws_api_key
    }
    type Thing @aws_iam @aws_cognito_user_pools @aws_api_key { v: String! }
"#;

fn caller(mode: AuthMode, groups: &[&str]) -> Identity {
    let mut identity = Identity::new(mode, "t");
    identity.groups = groups.iter().map(|g| (*g).to_owned()).collect();
    identity
}

fn run(query: &str, who: &Identity) -> Result<(), GraphqlError> {
    let policy = AccessPolicy {
        default_mode: AuthMode::Oidc,
        owner: None,
        admin_group: None,
    };
    run_with(SDL, query, json!({}), who, &policy)
}

fn run_with(
    sdl: &str,
    query: &str,
    variables: Json,
    who: &Identity,
    policy: &AccessPolicy,
) -> Result<(), GraphqlError> {
    let model = SchemaModel::parse(sdl).unwrap();
    let document = async_graphql::parser::parse_query(query).unwrap();
    let (_, operation) = document.operations.iter().next().unwrap();
    check(
        &model,
        &document,
        &operation.node,
        Some(&variables),
        who,
        policy,
    )
}

#[test]
fn directives_decide_and_no_directive_means_the_default_mode() {
    let key = caller(AuthMode::ApiKey, &[]);
    let oidc = caller(AuthMode::Oidc, &[]);
    assert!(run("{ open }", &key).is_ok());
    assert!(run("{ open }", &oidc).is_ok());
    assert!(run("{ plain }", &oidc).is_ok(), "default mode");
    let denied = run("{ plain }", &key).unwrap_err();
    assert_eq!(
        denied.message,
        "Not Authorized to access plain on type Query"
    );
    assert_eq!(denied.error_type, Some(ErrorType::Unauthorized));
    assert!(run("subscription { anyone { v } }", &key).is_ok());
    assert!(run("subscription { anyone { v } }", &oidc).is_err());
}

#[test]
fn cognito_groups_and_nested_types() {
    let member = caller(AuthMode::Cognito, &["admins"]);
    let outsider = caller(AuthMode::Cognito, &["users"]);
    assert!(run("subscription { admins { v } }", &member).is_ok());
    assert!(run("subscription { admins { v } }", &outsider).is_err());
    assert!(
        run(
            "subscription { ... on Subscription { admins { v } } }",
            &outsider
        )
        .is_err()
    );
    let mut lambda = caller(AuthMode::Lambda, &[]);
    assert!(run("mutation { publish(v: \"x\") { v } }", &lambda).is_err());
    lambda.mode = AuthMode::Iam;
    assert!(run("mutation { publish(v: \"x\") { v } }", &lambda).is_ok());
    lambda.denied_fields = vec!["Thing.v".to_owned()];
    assert!(run("mutation { publish(v: \"x\") { v } }", &lambda).is_err());
}

#[test]
fn the_legacy_aws_auth_directive_is_cognito_with_groups() {
    let sdl = r#"
        type Query { x: Int }
        type Mutation { publish(v: String!): Thing @aws_api_key }
        type Subscription { admins: Thing @aws_auth(cognito_groups: ["admins"]) }
        type Thing @aws_api_key @aws_cognito_user_pools { v: String! }
    "#;
    let policy = AccessPolicy {
        default_mode: AuthMode::ApiKey,
        owner: None,
        admin_group: None,
    };
    let query = "subscription { admins { v } }";
    let member = caller(AuthMode::Cognito, &["admins"]);
    assert!(run_with(sdl, query, json!({}), &member, &policy).is_ok());
    let outsider = caller(AuthMode::Cognito, &["users"]);
    assert!(run_with(sdl, query, json!({}), &outsider, &policy).is_err());
    let key = caller(AuthMode::ApiKey, &[]);
    assert!(run_with(sdl, query, json!({}), &key, &policy).is_err());
}

const OWNED: &str = r#"
    type Query { history(userId: ID!, limit: Int): [Thing] other(n: Int): String }
    type Mutation {
      publish(input: ThingInput!): Thing
      flat(userId: ID!, v: String): Thing
      echo(v: String!): String
    }
    type Subscription { updates(userId: ID): Thing @aws_subscribe(mutations: ["publish"]) }
    type Thing { userId: ID! v: String }
    input ThingInput { userId: ID! v: String }
"#;

fn owner_policy() -> AccessPolicy {
    AccessPolicy {
        default_mode: AuthMode::Oidc,
        owner: Some(OwnerRule {
            arg: "userId".to_owned(),
            claim: "sub".to_owned(),
            trusted_modes: vec![AuthMode::ApiKey],
        }),
        admin_group: Some("admins".to_owned()),
    }
}

fn user(sub: &str, groups: &[&str]) -> Identity {
    let mut claims = serde_json::Map::new();
    claims.insert("sub".to_owned(), json!(sub));
    let mut identity = Identity::from_claims(AuthMode::Oidc, claims);
    identity.groups = groups.iter().map(|g| (*g).to_owned()).collect();
    identity
}

fn owned(query: &str, variables: Json, who: &Identity) -> Result<(), GraphqlError> {
    run_with(OWNED, query, variables, who, &owner_policy())
}

#[test]
fn the_owner_rule_binds_queries_mutations_and_subscriptions() {
    let u1 = user("u1", &[]);
    for (own, other) in [
        (
            r#"{ history(userId: "u1") { v } }"#,
            r#"{ history(userId: "u2") { v } }"#,
        ),
        (
            r#"mutation { publish(input: {userId: "u1"}) { v } }"#,
            r#"mutation { publish(input: {userId: "u2"}) { v } }"#,
        ),
        (
            r#"mutation { flat(userId: "u1") { v } }"#,
            r#"mutation { flat(userId: "u2") { v } }"#,
        ),
        (
            r#"subscription { updates(userId: "u1") { v } }"#,
            r#"subscription { updates(userId: "u2") { v } }"#,
        ),
    ] {
        assert!(owned(own, json!({}), &u1).is_ok(), "{own}");
        let denied = owned(other, json!({}), &u1).unwrap_err();
        assert_eq!(denied.error_type, Some(ErrorType::Unauthorized), "{other}");
        assert!(
            denied
                .message
                .contains("userId must be the caller's own sub")
        );
    }
    // Omitting the owner argument is not a way around it.
    assert!(owned("subscription { updates { v } }", json!({}), &u1).is_err());
    // Fields without the owner argument are not bound.
    assert!(owned("{ other(n: 1) }", json!({}), &u1).is_ok());
    assert!(owned(r#"mutation { echo(v: "x") }"#, json!({}), &u1).is_ok());
}

#[test]
fn the_owner_rule_reads_variables_defaults_aliases_and_fragments() {
    let u1 = user("u1", &[]);
    let q = "query Q($u: ID!) { history(userId: $u) { v } }";
    assert!(owned(q, json!({"u": "u1"}), &u1).is_ok());
    assert!(owned(q, json!({"u": "u2"}), &u1).is_err());
    assert!(
        owned(q, json!({}), &u1).is_err(),
        "a missing variable is null"
    );
    let q = r#"query Q($u: ID = "u2") { history(userId: $u) { v } }"#;
    assert!(
        owned(q, json!({}), &u1).is_err(),
        "the variable's default counts"
    );
    let m = "mutation M($i: ThingInput!) { publish(input: $i) { v } }";
    assert!(owned(m, json!({"i": {"userId": "u1"}}), &u1).is_ok());
    assert!(owned(m, json!({"i": {"userId": "u2"}}), &u1).is_err());
    let aliased = r#"{ mine: history(userId: "u1") { v } theirs: history(userId: "u2") { v } }"#;
    assert!(owned(aliased, json!({}), &u1).is_err());
    let fragment = r#"query { ...F } fragment F on Query { history(userId: "u2") { v } }"#;
    assert!(owned(fragment, json!({}), &u1).is_err());
    let inline = r#"{ ... on Query { history(userId: "u2") { v } } }"#;
    assert!(owned(inline, json!({}), &u1).is_err());
}

#[test]
fn trusted_modes_and_admins_may_name_anyone() {
    let admin = user("boss", &["admins"]);
    assert!(owned(r#"{ history(userId: "u2") { v } }"#, json!({}), &admin).is_ok());
    let mut key = caller(AuthMode::ApiKey, &[]);
    key.principal = "key".to_owned();
    let policy = AccessPolicy {
        default_mode: AuthMode::ApiKey,
        ..owner_policy()
    };
    let query = r#"{ history(userId: "u2") { v } }"#;
    assert!(run_with(OWNED, query, json!({}), &key, &policy).is_ok());
}

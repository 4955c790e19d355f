//! `switchboard schema check [FILE]`: the routing table, history queries and auth rules of a
//! servable schema (exit 0), or the error as `FILE:LINE:COLUMN: error: ...` (exit 1).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// An SDL file in the temp directory, removed when dropped.
struct SchemaFile(PathBuf);

impl SchemaFile {
    fn new(sdl: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("switchboard-{}.graphql", uuid::Uuid::new_v4()));
        std::fs::write(&path, sdl).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for SchemaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn check(args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["schema", "check"])
        .args(args)
        .env_remove("SWITCHBOARD_AUTH_DEFAULT")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        status.code().expect("an exit code"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

fn has_line(text: &str, wanted: &str) -> bool {
    text.lines().any(|line| line.trim() == wanted)
}

#[test]
fn the_embedded_schema_is_servable_and_its_routes_are_printed() {
    let (code, stdout, stderr) = check(&[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        has_line(&stdout, "publishStatus -> onStatusUpdate(userId: ID!)"),
        "{stdout}"
    );
    assert!(
        has_line(
            &stdout,
            "statusHistory: Status, partition (userId: ID!), filter (jobId: ID), limit (limit: Int)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("default mode (api-key)"), "{stdout}");
}

#[test]
fn auth_rules_are_printed_with_groups_and_the_default_mode() {
    let file = SchemaFile::new(
        r#"
type Query { open: String @aws_api_key @aws_oidc  plain: String }
type Mutation { publish(v: String!): Thing @aws_iam }
type Subscription {
  admins(v: String): Thing
    @aws_subscribe(mutations: ["publish"])
    @aws_cognito_user_pools(cognito_groups: ["admins", "ops"])
}
type Thing @aws_iam @aws_cognito_user_pools @aws_api_key { v: String! }
"#,
    );
    let (code, stdout, stderr) = check(&[file.path(), "--auth-default", "oidc"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        has_line(&stdout, "publish -> admins(v: String)"),
        "{stdout}"
    );
    assert!(has_line(&stdout, "Query.open: api-key, oidc"), "{stdout}");
    assert!(has_line(&stdout, "Mutation.publish: iam"), "{stdout}");
    assert!(
        has_line(
            &stdout,
            "Subscription.admins: cognito (groups: admins, ops)"
        ),
        "{stdout}"
    );
    assert!(
        has_line(&stdout, "type Thing: iam, cognito, api-key"),
        "{stdout}"
    );
    assert!(
        has_line(
            &stdout,
            "fields without directives use the default mode (oidc) only: Query.plain"
        ),
        "{stdout}"
    );
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    // Line 6, column 14: a second `:` where a default value or `)` belongs.
    let file =
        SchemaFile::new("type Query {\n  x: Int\n}\n\ntype Mutation {\n  m(a: String: Int\n}\n");
    let (code, stdout, stderr) = check(&[file.path()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}:6:14: error: ", file.path())),
        "{stderr}"
    );
    assert!(first.contains("not valid GraphQL SDL"), "{stderr}");
    assert!(
        stderr.contains("  m(a: String: Int"),
        "the source line: {stderr}"
    );
}

#[test]
fn a_subscription_naming_an_unknown_mutation_is_refused_at_the_directive() {
    let file = SchemaFile::new(
        r#"type Query { x: Int }
type T { a: String }
type Mutation { m(a: String): T }
type Subscription {
  s(a: String): T
    @aws_subscribe(mutations: ["nope"])
}
"#,
    );
    let (code, stdout, stderr) = check(&[file.path()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}:6:5: error: ", file.path())),
        "{stderr}"
    );
    assert!(
        first.contains("Subscription.s") && first.contains("`nope`"),
        "{stderr}"
    );
}

#[test]
fn a_result_field_the_server_never_fills_is_a_warning() {
    let file = SchemaFile::new(
        "type Query { x: Int }\ntype Job {\n  id: ID!\n  owner: String!\n}\ntype Mutation { createJob(id: ID!): Job }\n",
    );
    let (code, stdout, stderr) = check(&[file.path()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let warnings = stdout
        .split_once("warnings:\n")
        .map(|(_, w)| w)
        .unwrap_or_else(|| panic!("a warnings section: {stdout}"));
    assert!(
        warnings.contains("Job.owner is non-null, but Mutation.createJob never supplies it"),
        "{stdout}"
    );
}

#[test]
fn a_missing_file_is_an_error() {
    let path = std::env::temp_dir().join(format!("switchboard-{}.graphql", uuid::Uuid::new_v4()));
    let path = path.to_str().unwrap();
    let (code, stdout, stderr) = check(&[path]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.starts_with(&format!("{path}: error: cannot read")),
        "{stderr}"
    );
}

#[test]
fn a_rules_file_is_checked_and_listed() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/amplify-todo.graphql"
    );
    let rules = SchemaFile::new(
        r#"{"subscriptions": {"onCreateTodo": {"filter": {"owner": {"eq": "${identity.username}"}},
            "invalidationFilter": {"id": {"eq": "${args.id}"}}}},
           "invalidations": [{"mutation": "deleteTodo", "subscriptionField": "onUpdateTodo",
            "payload": {"id": "${result.id}"}}]}"#,
    );
    let (code, stdout, stderr) = check(&[fixture, "--rules", rules.path()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("[enhanced filter: Amplify input]"),
        "{stdout}"
    );
    let listed = stdout
        .split_once("rules:\n")
        .map(|(_, r)| r)
        .unwrap_or_default();
    assert!(
        listed.contains(r#"onCreateTodo: filter {"owner":{"eq":"${identity.username}"}}"#)
            && listed.contains("onCreateTodo: invalidated when the payload passes")
            && listed.contains(r#"deleteTodo invalidates onUpdateTodo with {"id":"${result.id}"}"#),
        "{stdout}"
    );
    let wrong = SchemaFile::new(
        r#"{"invalidations": [{"mutation": "nope", "subscriptionField": "onCreateTodo", "payload": {}}]}"#,
    );
    let (code, _, stderr) = check(&[fixture, "--rules", wrong.path()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("mutation `nope`"), "{stderr}");
}

#[test]
fn an_amplify_source_schema_says_which_file_to_serve_instead() {
    let file = SchemaFile::new(
        "type Todo @model @auth(rules: [{allow: owner}]) {\n  id: ID!\n  name: String!\n}\n",
    );
    let (code, stdout, stderr) = check(&[file.path()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}:1:11: error: ", file.path())),
        "{stderr}"
    );
    assert!(
        first.contains("Amplify source schema") && first.contains("build/schema.graphql"),
        "{stderr}"
    );
}

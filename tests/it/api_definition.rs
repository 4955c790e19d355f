//! The API definition's model: the committed JSON Schema is the one the types generate, every
//! `serve` flag has a place (a definition path or operational), and a definition with every
//! section loads and round-trips; a key the model does not know is refused.

use std::collections::BTreeSet;

use clap::CommandFactory;
use switchboard::definition::{Definition, flags};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/definition/jobs.json"
);

#[test]
fn the_committed_json_schema_is_the_generated_one() {
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/switchboard.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        committed,
        switchboard::definition::json_schema(),
        "docs/switchboard.schema.json is stale: `switchboard api schema > docs/switchboard.schema.json`"
    );
}

#[test]
fn every_serve_flag_is_mapped_into_the_definition_or_marked_operational() {
    let serve = switchboard::Settings::command();
    let ids: BTreeSet<String> = serve
        .get_arguments()
        .filter(|arg| arg.get_long().is_some())
        .map(|arg| arg.get_id().to_string())
        .collect();
    let unplaced: Vec<&String> = ids.iter().filter(|id| flags::place(id).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "flags with no place in the definition: {unplaced:?}"
    );
    let unknown: Vec<&str> = flags::FLAG_PATHS
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !ids.contains(*id))
        .collect();
    assert!(
        unknown.is_empty(),
        "places for flags `serve` does not have: {unknown:?}"
    );
}

#[test]
fn a_definition_with_every_section_loads_and_round_trips() {
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let definition: Definition = serde_json::from_str(&text).unwrap();
    assert_eq!(definition.version, 1);
    assert_eq!(definition.auth.providers.len(), 5);
    let graphql = definition.graphql.as_ref().unwrap();
    assert_eq!(graphql.resolvers["Mutation.saveJob"].functions, ["saveJob"]);
    let events = definition.events.as_ref().unwrap();
    assert_eq!(events.namespaces["status"].owner_segment, Some(1));
    let printed = serde_json::to_string(&definition).unwrap();
    let again: Definition = serde_json::from_str(&printed).unwrap();
    assert_eq!(again, definition, "print then load gives the same model");
}

#[test]
fn a_key_the_model_does_not_know_is_refused() {
    let text = r#"{"version": 1, "graphql": {"schema": {"file": "s.graphql"}, "resolver": {}}}"#;
    let error = serde_json::from_str::<Definition>(text)
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown field `resolver`"), "{error}");
}

/// `api check` on `yaml` (written to a file of its own): its exit code and what it printed.
fn api_check(yaml: &str) -> (i32, String, String) {
    let path = std::env::temp_dir().join(format!("switchboard-def-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(&path, yaml).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["api", "check"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    let name = path.display().to_string();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap().replace(&name, "FILE");
    (
        output.status.code().unwrap(),
        text(output.stdout),
        text(output.stderr),
    )
}

#[test]
fn api_check_passes_the_full_example_in_json_and_yaml() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["api", "check", FIXTURE])
        .env("DEV_JWT_SECRET", "a-local-secret-of-32-bytes-or-more")
        .env("SWITCHBOARD_KEY", "da2-from-the-environment")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.ends_with("ok (5 auth providers, 2 resolvers, 2 Events namespaces)\n"),
        "{said}"
    );
    let yaml = "version: 1\nauth:\n  providers:\n    key: {type: API_KEY}\ngraphql:\n  auth: {default: key}\n";
    assert_eq!(api_check(yaml).0, 0);
}

#[test]
fn api_check_errors_name_the_file_the_place_and_the_code() {
    let cases = [
        (
            "version: 1\ngraphql:\n  resolver: {}\n",
            "FILE:3:3: error[E002]: unknown key `resolver` (expected one of schema, auth, introspection, environmentVariables, limits, userArgument, dataSources, functions, resolvers, subscriptions, invalidations)",
        ),
        (
            "version: 1\ngraphql:\n  limits: {queryDepth: lots}\n",
            "FILE:3:24: error[E003]: expected a value of type u32",
        ),
        (
            "version: 1\nauth:\n  providers:\n    key: {type: API_KEYS}\n",
            "FILE:4:17: error[E003]: `API_KEYS` is not one of API_KEY, api-key, AWS_IAM, iam, AMAZON_COGNITO_USER_POOLS, cognito, OPENID_CONNECT, oidc, AWS_LAMBDA, lambda",
        ),
        (
            "version: 2\n",
            "FILE: error[E006]: version: is 2; this Switchboard reads version 1",
        ),
        (
            "version: 1\n\tgraphql: x\n",
            "FILE:1:10: error[E001]: while scanning a plain scalar, found a tab",
        ),
    ];
    for (yaml, wanted) in cases {
        let (code, _, said) = api_check(yaml);
        assert_eq!(code, 1, "{yaml}");
        assert_eq!(said.lines().next().unwrap_or_default(), wanted, "{yaml}");
    }
}

#[test]
fn api_check_finds_what_needs_the_whole_definition() {
    let yaml = "version: 1
auth: {providers: {a: {type: AWS_LAMBDA}, b: {type: lambda}}}
graphql:
  auth: {default: a, additional: [b, c]}
  dataSources: {None: {type: NONE}}
  functions: {save: {dataSource: Jobs}}
  resolvers:
    Mutation.x: {kind: UNIT, dataSource: Nope}
    Mutation.y: {kind: PIPELINE}
    Mutation.z: {kind: PIPELINE, functions: [save, load]}
events:
  auth: {providers: [a], connect: [d]}
";
    let (code, _, said) = api_check(yaml);
    assert_eq!(code, 1);
    let lines: Vec<&str> = said.lines().collect();
    for wanted in [
        "FILE: error[E203]: graphql.auth: an API has at most one AWS_LAMBDA provider; this one names a, b",
        "FILE: error[E104]: graphql.functions.save.dataSource: unknown data source `Jobs` (defined: None)",
        "FILE: error[E104]: graphql.resolvers.Mutation.x.dataSource: unknown data source `Nope` (defined: None)",
        "FILE: error[E105]: graphql.resolvers.Mutation.y: a PIPELINE resolver needs functions",
        "FILE: error[E104]: graphql.resolvers.Mutation.z.functions: unknown function `load`",
        "FILE: error[E201]: graphql.auth.additional[1]: unknown provider `c` (defined: a, b)",
        "FILE: error[E201]: events.auth.connect[0]: unknown provider `d` (defined: a, b)",
    ] {
        assert!(lines.contains(&wanted), "missing `{wanted}` in:\n{said}");
    }
    assert_eq!(lines.last(), Some(&"7 error(s)"), "{said}");
}

#[test]
fn an_unset_environment_reference_is_e004_at_its_path_and_placeholders_stay() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["api", "check", FIXTURE])
        .env_remove("DEV_JWT_SECRET")
        .env_remove("SWITCHBOARD_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8(output.stderr).unwrap();
    for wanted in [
        "error[E004]: apiKeys[0].value: `${env.SWITCHBOARD_KEY}` is not set and has no default",
        "error[E004]: auth.providers.corp.local.hs256Secret: `${env.DEV_JWT_SECRET}` is not set and has no default",
    ] {
        assert!(said.contains(wanted), "missing `{wanted}` in:\n{said}");
    }
    // `${args.userId}` in the subscription rules is a placeholder, not an environment reference.
    assert!(!said.contains("args.userId"), "{said}");
}

#[test]
fn api_print_round_trips_and_redacts_secrets_by_their_source() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .env("DEV_JWT_SECRET", "a-local-secret-of-32-bytes-or-more")
            .env("SWITCHBOARD_KEY", "da2-from-the-environment")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{args:?}: {stderr}");
        String::from_utf8(output.stdout).unwrap()
    };
    let printed = run(&["api", "print", FIXTURE]);
    assert!(
        printed.contains("<redacted: env SWITCHBOARD_KEY>"),
        "{printed}"
    );
    assert!(
        printed.contains("<redacted: env DEV_JWT_SECRET>"),
        "{printed}"
    );
    assert!(!printed.contains("da2-from-the-environment") && !printed.contains("a-local-secret"));
    // Printed YAML loads back to the same model (the secrets as printed).
    let path =
        std::env::temp_dir().join(format!("switchboard-printed-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(&path, &printed).unwrap();
    let again = run(&["api", "print", "--json", path.to_str().unwrap()]);
    let json = run(&["api", "print", "--json", FIXTURE]);
    let (mut again, mut json): (Definition, Definition) = (
        serde_json::from_str(&again).unwrap(),
        serde_json::from_str(&json).unwrap(),
    );
    // The printed secrets are literal markers, which print again as `<redacted>`.
    for definition in [&mut again, &mut json] {
        for key in &mut definition.api_keys {
            key.value = key.value.as_ref().map(|_| "<secret>".to_owned());
        }
        for provider in definition.auth.providers.values_mut() {
            if let Some(local) = provider.local.as_mut() {
                local.hs256_secret = local.hs256_secret.as_ref().map(|_| "<secret>".to_owned());
            }
        }
    }
    assert_eq!(again, json, "print, then load, gives the same model");
    std::fs::remove_file(&path).ok();
}

#[test]
fn a_file_that_cannot_be_read_is_e005() {
    let missing =
        std::env::temp_dir().join(format!("switchboard-none-{}.yaml", uuid::Uuid::new_v4()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["api", "check"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8(output.stderr).unwrap();
    let wanted = format!("{}: error[E005]: cannot read the file: ", missing.display());
    assert!(said.starts_with(&wanted), "{said}");
}

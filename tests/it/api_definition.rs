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

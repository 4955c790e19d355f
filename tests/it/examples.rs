//! Every example in `examples/` is servable as the README shows it: `schema check` passes its
//! schema (and its rules, when it has some) without an error or a warning.

use std::process::Command;

#[test]
fn every_example_passes_schema_check() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let dir = entry.unwrap().path();
        let schema = dir.join("schema.graphql");
        if !schema.exists() {
            continue;
        }
        let mut check = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        check.args(["schema", "check"]).arg(&schema);
        let rules = dir.join("rules.json");
        if rules.exists() {
            check.arg("--rules").arg(&rules);
        }
        let output = check.output().unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {said}", dir.display());
        assert!(!said.contains("warning"), "{}: {said}", dir.display());
        checked += 1;
    }
    assert!(checked >= 2, "the examples are there");
}

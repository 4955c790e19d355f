//! The crate's top-level modules import one another downward only: no two of them reach each
//! other, directly or through others. A cycle means neither can be read, tested or changed alone,
//! so this test fails on a new one and names the `crate::` paths that close it.
//!
//! A module's imports are its `crate::x` paths (and `crate::{x, y}` groups) outside comments and
//! outside its `#[cfg(test)]` code: tests may reach up to build what they test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module -> the modules it names, each with one place that names it (for the failure message).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn top_level_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph_of(&sources(&src));
    assert!(
        graph.len() > 20,
        "read only {} modules from {}",
        graph.len(),
        src.display()
    );
    let cycles = cycles(&graph);
    let report: Vec<String> = cycles
        .iter()
        .map(|group| {
            let edges: Vec<String> = group
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|(to, _)| group.contains(*to))
                        .map(move |(to, at)| format!("  {from} -> {to} ({at})"))
                })
                .collect();
            format!("{}:\n{}", group.join(" <-> "), edges.join("\n"))
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_check_finds_a_cycle_through_a_third_module() {
    let files = [
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d;"),
        ("a.rs", "use crate::b::Thing;\n"),
        (
            "b/mod.rs",
            "mod inner;\n// crate::d is only mentioned here\n",
        ),
        ("b/inner.rs", "use crate::{c::More, d};\n"),
        ("b/tests.rs", "use crate::a;\n"),
        (
            "c.rs",
            "fn f() { crate::a::g() }\n#[cfg(test)]\nmod tests { use crate::d; }\n",
        ),
        ("d.rs", "/// [`crate::a`] in a doc comment is no import\n"),
    ];
    let files: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|(path, text)| (PathBuf::from(path), text.to_owned()))
        .collect();
    let graph = graph_of(&files);
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    assert!(graph["d"].is_empty(), "{graph:?}");
    assert!(graph["b"].contains_key("d"), "{graph:?}");
}

/// Every `.rs` file under `src`, by its path relative to `src`.
fn sources(src: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path.strip_prefix(src).unwrap().to_path_buf(), text));
            }
        }
    }
    files
}

/// The import graph of `files` (except `lib.rs` and `main.rs`, which sit above every module).
fn graph_of(files: &[(PathBuf, String)]) -> Graph {
    let mut graph = Graph::new();
    for (relative, text) in files {
        let first = relative.components().next().unwrap();
        let first = first.as_os_str().to_string_lossy();
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
        if module == "lib" || module == "main" || is_test_file(relative) {
            continue;
        }
        let names = graph.entry(module.clone()).or_default();
        for (line, target) in imports(text) {
            if target != module {
                names
                    .entry(target)
                    .or_insert_with(|| format!("{}:{line}", relative.display()));
            }
        }
    }
    graph
}

fn is_test_file(relative: &Path) -> bool {
    relative.file_name().is_some_and(|name| name == "tests.rs")
        || relative.components().any(|c| c.as_os_str() == "tests")
}

/// The top-level modules `text` names through `crate::`, with the line naming each.
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                for item in group.split(',') {
                    let head = item.trim().split("::").next().unwrap_or_default();
                    if is_module_name(head) {
                        found.push((number + 1, head.to_owned()));
                    }
                }
            } else {
                let head: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if is_module_name(&head) {
                    found.push((number + 1, head));
                }
            }
        }
    }
    found
}

/// Modules are snake_case; `crate::Settings` names an item the crate root re-exports.
fn is_module_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
}

/// The groups of two or more modules that reach one another, each sorted, in name order.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut pending = vec![from.to_owned()];
        while let Some(module) = pending.pop() {
            for next in graph.get(&module).into_iter().flat_map(BTreeMap::keys) {
                if seen.insert(next.clone()) {
                    pending.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|module| (module, reach(module))).collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for (module, reached) in &reaches {
        let group: Vec<String> = reached
            .iter()
            .filter(|other| reaches.get(other).is_some_and(|r| r.contains(*module)))
            .cloned()
            .collect();
        if group.len() > 1 {
            groups.insert(group);
        }
    }
    groups.into_iter().collect()
}

//! `${env.NAME}`, `${env.NAME:-default}` and `${file.PATH}` in a definition's strings: secrets
//! and per-machine values stay out of the file. Expanded after parsing, in string values only
//! (so a rules placeholder such as `${args.userId}` or `${result.jobId}`, which is no `env.` or
//! `file.` reference, stays as written); `$${` is a literal `${`.

use std::path::Path;

use serde_json::Value;

/// Why a reference could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexpanded {
    /// Where, as a path in the model (`apiKeys[0].value`).
    pub path: String,
    pub message: String,
}

/// Expands every reference in the strings of `value`; `env` looks a variable up, files are
/// read relative to `dir`. Returns what could not be expanded, each with its path.
pub fn expand(
    value: &mut Value,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Unexpanded> {
    let mut problems = Vec::new();
    walk(value, String::new(), dir, env, &mut problems);
    problems
}

fn walk(
    value: &mut Value,
    path: String,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Unexpanded>,
) {
    match value {
        Value::String(text) => match expand_text(text, dir, env) {
            Ok(expanded) => *text = expanded,
            Err(message) => problems.push(Unexpanded { path, message }),
        },
        Value::Array(items) => {
            for (n, item) in items.iter_mut().enumerate() {
                walk(item, format!("{path}[{n}]"), dir, env, problems);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields.iter_mut() {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(item, path, dir, env, problems);
            }
        }
        _ => {}
    }
}

/// One string with its references expanded.
fn expand_text(
    text: &str,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            // `$${`: a literal `${`.
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let Some(end) = rest[at..].find('}') else {
            out.push_str(&rest[at..]);
            return Ok(out);
        };
        let reference = &rest[at + 2..at + end];
        match reference.split_once('.') {
            Some(("env", name)) => {
                let (name, default) = match name.split_once(":-") {
                    Some((name, default)) => (name, Some(default)),
                    None => (name, None),
                };
                match (env(name), default) {
                    (Some(found), _) => out.push_str(&found),
                    (None, Some(default)) => out.push_str(default),
                    (None, None) => {
                        return Err(format!("`${{env.{name}}}` is not set and has no default"));
                    }
                }
            }
            Some(("file", file)) => {
                let read = std::fs::read_to_string(dir.join(file))
                    .map_err(|e| format!("`${{file.{file}}}` cannot be read: {e}"))?;
                out.push_str(read.strip_suffix('\n').unwrap_or(&read));
            }
            // Not ours (a rules placeholder): as written.
            _ => out.push_str(&rest[at..at + end + 1]),
        }
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "KEY").then(|| "da2-secret".to_owned())
    }

    fn one(text: &str) -> Result<String, String> {
        expand_text(text, Path::new("."), &env)
    }

    #[test]
    fn references_expand_and_others_stay() {
        assert_eq!(one("${env.KEY}").unwrap(), "da2-secret");
        assert_eq!(one("k=${env.KEY}!").unwrap(), "k=da2-secret!");
        assert_eq!(
            one("${env.LISTEN:-127.0.0.1:4000}").unwrap(),
            "127.0.0.1:4000"
        );
        assert_eq!(one("${args.userId}").unwrap(), "${args.userId}");
        assert_eq!(one("$${env.KEY}").unwrap(), "${env.KEY}");
        assert_eq!(one("no brace ${env.KEY").unwrap(), "no brace ${env.KEY");
        assert_eq!(
            one("${env.MISSING}").unwrap_err(),
            "`${env.MISSING}` is not set and has no default"
        );
    }

    #[test]
    fn a_file_reference_reads_the_file_without_its_last_newline() {
        let dir = std::env::temp_dir().join(format!("sb-expand-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret.txt"), "s3cret\n").unwrap();
        assert_eq!(
            expand_text("${file.secret.txt}", &dir, &env).unwrap(),
            "s3cret"
        );
        assert!(expand_text("${file.nope.txt}", &dir, &env).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn problems_name_their_path() {
        let mut value =
            serde_json::json!({"apiKeys": [{"value": "${env.NOPE}"}], "x": "${env.KEY}"});
        let problems = expand(&mut value, Path::new("."), &env);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "apiKeys[0].value");
        assert_eq!(value["x"], "da2-secret");
    }
}

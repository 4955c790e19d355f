//! `switchboard api print`: the effective definition, as Switchboard will use it (references
//! expanded), with every secret replaced by where it came from, so the output can be shared.

use super::Definition;

/// `expanded` with its secrets (API key values, HS256 secrets) redacted, each saying where it
/// came from in `raw` (the definition as written): `<redacted: env NAME>`, `<redacted: file
/// PATH>`, or `<redacted>` for a literal.
pub fn redacted(raw: &Definition, mut expanded: Definition) -> Definition {
    for (key, written) in expanded.api_keys.iter_mut().zip(&raw.api_keys) {
        if let Some(value) = &written.value {
            key.value = Some(redaction(value));
        }
    }
    for (name, provider) in expanded.auth.providers.iter_mut() {
        let written = raw
            .auth
            .providers
            .get(name)
            .and_then(|p| p.local.as_ref())
            .and_then(|local| local.hs256_secret.as_deref());
        if let (Some(local), Some(written)) = (provider.local.as_mut(), written) {
            local.hs256_secret = Some(redaction(written));
        }
    }
    expanded
}

/// What a secret as written says of where it comes from.
fn redaction(written: &str) -> String {
    let reference = written
        .strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|inner| inner.split_once('.'));
    match reference {
        Some(("env", name)) => {
            let name = name.split(":-").next().unwrap_or(name);
            format!("<redacted: env {name}>")
        }
        Some(("file", path)) => format!("<redacted: file {path}>"),
        _ => "<redacted>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_says_where_it_came_from() {
        assert_eq!(redaction("${env.KEY}"), "<redacted: env KEY>");
        assert_eq!(redaction("${env.KEY:-dev}"), "<redacted: env KEY>");
        assert_eq!(
            redaction("${file.secret.txt}"),
            "<redacted: file secret.txt>"
        );
        assert_eq!(redaction("da2-literal"), "<redacted>");
    }
}

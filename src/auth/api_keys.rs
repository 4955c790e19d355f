//! API keys, each with an optional expiry, from `--api-key KEY[@RFC3339]` and `--api-keys-file`.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use rand::Rng;

/// Why the configured keys could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error(
        "API key entry {entry}: `{expiry}` is not an RFC 3339 time (e.g. 2027-01-01T00:00:00Z)"
    )]
    Expiry { entry: usize, expiry: String },
    #[error("cannot read the API keys file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// The accepted API keys and when each stops being accepted.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: HashMap<String, Option<DateTime<Utc>>>,
}

/// What checking a key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    Valid,
    Unknown,
    Expired,
}

impl ApiKeys {
    /// Parses `KEY` or `KEY@EXPIRY` entries.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, ApiKeyError> {
        let mut keys = HashMap::new();
        for (n, entry) in entries.into_iter().enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (key, expiry) = match entry.split_once('@') {
                Some((key, expiry)) => {
                    let at = DateTime::parse_from_rfc3339(expiry.trim()).map_err(|_| {
                        ApiKeyError::Expiry {
                            entry: n + 1,
                            expiry: expiry.to_owned(),
                        }
                    })?;
                    (key.trim(), Some(at.with_timezone(&Utc)))
                }
                None => (entry, None),
            };
            keys.insert(key.to_owned(), expiry);
        }
        Ok(Self { keys })
    }

    /// Entries from a file, one per line; blank lines and `#` comments are skipped.
    pub fn read_file(path: &Path) -> Result<Vec<String>, ApiKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| ApiKeyError::File {
            path: path.display().to_string(),
            source,
        })?;
        Ok(text
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default().trim().to_owned())
            .filter(|line| !line.is_empty())
            .collect())
    }

    /// A key shaped like AppSync's (`da2-` and 26 characters), for a server started without one.
    pub fn generate() -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        let body: String = (0..26)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        format!("da2-{body}")
    }

    pub fn add(&mut self, key: String) {
        self.keys.insert(key, None);
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn check(&self, key: &str, now: DateTime<Utc>) -> KeyCheck {
        match self.keys.get(key) {
            None => KeyCheck::Unknown,
            Some(Some(expiry)) if *expiry <= now => KeyCheck::Expired,
            Some(_) => KeyCheck::Valid,
        }
    }

    /// The keys themselves, so logs and error messages can be scrubbed of them.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_expire() {
        let keys = ApiKeys::parse([
            "k1",
            "k2@2020-01-01T00:00:00Z",
            " k3 @ 2999-01-01T00:00:00+02:00",
        ])
        .unwrap();
        let now = Utc::now();
        assert_eq!(keys.check("k1", now), KeyCheck::Valid);
        assert_eq!(keys.check("k2", now), KeyCheck::Expired);
        assert_eq!(keys.check("k3", now), KeyCheck::Valid);
        assert_eq!(keys.check("k4", now), KeyCheck::Unknown);
        assert!(ApiKeys::parse(["k@tomorrow"]).is_err());
        let generated = ApiKeys::generate();
        assert!(generated.starts_with("da2-") && generated.len() == 30);
    }
}

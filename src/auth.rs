//! API keys: the credentials of this first version. Checked on `POST /graphql` and when a
//! WebSocket connection initialises.

use std::collections::HashSet;

use rand::Rng;
use serde_json::Value as Json;

/// Why a request was refused; the messages are AppSync's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Valid authorization header not provided.")]
    Missing,
    #[error("You are not authorized to make this call.")]
    Invalid,
}

/// The accepted API keys.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    keys: HashSet<String>,
}

impl ApiKeys {
    pub fn new(keys: impl IntoIterator<Item = String>) -> Self {
        Self {
            keys: keys.into_iter().filter(|k| !k.is_empty()).collect(),
        }
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

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn check(&self, key: Option<&str>) -> Result<(), AuthError> {
        match key {
            None | Some("") => Err(AuthError::Missing),
            Some(key) if self.keys.contains(key) => Ok(()),
            Some(_) => Err(AuthError::Invalid),
        }
    }
}

/// The API key in a `connection_init` payload: `x-api-key`, `apiKey`, or `headers.x-api-key`,
/// with keys matched case-insensitively.
pub fn api_key_in_init(payload: &Json) -> Option<&str> {
    fn get<'a>(object: &'a Json, name: &str) -> Option<&'a Json> {
        object
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
    get(payload, "x-api-key")
        .or_else(|| get(payload, "apiKey"))
        .or_else(|| get(payload, "headers").and_then(|h| get(h, "x-api-key")))?
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_checked() {
        let keys = ApiKeys::new(["k1".to_owned()]);
        assert_eq!(keys.check(Some("k1")), Ok(()));
        assert_eq!(keys.check(Some("k2")), Err(AuthError::Invalid));
        assert_eq!(keys.check(None), Err(AuthError::Missing));
        let generated = ApiKeys::generate();
        assert!(generated.starts_with("da2-") && generated.len() == 30);
    }

    #[test]
    fn init_payload_key_locations() {
        assert_eq!(api_key_in_init(&json!({"x-api-key": "a"})), Some("a"));
        assert_eq!(api_key_in_init(&json!({"X-Api-Key": "a"})), Some("a"));
        assert_eq!(api_key_in_init(&json!({"apiKey": "b"})), Some("b"));
        assert_eq!(
            api_key_in_init(&json!({"headers": {"x-api-key": "c"}})),
            Some("c")
        );
        assert_eq!(api_key_in_init(&json!({"other": 1})), None);
    }
}

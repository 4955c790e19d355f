//! Who may call: API keys, checked on `POST /graphql`, when a WebSocket connection initialises,
//! and for each AppSync subscription; and the [`Credentials`] a client presents them in.

pub mod credentials;

pub use credentials::{Credentials, CredentialsError};

use std::collections::HashSet;

use rand::Rng;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        let keys = ApiKeys::new(["k1".to_owned()]);
        assert_eq!(keys.check(Some("k1")), Ok(()));
        assert_eq!(keys.check(Some("k2")), Err(AuthError::Invalid));
        assert_eq!(keys.check(None), Err(AuthError::Missing));
        let generated = ApiKeys::generate();
        assert!(generated.starts_with("da2-") && generated.len() == 30);
    }
}

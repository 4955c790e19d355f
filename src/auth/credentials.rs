//! The credentials a client presents, whatever carried them. AppSync clients put one JSON object
//! of HTTP-style headers (`host`, `x-api-key`, `Authorization`, `x-amz-date`, ...) in one of three
//! places at the upgrade: a `header-<base64url>` subprotocol, a `?header=<base64>` query
//! parameter, or plain HTTP headers; and again, per subscription, in a `start`'s
//! `payload.extensions.authorization`. Standard GraphQL clients put them in the
//! `connection_init` payload. This module reads all of them into one [`Credentials`], with the
//! leniency real clients need (see `docs/architecture.md`, "AppSync handshake").

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value as Json;

/// The prefix of the subprotocol that carries AppSync's auth object.
pub const HEADER_SUBPROTOCOL_PREFIX: &str = "header-";

/// Why the auth object of an AppSync handshake could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("the {0} is not valid base64")]
    Base64(&'static str),
    #[error("the {0} does not decode to a JSON object")]
    NotAnObject(&'static str),
}

/// Header-like credentials: names lower-cased, so every lookup is case-insensitive; only string
/// values are kept and unknown names are carried along untouched. `Debug` shows the names only:
/// the values are secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.headers.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Credentials {
    /// From a JSON object of header names to values (an AppSync auth object). Values that are
    /// not strings are ignored; `None` when `object` is not an object.
    pub fn from_json(object: &Json) -> Option<Self> {
        let headers = object
            .as_object()?
            .iter()
            .filter_map(|(name, value)| {
                Some((name.to_ascii_lowercase(), value.as_str()?.to_owned()))
            })
            .collect();
        Some(Self { headers })
    }

    /// Every header, names lower-cased (for the Lambda authorizer's `requestHeaders`).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// From the headers of an HTTP request.
    pub fn from_http(headers: &HeaderMap) -> Self {
        let headers = headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        Self { headers }
    }

    /// From a `connection_init` payload: the object itself, or its `headers` member (the shape
    /// some graphql-ws users send), and `apiKey` as an alias of `x-api-key`.
    pub fn from_init_payload(payload: &Json) -> Self {
        let mut credentials = Self::from_json(payload).unwrap_or_default();
        if let Some(nested) = credentials_member(payload, "headers").and_then(Self::from_json) {
            credentials.headers.extend(nested.headers);
        }
        if let Some(key) = credentials.get("apikey").map(str::to_owned) {
            credentials.headers.push(("x-api-key".to_owned(), key));
        }
        credentials
    }

    /// These credentials, then `fallback`'s for any name these lack.
    pub fn then(mut self, fallback: &Credentials) -> Self {
        self.headers.extend(fallback.headers.iter().cloned());
        self
    }

    /// The value of a header, by case-insensitive name; the first one wins.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn api_key(&self) -> Option<&str> {
        self.get("x-api-key").filter(|k| !k.is_empty())
    }

    /// The `Authorization` value without an optional `Bearer ` prefix.
    pub fn authorization(&self) -> Option<&str> {
        let value = self.get("authorization")?.trim();
        let token = match value.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim_start(),
            _ => value,
        };
        (!token.is_empty()).then_some(token)
    }

    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

fn credentials_member<'a>(object: &'a Json, name: &str) -> Option<&'a Json> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The credentials of an AppSync WebSocket upgrade, from the first transport that carries them:
/// the `header-` subprotocol, then the `header` query parameter, then the HTTP headers.
pub fn from_appsync_upgrade(
    subprotocols: &[String],
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Credentials, CredentialsError> {
    if let Some(encoded) = subprotocols
        .iter()
        .find_map(|p| p.strip_prefix(HEADER_SUBPROTOCOL_PREFIX))
    {
        // Amplify sends a bare `header-` when it has no credentials at all.
        if !encoded.is_empty() {
            return decode_auth_object(encoded, "header- subprotocol");
        }
    }
    if let Some(encoded) = query.and_then(|q| query_parameter(q, "header")) {
        return decode_auth_object(&encoded, "header query parameter");
    }
    Ok(Credentials::from_http(headers))
}

/// A query parameter's value, percent-decoded but with `+` kept as `+`: AppSync clients paste
/// standard base64 into the URL without escaping it, so form decoding (`+` as a space) would
/// corrupt it. The first occurrence wins.
pub fn query_parameter(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// Decodes base64 JSON leniently: standard or URL-safe alphabet, padded or not, and a space where
/// a `+` was turned into one on the way.
pub fn decode_auth_object(
    encoded: &str,
    source: &'static str,
) -> Result<Credentials, CredentialsError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let normalized: String = encoded
        .trim()
        .chars()
        .filter(|c| *c != '=')
        .map(|c| match c {
            ' ' | '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bytes = LENIENT
        .decode(normalized)
        .map_err(|_| CredentialsError::Base64(source))?;
    let object: Json =
        serde_json::from_slice(&bytes).map_err(|_| CredentialsError::NotAnObject(source))?;
    Credentials::from_json(&object).ok_or(CredentialsError::NotAnObject(source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use serde_json::json;

    /// An auth object whose standard base64 holds a `+` and a `/`.
    fn awkward() -> (Json, String) {
        // `>>>` encodes as `Pj4+` and `???` as `Pz8/` when aligned on three bytes.
        for n in 0..3 {
            let key = format!("da2-{}>>>???", "x".repeat(n));
            let object = json!({"host": "localhost:4000", "x-api-key": key});
            let encoded = STANDARD.encode(object.to_string());
            if encoded.contains('+') && encoded.contains('/') {
                return (object, encoded);
            }
        }
        unreachable!()
    }

    #[test]
    fn every_base64_flavour_decodes() {
        let (object, standard) = awkward();
        let want = Credentials::from_json(&object).unwrap();
        let url_safe = URL_SAFE_NO_PAD.encode(object.to_string());
        let spaced = standard.replace('+', " ");
        let unpadded = standard.trim_end_matches('=').to_owned();
        for encoded in [&standard, &url_safe, &spaced, &unpadded] {
            assert_eq!(
                decode_auth_object(encoded, "test").unwrap(),
                want,
                "{encoded}"
            );
        }
        assert!(decode_auth_object("!!!", "test").is_err());
        assert!(decode_auth_object(&STANDARD.encode("[1]"), "test").is_err());
    }

    #[test]
    fn query_keeps_plus_and_decodes_percent() {
        assert_eq!(
            query_parameter("header=a+b/c=&payload=e30=", "header").unwrap(),
            "a+b/c="
        );
        assert_eq!(
            query_parameter("x=1&header=a%2Bb%3D", "header").unwrap(),
            "a+b="
        );
        assert_eq!(query_parameter("headers=1", "header"), None);
    }

    #[test]
    fn lookups_ignore_case_and_bearer() {
        let c = Credentials::from_json(
            &json!({"X-Api-Key": "k", "Authorization": "Bearer  t", "n": 1}),
        )
        .unwrap();
        assert_eq!(c.api_key(), Some("k"));
        assert_eq!(c.authorization(), Some("t"));
        let raw = Credentials::from_json(&json!({"authorization": "eyJ"})).unwrap();
        assert_eq!(raw.authorization(), Some("eyJ"));
        assert_eq!(c.get("n"), None, "non-string values are ignored");
    }

    #[test]
    fn init_payload_shapes() {
        for payload in [
            json!({"x-api-key": "a"}),
            json!({"X-Api-Key": "a"}),
            json!({"apiKey": "a"}),
            json!({"headers": {"x-api-key": "a"}}),
        ] {
            assert_eq!(
                Credentials::from_init_payload(&payload).api_key(),
                Some("a"),
                "{payload}"
            );
        }
        assert_eq!(
            Credentials::from_init_payload(&json!({"other": 1})).api_key(),
            None
        );
    }

    #[test]
    fn upgrade_precedence() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "from-headers".parse().unwrap());
        let sub = format!(
            "header-{}",
            URL_SAFE_NO_PAD.encode(json!({"x-api-key": "from-subprotocol"}).to_string())
        );
        let query = format!(
            "header={}&payload=e30=",
            STANDARD.encode(r#"{"x-api-key":"from-query"}"#)
        );
        let key = |subs: &[String], q: Option<&str>| {
            from_appsync_upgrade(subs, q, &headers)
                .unwrap()
                .api_key()
                .map(str::to_owned)
        };
        let graphql_ws = "graphql-ws".to_owned();
        assert_eq!(
            key(&[graphql_ws.clone(), sub], Some(&query)).as_deref(),
            Some("from-subprotocol")
        );
        assert_eq!(
            key(&[graphql_ws.clone(), "header-".into()], Some(&query)).as_deref(),
            Some("from-query")
        );
        assert_eq!(key(&[graphql_ws], None).as_deref(), Some("from-headers"));
    }
}

//! Verifies the JWTs of the `oidc` and `cognito` auth modes: RS256 and ES256 tokens against the
//! public keys of a JWKS (a file, a URL, or the URL an issuer's discovery document names), and,
//! for local development only, HS256 tokens against a shared secret.
//!
//! The JWKS is kept in memory and reloaded *lazily*: a `verify` that finds the keys older than
//! `refresh_interval` reloads them first, and a token whose `kid` is unknown reloads them once
//! more, at most every `min_refetch_interval`, so a key the IdP just rotated in is picked up while
//! garbage `kid`s cannot make us hammer it. A failed reload keeps the keys already loaded. Nothing
//! here logs a token or a secret, and no error message contains one.

mod jwks;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value as Json};

use jwks::{Jwks, Source};

/// Longer than any real token; refusing bigger ones early bounds the work a caller can cause.
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// base64url, padded or not: JWKs and JWTs should be unpadded, but some IdPs pad their JWKs.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Settings for verifying JWTs, built from the command line.
#[derive(Clone)]
pub struct JwtSettings {
    /// Local development: HS256 tokens signed with this secret are accepted. Without it HS256 is
    /// refused outright, so a JWKS public key can never be abused as an HMAC secret.
    pub hs256_secret: Option<String>,
    /// A JWKS JSON document (`{"keys": [...]}`), re-read like a URL is re-fetched.
    pub jwks_file: Option<PathBuf>,
    pub jwks_url: Option<String>,
    /// The required `iss` (exact, but a trailing slash on either side is ignored). When set with
    /// neither `jwks_file` nor `jwks_url`, the JWKS URL is discovered from
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: Option<String>,
    /// Accepted `aud` values; for Cognito access tokens (no `aud`, `token_use` = `access`) the
    /// `client_id` claim is checked against them instead. Empty: no audience check.
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// The JWKS is reloaded (lazily, by the next `verify`) once it is older than this.
    pub refresh_interval: Duration,
    /// The least time between two reloads caused by an unknown `kid` (or by retrying a failed
    /// reload), so garbage `kid`s cannot hammer the IdP.
    pub min_refetch_interval: Duration,
}

impl Default for JwtSettings {
    /// The documented defaults (60 s leeway, hourly refresh, 30 s between refetches) rather
    /// than zeros, which would disable the leeway and reload the JWKS on every token.
    fn default() -> Self {
        Self {
            hs256_secret: None,
            jwks_file: None,
            jwks_url: None,
            issuer: None,
            audiences: Vec::new(),
            leeway: Duration::from_secs(60),
            refresh_interval: Duration::from_secs(3600),
            min_refetch_interval: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for JwtSettings {
    /// By hand, so the HS256 secret never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSettings")
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("jwks_file", &self.jwks_file)
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("refresh_interval", &self.refresh_interval)
            .field("min_refetch_interval", &self.min_refetch_interval)
            .finish()
    }
}

/// Why a token was refused or the keys could not be loaded. No message contains the token;
/// `kid` and `alg` come from the token's header and are shown sanitised.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("unsupported or disabled algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// `None`: the token names no `kid` and the JWKS has no single key of its type.
    #[error("no key in the JWKS for kid {}", .0.as_deref().unwrap_or("(none)"))]
    UnknownKid(Option<String>),
    #[error("the JWKS key for kid {0} is not usable for the token's algorithm")]
    KeyMismatch(String),
    #[error("bad signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token lacks the {0} claim")]
    MissingClaim(String),
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    /// A JWKS or discovery document could not be read or understood.
    #[error("JWKS: {0}")]
    Jwks(String),
    /// The settings cannot work (e.g. no key source at all).
    #[error("JWT settings: {0}")]
    Config(String),
}

/// Checks JWTs; shared in an `Arc` by every connection, so it is `Send + Sync` and no lock guard
/// is held across an `.await` but the reload mutex's.
#[derive(Debug)]
pub struct JwtVerifier {
    /// The HS256 secret as a key; `None` refuses HS256.
    hs256: Option<DecodingKey>,
    /// `None` when only HS256 is configured: RS256 and ES256 are then refused.
    jwks: Option<Jwks>,
    issuer: Option<String>,
    audiences: Vec<String>,
    leeway: Duration,
    /// The caller's client: it carries the TLS configuration for `https` JWKS URLs.
    http: reqwest::Client,
}

impl JwtVerifier {
    /// Loads the JWKS (file, URL or discovery) up front; errors if a configured source can't be
    /// read or holds no usable key.
    pub async fn new(settings: JwtSettings, http: reqwest::Client) -> Result<Self, JwtError> {
        let hs256 = match settings.hs256_secret.as_deref() {
            Some("") => return Err(JwtError::Config("the HS256 secret is empty".into())),
            Some(secret) => Some(DecodingKey::from_secret(secret.as_bytes())),
            None => None,
        };
        let source = match (settings.jwks_file, settings.jwks_url, &settings.issuer) {
            (Some(_), Some(_), _) => {
                return Err(JwtError::Config(
                    "give a JWKS file or a JWKS URL, not both".into(),
                ));
            }
            (Some(path), None, _) => Some(Source::File(path)),
            (None, Some(url), _) => Some(Source::Url(url)),
            // An issuer with only an HS256 secret is a local issuer: nothing to discover.
            (None, None, Some(_)) if hs256.is_some() => None,
            (None, None, Some(issuer)) => Some(Source::Url(jwks::discover(issuer, &http).await?)),
            (None, None, None) => None,
        };
        if source.is_none() && hs256.is_none() {
            return Err(JwtError::Config(
                "no keys: give a JWKS file, a JWKS URL, an issuer or an HS256 secret".into(),
            ));
        }
        let jwks = match source {
            Some(source) => {
                let keys = source.load(&http).await?;
                if keys.is_empty() {
                    return Err(JwtError::Jwks(format!(
                        "{source} has no usable RS256/ES256 key"
                    )));
                }
                tracing::info!(%source, keys = keys.len(), "loaded the JWKS");
                Some(Jwks::new(
                    source,
                    keys,
                    settings.refresh_interval,
                    settings.min_refetch_interval,
                ))
            }
            None => None,
        };
        Ok(Self {
            hs256,
            jwks,
            issuer: settings.issuer,
            audiences: settings.audiences,
            leeway: settings.leeway,
            http,
        })
    }

    /// Verifies `token` (an optional "Bearer " prefix, any case, is stripped) and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Map<String, Json>, JwtError> {
        let token = strip_bearer(token);
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed("too long".into()));
        }
        let header = read_header(token)?;
        let alg = match header.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            "HS256" => Algorithm::HS256,
            other => return Err(JwtError::UnsupportedAlgorithm(printable(other))),
        };
        // The two key sources never mix: HS256 only ever meets the configured secret, and the
        // JWKS only ever yields RSA and EC public keys.
        let key = match (alg, &self.jwks) {
            (Algorithm::HS256, _) => self
                .hs256
                .clone()
                .ok_or_else(|| JwtError::UnsupportedAlgorithm("HS256".into()))?,
            (_, Some(jwks)) => jwks.key_for(header.kid.as_deref(), alg, &self.http).await?,
            (_, None) => return Err(JwtError::UnsupportedAlgorithm(format!("{alg:?}"))),
        };
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        // Checked below: audience needs the Cognito `client_id` rule, issuer the trailing slash.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        let claims = jsonwebtoken::decode::<Map<String, Json>>(token, &key, &validation)
            .map_err(refusal)?
            .claims;
        self.check_claims(&claims)?;
        Ok(claims)
    }

    /// The checks `jsonwebtoken` does not do our way: `iss`, `aud`/`client_id` and `iat`.
    fn check_claims(&self, claims: &Map<String, Json>) -> Result<(), JwtError> {
        if let Some(expected) = &self.issuer {
            match claims.get("iss") {
                None => return Err(JwtError::MissingClaim("iss".into())),
                Some(Json::String(iss)) if same_issuer(iss, expected) => {}
                Some(_) => return Err(JwtError::WrongIssuer),
            }
        }
        if !self.audiences.is_empty() {
            let accepted = |v: &Json| {
                v.as_str()
                    .is_some_and(|s| self.audiences.iter().any(|a| a == s))
            };
            let ok = match claims.get("aud") {
                Some(Json::Array(auds)) => auds.iter().any(accepted),
                Some(aud) => accepted(aud),
                // A Cognito access token names its app client in `client_id` instead.
                None => {
                    claims.get("token_use").and_then(Json::as_str) == Some("access")
                        && claims.get("client_id").is_some_and(accepted)
                }
            };
            if !ok {
                return Err(JwtError::WrongAudience);
            }
        }
        if let Some(iat) = claims.get("iat") {
            let iat = iat
                .as_f64()
                .ok_or_else(|| JwtError::Malformed("`iat` is not a number".into()))?;
            let latest = chrono::Utc::now().timestamp() as f64 + self.leeway.as_secs_f64();
            if iat > latest {
                return Err(JwtError::NotYetValid);
            }
        }
        Ok(())
    }
}

/// The JWK (`kty` EC, `crv` P-256, `alg` ES256) of a P-256 public key given as its uncompressed
/// point `0x04 || x || y` (what `rcgen::KeyPair::public_key_raw` returns), for building a JWKS
/// in tests and demos.
pub fn ec_p256_jwk(kid: &str, public_key_raw: &[u8]) -> Result<Json, JwtError> {
    let (Some(0x04), Some(xy)) = (public_key_raw.first(), public_key_raw.get(1..)) else {
        return Err(JwtError::Jwks("not an uncompressed P-256 point".into()));
    };
    if xy.len() != 64 {
        return Err(JwtError::Jwks("not an uncompressed P-256 point".into()));
    }
    let (x, y) = xy.split_at(32);
    Ok(serde_json::json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": BASE64URL.encode(x), "y": BASE64URL.encode(y),
    }))
}

/// The header fields we read before choosing a key.
/// Public for the fuzz targets (`fuzz/`), as the type [`read_header`] returns.
#[derive(Deserialize)]
pub struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// RFC 7515: a `crit` extension we do not understand must make the token invalid.
    #[serde(default)]
    crit: Option<Json>,
}

/// Public for the fuzz targets (`fuzz/`).
pub fn read_header(token: &str) -> Result<RawHeader, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three dot-separated parts".into()));
    };
    let bytes = BASE64URL
        .decode(header)
        .map_err(|_| JwtError::Malformed("the header is not base64url".into()))?;
    let header: RawHeader = serde_json::from_slice(&bytes)
        .map_err(|_| JwtError::Malformed("the header is not a JSON object with an alg".into()))?;
    if header.crit.is_some() {
        return Err(JwtError::Malformed("unsupported crit header".into()));
    }
    Ok(header)
}

/// Why `jsonwebtoken` refused, without its messages' details.
fn refusal(error: jsonwebtoken::errors::Error) -> JwtError {
    match error.kind() {
        ErrorKind::InvalidSignature => JwtError::BadSignature,
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim(claim.clone()),
        ErrorKind::InvalidClaimFormat(claim) => {
            JwtError::Malformed(format!("`{claim}` has the wrong type"))
        }
        ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            JwtError::Jwks("the JWKS key for this token is unusable".into())
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            JwtError::UnsupportedAlgorithm("(mismatched)".into())
        }
        _ => JwtError::Malformed("undecodable header, claims or signature".into()),
    }
}

/// Public for the fuzz targets (`fuzz/`).
pub fn strip_bearer(token: &str) -> &str {
    let token = token.trim();
    match token.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => token[7..].trim_start(),
        _ => token,
    }
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// A token-supplied string (`kid`, `alg`) made safe to log and show: short and printable.
fn printable(text: &str) -> String {
    text.chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

//! The JWKS cache: where the keys come from (a file or a URL, possibly discovered from an issuer),
//! which of them we trust, and when they are read again.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value as Json;

use super::{BASE64URL, JwtError, printable};

/// Bounds what a misbehaving JWKS or discovery endpoint can make us buffer.
const MAX_DOCUMENT_LEN: usize = 1024 * 1024;
/// How long one JWKS or discovery fetch may take; a reload holds up unknown-`kid` callers.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// RSA moduli shorter than 2048 bits are factorable enough that a key using one is skipped.
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// Where the JWKS is read from; kept so it can be read again.
#[derive(Debug)]
pub(super) enum Source {
    File(PathBuf),
    Url(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Url(url) => f.write_str(url),
        }
    }
}

impl Source {
    /// Reads and parses the JWKS, keeping the keys we may use.
    pub(super) async fn load(&self, http: &reqwest::Client) -> Result<Vec<PublicKey>, JwtError> {
        let bytes = match self {
            Source::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || std::fs::read(&path))
                    .await
                    .map_err(|e| JwtError::Jwks(format!("{self}: {e}")))?
                    .map_err(|e| JwtError::Jwks(format!("{self}: {e}")))?
            }
            Source::Url(url) => fetch(http, url).await?,
        };
        parse_jwks(&bytes).map_err(|reason| JwtError::Jwks(format!("{self}: {reason}")))
    }
}

/// The cached JWKS and what decides when to reload it.
#[derive(Debug)]
pub(super) struct Jwks {
    source: Source,
    /// Swapped whole on reload; readers clone the `Arc` and drop the guard at once.
    keys: RwLock<Arc<KeySet>>,
    /// When a reload was last attempted, successful or not. The mutex also makes reloads
    /// single-flight: callers with an unknown `kid` queue behind one reload instead of each
    /// fetching.
    last_attempt: tokio::sync::Mutex<Instant>,
    refresh_interval: Duration,
    min_refetch_interval: Duration,
}

/// The keys of one successful load.
#[derive(Debug)]
struct KeySet {
    keys: Vec<PublicKey>,
    loaded_at: Instant,
    /// Bumped by each reload, so a caller that waited for the reload mutex can tell whether
    /// someone else already reloaded while it waited.
    generation: u64,
}

/// A JWKS key we may verify with.
#[derive(Debug)]
pub(super) struct PublicKey {
    kid: Option<String>,
    /// RS256 or ES256: which algorithm the key's type (and `alg`, if the JWK pins one) allows.
    alg: Algorithm,
    key: DecodingKey,
}

/// What a lookup by `kid` found.
enum Lookup {
    Found(DecodingKey),
    /// A key with that `kid` exists, but for another algorithm.
    Mismatch,
    Missing,
}

impl KeySet {
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        match kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid));
                let mut named_again = named.clone();
                match named.find(|k| k.alg == alg) {
                    Some(k) => Lookup::Found(k.key.clone()),
                    None if named_again.next().is_some() => Lookup::Mismatch,
                    None => Lookup::Missing,
                }
            }
            // No `kid`: only unambiguous if the JWKS has exactly one key for the algorithm.
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.alg == alg);
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => Lookup::Found(k.key.clone()),
                    _ => Lookup::Missing,
                }
            }
        }
    }
}

impl Jwks {
    pub(super) fn new(
        source: Source,
        keys: Vec<PublicKey>,
        refresh_interval: Duration,
        min_refetch_interval: Duration,
    ) -> Self {
        let now = Instant::now();
        Self {
            source,
            keys: RwLock::new(Arc::new(KeySet {
                keys,
                loaded_at: now,
                generation: 0,
            })),
            last_attempt: tokio::sync::Mutex::new(now),
            refresh_interval,
            min_refetch_interval,
        }
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The key for a token's `kid` and `alg`, reloading the JWKS if it is stale or the `kid`
    /// unknown (rate-limited), and retrying once.
    pub(super) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        http: &reqwest::Client,
    ) -> Result<DecodingKey, JwtError> {
        self.refresh_if_stale(http).await;
        let seen = self.current();
        match seen.find(kid, alg) {
            Lookup::Found(key) => return Ok(key),
            Lookup::Mismatch => return Err(JwtError::KeyMismatch(printable(kid.unwrap_or("")))),
            Lookup::Missing => {}
        }
        let kid_shown = kid.map(printable);
        {
            let mut last_attempt = self.last_attempt.lock().await;
            if self.current().generation == seen.generation {
                if last_attempt.elapsed() < self.min_refetch_interval {
                    tracing::debug!(kid = ?kid_shown, "unknown kid; the JWKS was reloaded too recently to reload it again");
                    return Err(JwtError::UnknownKid(kid_shown));
                }
                tracing::info!(kid = ?kid_shown, source = %self.source, "unknown kid; reloading the JWKS");
                self.reload(&mut last_attempt, http).await;
            }
        }
        match self.current().find(kid, alg) {
            Lookup::Found(key) => Ok(key),
            Lookup::Mismatch => Err(JwtError::KeyMismatch(printable(kid.unwrap_or("")))),
            Lookup::Missing => Err(JwtError::UnknownKid(kid_shown)),
        }
    }

    /// The timer: reloads when the keys are older than `refresh_interval`. Callers arriving
    /// while another reloads go on with the keys they have rather than wait.
    async fn refresh_if_stale(&self, http: &reqwest::Client) {
        if self.current().loaded_at.elapsed() < self.refresh_interval {
            return;
        }
        let Ok(mut last_attempt) = self.last_attempt.try_lock() else {
            return;
        };
        // After a failed reload, retry no sooner than either interval allows.
        let retry_after = self.refresh_interval.min(self.min_refetch_interval);
        if self.current().loaded_at.elapsed() >= self.refresh_interval
            && last_attempt.elapsed() >= retry_after
        {
            self.reload(&mut last_attempt, http).await;
        }
    }

    /// Reloads with the reload mutex held. A failure keeps the old keys: an IdP outage must not
    /// lock everyone out. A successful load replaces them, even with none, so revoked keys go.
    async fn reload(&self, last_attempt: &mut Instant, http: &reqwest::Client) {
        *last_attempt = Instant::now();
        match self.source.load(http).await {
            Ok(keys) => {
                if keys.is_empty() {
                    tracing::warn!(source = %self.source, "the reloaded JWKS has no usable key");
                }
                tracing::info!(source = %self.source, keys = keys.len(), "reloaded the JWKS");
                let mut current = self.keys.write().unwrap_or_else(PoisonError::into_inner);
                let generation = current.generation + 1;
                *current = Arc::new(KeySet {
                    keys,
                    loaded_at: Instant::now(),
                    generation,
                });
            }
            Err(error) => {
                tracing::warn!(%error, "could not reload the JWKS; keeping the keys already loaded");
            }
        }
    }
}

/// Finds the JWKS URL in `{issuer}/.well-known/openid-configuration`.
pub(super) async fn discover(issuer: &str, http: &reqwest::Client) -> Result<String, JwtError> {
    #[derive(Deserialize)]
    struct Discovery {
        jwks_uri: String,
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let body = fetch(http, &url).await?;
    let discovery: Discovery = serde_json::from_slice(&body)
        .map_err(|e| JwtError::Jwks(format!("{url}: no jwks_uri: {e}")))?;
    tracing::info!(%issuer, jwks_uri = %discovery.jwks_uri, "discovered the JWKS URL");
    Ok(discovery.jwks_uri)
}

/// GETs a JSON document, bounded in time and size.
async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, JwtError> {
    let get = async {
        let response = http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| JwtError::Jwks(format!("{url}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(JwtError::Jwks(format!(
                "{url} answered HTTP {}",
                status.as_u16()
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_LEN as u64)
        {
            return Err(JwtError::Jwks(format!("{url}: document too large")));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| JwtError::Jwks(format!("{url}: {e}")))?;
        if body.len() > MAX_DOCUMENT_LEN {
            return Err(JwtError::Jwks(format!("{url}: document too large")));
        }
        Ok(body.to_vec())
    };
    tokio::time::timeout(FETCH_TIMEOUT, get)
        .await
        .map_err(|_| JwtError::Jwks(format!("{url}: timed out")))?
}

/// A JWK's fields that matter here; the rest (`x5c`, `key_ops`, ...) are ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// Parses a JWKS, keeping its RS256 and ES256 signing keys. Keys of other types are skipped,
/// `oct` ones above all: a JWKS holds public keys, and one used as an HMAC secret is the classic
/// algorithm-confusion hole.
fn parse_jwks(bytes: &[u8]) -> Result<Vec<PublicKey>, String> {
    #[derive(Deserialize)]
    struct JwkSet {
        keys: Vec<Json>,
    }
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = Vec::new();
    for value in set.keys {
        let kid = value.get("kid").and_then(Json::as_str).map(printable);
        match serde_json::from_value::<RawJwk>(value)
            .map_err(|e| e.to_string())
            .and_then(public_key)
        {
            Ok(Some(key)) => keys.push(key),
            Ok(None) => tracing::debug!(
                ?kid,
                "skipping a JWK that is not an RS256/ES256 signing key"
            ),
            Err(reason) => tracing::warn!(?kid, %reason, "skipping an unusable JWK"),
        }
    }
    Ok(keys)
}

/// The key a JWK describes; `None` for kinds we do not verify with.
fn public_key(jwk: RawJwk) -> Result<Option<PublicKey>, String> {
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let decode = |field: &Option<String>, name: &str| -> Result<Vec<u8>, String> {
        let text = field.as_deref().ok_or_else(|| format!("no `{name}`"))?;
        BASE64URL
            .decode(text)
            .map_err(|_| format!("`{name}` is not base64url"))
    };
    let (alg, key) = match jwk.kty.as_str() {
        "RSA" => {
            let n = decode(&jwk.n, "n")?;
            let e = decode(&jwk.e, "e")?;
            let significant = n.iter().skip_while(|&&b| b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Err("RSA modulus shorter than 2048 bits".into());
            }
            (
                Algorithm::RS256,
                DecodingKey::from_rsa_raw_components(&n, &e),
            )
        }
        "EC" if jwk.crv.as_deref() == Some("P-256") => {
            let (x, y) = (decode(&jwk.x, "x")?, decode(&jwk.y, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates are not 32 bytes".into());
            }
            // `jsonwebtoken` verifies ES256 against the SEC1 point held as "DER".
            let point = [&[0x04][..], &x, &y].concat();
            (Algorithm::ES256, DecodingKey::from_ec_der(&point))
        }
        _ => return Ok(None),
    };
    match jwk.alg.as_deref() {
        None => {}
        Some(pinned) if pinned == format!("{alg:?}") => {}
        Some(_) => return Ok(None),
    }
    Ok(Some(PublicKey {
        kid: jwk.kid,
        alg,
        key,
    }))
}

//! Tests of the JWT verifier. RS256 uses the committed TEST-ONLY key pair under
//! `tests/fixtures/jwt/` (kid `rsa-1`); ES256 keys are generated per test with rcgen.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value as Json, json};

use super::*;

const ISSUER: &str = "https://idp.test/pool-1";
const CLIENT: &str = "client-1";
const RSA_PRIVATE_PEM: &str = include_str!("../../../tests/fixtures/jwt/test-only-rsa-private.pem");
const RSA_PUBLIC_PEM: &str = include_str!("../../../tests/fixtures/jwt/test-only-rsa-public.pem");
const RSA_JWKS: &str = include_str!("../../../tests/fixtures/jwt/jwks-rsa.json");

/// Passes if `$result` is an `Err` matching the pattern, and says what it was otherwise.
macro_rules! assert_refused {
    ($result:expr, $pattern:pat $(if $guard:expr)?) => {
        match $result {
            Err($pattern) $(if $guard)? => {}
            other => panic!("expected {}, got {other:?}", stringify!($pattern)),
        }
    };
}

/// The fixture's private key: PKCS#1 PEM, which `jsonwebtoken` (built without `use_pem`) takes
/// as DER.
fn rsa_key() -> EncodingKey {
    let body: String = RSA_PRIVATE_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("fixture PEM");
    EncodingKey::from_rsa_der(&der)
}

/// An ES256 key pair made for one test, with its public JWK.
struct EcKey {
    signing: EncodingKey,
    jwk: Json,
}

fn ec_key(kid: &str) -> EcKey {
    let pair = rcgen::KeyPair::generate().expect("a P-256 key");
    EcKey {
        signing: EncodingKey::from_ec_der(&pair.serialize_der()),
        jwk: ec_p256_jwk(kid, pair.public_key_raw()).expect("a P-256 JWK"),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A valid ID token's claims with `changes` applied; a `null` removes the claim.
fn claims(changes: Json) -> Json {
    let mut claims = json!({
        "iss": ISSUER, "aud": CLIENT, "sub": "user-1", "token_use": "id",
        "iat": now(), "exp": now() + 300,
    });
    for (name, value) in changes.as_object().expect("an object") {
        match value {
            Json::Null => claims.as_object_mut().expect("an object").remove(name),
            value => claims
                .as_object_mut()
                .expect("an object")
                .insert(name.clone(), value.clone()),
        };
    }
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Json) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).expect("a signed token")
}

/// A token signed by the fixture key `rsa-1`.
fn rs256(changes: Json) -> String {
    sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &rsa_key(),
        &claims(changes),
    )
}

fn es256(key: &EcKey, kid: &str, changes: Json) -> String {
    sign(Algorithm::ES256, Some(kid), &key.signing, &claims(changes))
}

/// The fixture JWKS (`rsa-1`) plus `extra` keys.
fn jwks_with(extra: &[&Json]) -> Json {
    let mut jwks: Json = serde_json::from_str(RSA_JWKS).expect("fixture JWKS");
    let keys = jwks["keys"].as_array_mut().expect("keys");
    keys.extend(extra.iter().map(|&jwk| jwk.clone()));
    jwks
}

/// A JWKS file of one test, removed when dropped.
struct TempJwks(PathBuf);

impl TempJwks {
    fn new(jwks: &Json) -> Self {
        let name = format!("switchboard-jwks-{}.json", uuid::Uuid::new_v4());
        let file = Self(std::env::temp_dir().join(name));
        file.write(jwks);
        file
    }

    fn write(&self, jwks: &Json) {
        std::fs::write(&self.0, jwks.to_string()).expect("JWKS written");
    }
}

impl Drop for TempJwks {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A client for the plain-HTTP stand-in IdP. reqwest is built without a rustls provider, so even
/// `Client::new()` needs one configured; this one trusts no roots at all.
fn http() -> reqwest::Client {
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring};
    let tls = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .expect("an HTTP client")
}

/// Issuer and audience checked; the documented defaults otherwise.
fn settings() -> JwtSettings {
    JwtSettings {
        issuer: Some(ISSUER.into()),
        audiences: vec![CLIENT.into()],
        ..JwtSettings::default()
    }
}

async fn file_verifier(file: &TempJwks, settings: JwtSettings) -> JwtVerifier {
    let settings = JwtSettings {
        jwks_file: Some(file.0.clone()),
        ..settings
    };
    JwtVerifier::new(settings, http())
        .await
        .expect("a verifier")
}

/// A stand-in identity provider on 127.0.0.1 serving a JWKS and a discovery document, and
/// counting the requests for each.
struct Idp {
    base: String,
    jwks: Arc<Mutex<Json>>,
    jwks_hits: Arc<AtomicUsize>,
    discovery_hits: Arc<AtomicUsize>,
}

impl Idp {
    async fn start(jwks: Json) -> Self {
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bound");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let idp = Self {
            base: base.clone(),
            jwks: Arc::new(Mutex::new(jwks)),
            jwks_hits: Arc::default(),
            discovery_hits: Arc::default(),
        };
        let (jwks, jwks_hits) = (idp.jwks.clone(), idp.jwks_hits.clone());
        let discovery_hits = idp.discovery_hits.clone();
        let discovery = json!({"issuer": base, "jwks_uri": format!("{base}/jwks.json")});
        let app = axum::Router::new()
            .route(
                "/jwks.json",
                get(move || {
                    jwks_hits.fetch_add(1, Ordering::SeqCst);
                    let body = jwks.lock().expect("JWKS").clone();
                    async move { axum::Json(body) }
                }),
            )
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    discovery_hits.fetch_add(1, Ordering::SeqCst);
                    let body = discovery.clone();
                    async move { axum::Json(body) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        idp
    }

    fn jwks_hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    async fn verifier(&self, settings: JwtSettings) -> JwtVerifier {
        let settings = JwtSettings {
            jwks_url: Some(format!("{}/jwks.json", self.base)),
            ..settings
        };
        JwtVerifier::new(settings, http())
            .await
            .expect("a verifier")
    }
}

#[test]
fn the_verifier_can_be_shared_across_tasks() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<JwtVerifier>();
    // Type-checks that `verify`'s future holds no lock guard that is not `Send`.
    let _ = |verifier: &JwtVerifier| send(&verifier.verify(""));
}

#[tokio::test]
async fn rs256_and_es256_tokens_are_accepted_with_or_without_bearer() {
    let es = ec_key("es-1");
    let file = TempJwks::new(&jwks_with(&[&es.jwk]));
    let verifier = file_verifier(&file, settings()).await;
    let rs_token = rs256(json!({"sub": "rs"}));
    let es_token = es256(&es, "es-1", json!({"sub": "es"}));
    for (token, sub) in [(&rs_token, "rs"), (&es_token, "es")] {
        for presented in [
            token.clone(),
            format!("Bearer {token}"),
            format!("bEaReR  {token}"),
        ] {
            let claims = verifier.verify(&presented).await.expect("accepted");
            assert_eq!(claims["sub"], sub);
            assert_eq!(claims["iss"], ISSUER);
        }
    }
}

#[tokio::test]
async fn the_key_is_chosen_by_kid_or_by_being_the_only_one_of_its_type() {
    let (es_1, es_2) = (ec_key("es-1"), ec_key("es-2"));
    let file = TempJwks::new(&jwks_with(&[&es_1.jwk, &es_2.jwk]));
    let verifier = file_verifier(&file, settings()).await;
    // No kid: `rsa-1` is the only RSA key, so it is used; there are two EC keys, so no guessing.
    let rs_token = sign(Algorithm::RS256, None, &rsa_key(), &claims(json!({})));
    verifier.verify(&rs_token).await.expect("the only RSA key");
    let es_token = sign(Algorithm::ES256, None, &es_2.signing, &claims(json!({})));
    assert_refused!(verifier.verify(&es_token).await, JwtError::UnknownKid(None));
    let es_token = es256(&es_2, "es-2", json!({}));
    verifier.verify(&es_token).await.expect("es-2 by kid");
    // A kid naming a key of the other type.
    let mixed = es256(&es_2, "rsa-1", json!({}));
    assert_refused!(verifier.verify(&mixed).await, JwtError::KeyMismatch(_));
}

#[tokio::test]
async fn bad_signatures_and_garbage_are_refused() {
    let (es, impostor) = (ec_key("es-1"), ec_key("es-1"));
    let file = TempJwks::new(&jwks_with(&[&es.jwk]));
    let verifier = file_verifier(&file, settings()).await;
    let forged = es256(&impostor, "es-1", json!({}));
    assert_refused!(verifier.verify(&forged).await, JwtError::BadSignature);
    // A genuine RS256 token whose claims were changed after signing.
    let genuine = rs256(json!({}));
    verifier
        .verify(&genuine)
        .await
        .expect("the untouched token");
    let altered = BASE64URL.encode(claims(json!({"sub": "admin"})).to_string());
    let mut parts: Vec<&str> = genuine.split('.').collect();
    parts[1] = &altered;
    assert_refused!(
        verifier.verify(&parts.join(".")).await,
        JwtError::BadSignature
    );
    for garbage in ["", "Bearer ", "not-a-jwt", "a.b.c", "a.b.c.d.e"] {
        assert_refused!(verifier.verify(garbage).await, JwtError::Malformed(_));
    }
}

#[tokio::test]
async fn the_issuer_must_match() {
    let file = TempJwks::new(&jwks_with(&[]));
    let verifier = file_verifier(&file, settings()).await;
    let wrong = rs256(json!({"iss": "https://evil.test/pool-1"}));
    assert_refused!(verifier.verify(&wrong).await, JwtError::WrongIssuer);
    let missing = rs256(json!({"iss": null}));
    assert_refused!(verifier.verify(&missing).await, JwtError::MissingClaim(ref c) if c == "iss");
    let slash = rs256(json!({"iss": format!("{ISSUER}/")}));
    verifier
        .verify(&slash)
        .await
        .expect("a trailing slash is tolerated");
}

#[tokio::test]
async fn the_audience_must_match_when_one_is_configured() {
    let file = TempJwks::new(&jwks_with(&[]));
    let verifier = file_verifier(&file, settings()).await;
    let wrong = rs256(json!({"aud": "other-client"}));
    assert_refused!(verifier.verify(&wrong).await, JwtError::WrongAudience);
    let listed = rs256(json!({"aud": ["other-client", CLIENT]}));
    verifier
        .verify(&listed)
        .await
        .expect("one of several audiences");
    let lax = file_verifier(
        &file,
        JwtSettings {
            audiences: Vec::new(),
            ..settings()
        },
    )
    .await;
    lax.verify(&wrong)
        .await
        .expect("no audience configured: no check");
}

#[tokio::test]
async fn cognito_access_tokens_are_checked_by_client_id() {
    let file = TempJwks::new(&jwks_with(&[]));
    let verifier = file_verifier(&file, settings()).await;
    let access = |client_id: &str| {
        let changes = json!({
            "aud": null, "token_use": "access", "client_id": client_id,
            "scope": "aws.cognito.signin.user.admin", "username": "alice",
        });
        rs256(changes)
    };
    let claims_seen = verifier
        .verify(&access(CLIENT))
        .await
        .expect("the right client");
    assert_eq!(claims_seen["username"], "alice");
    assert_refused!(
        verifier.verify(&access("other-client")).await,
        JwtError::WrongAudience
    );
    // `client_id` stands in for `aud` only in access tokens.
    let id_token = claims(json!({"aud": null, "client_id": CLIENT}));
    let id_token = sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &id_token);
    assert_refused!(verifier.verify(&id_token).await, JwtError::WrongAudience);
}

#[tokio::test]
async fn times_are_checked_with_the_leeway() {
    let file = TempJwks::new(&jwks_with(&[]));
    let verifier = file_verifier(&file, settings()).await; // 60 s leeway
    let expired = rs256(json!({"exp": now() - 120, "iat": now() - 600}));
    assert_refused!(verifier.verify(&expired).await, JwtError::Expired);
    let just_expired = rs256(json!({"exp": now() - 30, "iat": now() - 600}));
    verifier
        .verify(&just_expired)
        .await
        .expect("expired within the leeway");
    let no_exp = rs256(json!({"exp": null}));
    assert_refused!(verifier.verify(&no_exp).await, JwtError::MissingClaim(ref c) if c == "exp");
    let future_nbf = rs256(json!({"nbf": now() + 300}));
    assert_refused!(verifier.verify(&future_nbf).await, JwtError::NotYetValid);
    let future_iat = rs256(json!({"iat": now() + 300}));
    assert_refused!(verifier.verify(&future_iat).await, JwtError::NotYetValid);
    let skewed = rs256(json!({"nbf": now() + 30, "iat": now() + 30}));
    verifier
        .verify(&skewed)
        .await
        .expect("issued slightly in the future, within the leeway");
}

#[tokio::test]
async fn an_unknown_kid_rereads_the_file_at_most_every_min_refetch_interval() {
    let file = TempJwks::new(&jwks_with(&[]));
    let interval = Duration::from_secs(1);
    let settings = JwtSettings {
        min_refetch_interval: interval,
        ..settings()
    };
    let verifier = file_verifier(&file, settings).await;
    let es = ec_key("es-new");
    let token = es256(&es, "es-new", json!({}));
    assert_refused!(verifier.verify(&token).await, JwtError::UnknownKid(Some(ref k)) if k == "es-new");
    file.write(&jwks_with(&[&es.jwk]));
    // The file was read at start-up, less than the interval ago: not read again yet.
    assert_refused!(verifier.verify(&token).await, JwtError::UnknownKid(_));
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    verifier
        .verify(&token)
        .await
        .expect("the file was read again");
}

#[tokio::test]
async fn hs256_needs_the_secret_and_never_meets_a_jwks_key() {
    let file = TempJwks::new(&jwks_with(&[]));
    let with_secret = JwtSettings {
        hs256_secret: Some("dev-secret".into()),
        ..settings()
    };
    let with_secret = file_verifier(&file, with_secret).await;
    let without_secret = file_verifier(&file, settings()).await;
    let hs256 = |secret: &[u8], kid| {
        sign(
            Algorithm::HS256,
            kid,
            &EncodingKey::from_secret(secret),
            &claims(json!({})),
        )
    };
    with_secret
        .verify(&hs256(b"dev-secret", None))
        .await
        .expect("the dev secret");
    assert_refused!(
        with_secret.verify(&hs256(b"guess", None)).await,
        JwtError::BadSignature
    );
    let refused = without_secret.verify(&hs256(b"dev-secret", None)).await;
    assert_refused!(refused, JwtError::UnsupportedAlgorithm(_));
    // Algorithm confusion: an HMAC "secret" that is the public key anyone can fetch.
    let confused = hs256(RSA_PUBLIC_PEM.as_bytes(), Some("rsa-1"));
    assert_refused!(
        without_secret.verify(&confused).await,
        JwtError::UnsupportedAlgorithm(_)
    );
    assert_refused!(with_secret.verify(&confused).await, JwtError::BadSignature);
    // `alg: none` is never accepted.
    let part = |json: Json| BASE64URL.encode(json.to_string());
    let unsigned = format!(
        "{}.{}.",
        part(json!({"alg": "none"})),
        part(claims(json!({})))
    );
    assert_refused!(
        with_secret.verify(&unsigned).await,
        JwtError::UnsupportedAlgorithm(_)
    );
    // With only a secret configured, RS256 has no keys to meet.
    let hs_only = JwtSettings {
        hs256_secret: Some("dev-secret".into()),
        ..JwtSettings::default()
    };
    let hs_only = JwtVerifier::new(hs_only, http()).await.expect("a verifier");
    let rs_token = rs256(json!({}));
    assert_refused!(
        hs_only.verify(&rs_token).await,
        JwtError::UnsupportedAlgorithm(_)
    );
}

#[tokio::test]
async fn a_jwks_url_is_refetched_for_an_unknown_kid_at_most_every_min_refetch_interval() {
    let (first, next, stranger) = (ec_key("es-1"), ec_key("es-2"), ec_key("garbage"));
    let idp = Idp::start(json!({"keys": [first.jwk]})).await;
    let interval = Duration::from_secs(1);
    let verifier = idp
        .verifier(JwtSettings {
            min_refetch_interval: interval,
            ..settings()
        })
        .await;
    assert_eq!(idp.jwks_hits(), 1);
    let (old_token, new_token) = (
        es256(&first, "es-1", json!({})),
        es256(&next, "es-2", json!({})),
    );
    verifier.verify(&old_token).await.expect("a known kid");
    // Fetched at start-up, just now: an unknown kid does not fetch again yet.
    assert_refused!(verifier.verify(&new_token).await, JwtError::UnknownKid(_));
    assert_eq!(idp.jwks_hits(), 1);
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    // Now it fetches, once; the IdP still lacks the key, and garbage kids must then wait.
    assert_refused!(verifier.verify(&new_token).await, JwtError::UnknownKid(_));
    assert_eq!(idp.jwks_hits(), 2);
    for _ in 0..5 {
        let garbage = es256(&stranger, "garbage", json!({}));
        assert_refused!(verifier.verify(&garbage).await, JwtError::UnknownKid(_));
    }
    assert_eq!(idp.jwks_hits(), 2);
    // The IdP rotates the new key in: picked up once the interval has passed.
    idp.jwks.lock().expect("JWKS")["keys"] = json!([first.jwk, next.jwk]);
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    verifier.verify(&new_token).await.expect("refetched");
    assert_eq!(idp.jwks_hits(), 3);
    verifier.verify(&new_token).await.expect("cached");
    verifier.verify(&old_token).await.expect("cached");
    assert_eq!(idp.jwks_hits(), 3);
}

#[tokio::test]
async fn keys_older_than_refresh_interval_are_fetched_again() {
    let (first, next) = (ec_key("es-1"), ec_key("es-2"));
    let idp = Idp::start(json!({"keys": [first.jwk]})).await;
    let refresh = Duration::from_secs(1);
    let settings = JwtSettings {
        refresh_interval: refresh,
        min_refetch_interval: Duration::from_secs(3600),
        ..settings()
    };
    let verifier = idp.verifier(settings).await;
    let (old_token, new_token) = (
        es256(&first, "es-1", json!({})),
        es256(&next, "es-2", json!({})),
    );
    // The IdP replaces es-1 by es-2. Until the refresh, nothing changes here.
    *idp.jwks.lock().expect("JWKS") = json!({"keys": [next.jwk]});
    verifier
        .verify(&old_token)
        .await
        .expect("not yet refreshed");
    assert_refused!(verifier.verify(&new_token).await, JwtError::UnknownKid(_));
    assert_eq!(idp.jwks_hits(), 1);
    tokio::time::sleep(refresh + Duration::from_millis(100)).await;
    assert_refused!(verifier.verify(&old_token).await, JwtError::UnknownKid(_));
    verifier.verify(&new_token).await.expect("refreshed");
    assert_eq!(idp.jwks_hits(), 2);
}

#[tokio::test]
async fn the_jwks_url_is_discovered_from_the_issuer() {
    let es = ec_key("es-1");
    let idp = Idp::start(json!({"keys": [es.jwk]})).await;
    let settings = JwtSettings {
        issuer: Some(format!("{}/", idp.base)),
        audiences: vec![CLIENT.into()],
        ..JwtSettings::default()
    };
    let verifier = JwtVerifier::new(settings, http())
        .await
        .expect("discovered");
    assert_eq!(idp.discovery_hits.load(Ordering::SeqCst), 1);
    assert_eq!(idp.jwks_hits(), 1);
    let token = es256(&es, "es-1", json!({"iss": idp.base}));
    verifier
        .verify(&token)
        .await
        .expect("signed by the discovered keys");
}

#[tokio::test]
async fn bad_sources_and_untrustworthy_keys_fail_at_start_up() {
    let new = |settings| JwtVerifier::new(settings, http());
    let missing = JwtSettings {
        jwks_file: Some("/nonexistent/jwks.json".into()),
        ..settings()
    };
    assert_refused!(new(missing).await, JwtError::Jwks(_));
    let idp = Idp::start(json!({"keys": []})).await;
    let not_found = JwtSettings {
        jwks_url: Some(format!("{}/nope", idp.base)),
        ..settings()
    };
    assert_refused!(new(not_found).await, JwtError::Jwks(_));
    let no_discovery = JwtSettings {
        issuer: Some(format!("{}/nope", idp.base)),
        ..settings()
    };
    assert_refused!(new(no_discovery).await, JwtError::Jwks(_));
    assert_refused!(new(JwtSettings::default()).await, JwtError::Config(_));
    let both = JwtSettings {
        jwks_file: Some("jwks.json".into()),
        jwks_url: Some(format!("{}/jwks.json", idp.base)),
        ..settings()
    };
    assert_refused!(new(both).await, JwtError::Config(_));
    // None of these may be used: a symmetric key, an encryption key, a 1024-bit RSA key, a
    // key pinned to another algorithm.
    let rsa = jwks_with(&[])["keys"][0].clone();
    let untrustworthy = json!({"keys": [
        {"kty": "oct", "kid": "oct-1", "k": BASE64URL.encode(RSA_PUBLIC_PEM)},
        {"kty": "RSA", "kid": "enc-1", "use": "enc", "n": rsa["n"], "e": rsa["e"]},
        {"kty": "RSA", "kid": "small", "n": BASE64URL.encode([0xc5; 128]), "e": "AQAB"},
        {"kty": "RSA", "kid": "ps-1", "alg": "PS256", "n": rsa["n"], "e": rsa["e"]},
    ]});
    let file = TempJwks::new(&untrustworthy);
    let only_untrustworthy = JwtSettings {
        jwks_file: Some(file.0.clone()),
        ..settings()
    };
    assert_refused!(new(only_untrustworthy).await, JwtError::Jwks(_));
    assert_refused!(ec_p256_jwk("k", &[0x04; 33]), JwtError::Jwks(_));
}

//! OIDC tokens signed RS256 and ES256, verified against a JWKS from a file and from a URL, over
//! HTTP and every WebSocket protocol: a good token is accepted; a bad signature, a wrong issuer
//! or audience, an expired token are refused; a token with an unknown `kid` is refused until the
//! JWKS gains that key, then accepted without a restart.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value as Json, json};
use support::TestServer;
use support::auth::{AUDIENCE, ISSUER, accepted_everywhere, claims, now, refused_everywhere};

const RSA_PRIVATE: &str = include_str!("../fixtures/jwt/test-only-rsa-private.pem");
const RSA_JWKS: &str = include_str!("../fixtures/jwt/jwks-rsa.json");

/// A PEM block's DER (jsonwebtoken is built without PEM support).
fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn rs256(kid: &str, claims: &Json) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_der(&pem_body(RSA_PRIVATE)),
    )
    .unwrap()
}

/// A fresh ES256 key: its signer and its JWK under `kid`.
fn es256_key(kid: &str) -> (EncodingKey, Json) {
    let key = rcgen::KeyPair::generate().unwrap();
    let jwk = switchboard::auth::jwt::ec_p256_jwk(kid, key.public_key_raw()).unwrap();
    (EncodingKey::from_ec_der(&key.serialize_der()), jwk)
}

fn es256(kid: &str, key: &EncodingKey, claims: &Json) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn rsa_keys() -> Vec<Json> {
    let jwks: Json = serde_json::from_str(RSA_JWKS).unwrap();
    jwks["keys"].as_array().unwrap().clone()
}

fn server_args(source: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--auth-default",
        "oidc",
        "--auth-additional",
        "api-key",
        "--jwt-issuer",
        ISSUER,
        "--jwt-audience",
        AUDIENCE,
        "--jwks-min-refetch",
        "200ms",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(source.iter().map(|s| (*s).to_owned()));
    args
}

/// The checks every JWKS source must pass; `add_key` publishes a key in the source.
async fn verify_against(server: &TestServer, add_key: impl Fn(Json)) {
    let token = |c: &Json| rs256("rsa-1", c);
    accepted_everywhere(
        server,
        &json!({"Authorization": token(&claims("u1", json!({})))}),
    )
    .await;
    let (impostor, _) = es256_key("rsa-1");
    for (what, bad) in [
        (
            "bad signature",
            es256("rsa-1", &impostor, &claims("u1", json!({}))),
        ),
        (
            "wrong issuer",
            token(&claims("u1", json!({"iss": "https://evil.test"}))),
        ),
        (
            "wrong audience",
            token(&claims("u1", json!({"aud": "another-app"}))),
        ),
        (
            "expired",
            token(&claims("u1", json!({"exp": now() - 3600}))),
        ),
    ] {
        eprintln!("case: {what}");
        refused_everywhere(server, &json!({"Authorization": bad})).await;
    }

    let (key, jwk) = es256_key("es-new");
    let fresh = es256("es-new", &key, &claims("u2", json!({})));
    refused_everywhere(server, &json!({"Authorization": fresh})).await;
    add_key(jwk);
    // Past the minimum time between reloads, the unknown kid makes the server look again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    accepted_everywhere(server, &json!({"Authorization": fresh})).await;
}

#[tokio::test]
async fn a_jwks_file() {
    let path = std::env::temp_dir().join(format!("switchboard-jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, json!({"keys": rsa_keys()}).to_string()).unwrap();
    let args = server_args(&["--jwks-file", path.to_str().unwrap()]);
    let server = TestServer::with_args(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let file = path.clone();
    verify_against(&server, move |jwk| {
        let mut keys = rsa_keys();
        keys.push(jwk);
        std::fs::write(&file, json!({"keys": keys}).to_string()).unwrap();
    })
    .await;
    std::fs::remove_file(path).ok();
}

#[tokio::test]
async fn a_jwks_url() {
    let jwks = Arc::new(Mutex::new(json!({"keys": rsa_keys()})));
    let served = jwks.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let served = served.clone();
            async move { axum::Json(served.lock().unwrap().clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let args = server_args(&["--jwks-url", &url]);
    let server = TestServer::with_args(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    verify_against(&server, move |jwk| {
        jwks.lock().unwrap()["keys"]
            .as_array_mut()
            .unwrap()
            .push(jwk);
    })
    .await;
}

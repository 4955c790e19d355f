//! Each auth mode accepted with good credentials and refused with bad ones, over `POST /graphql`
//! and at the connection of every WebSocket protocol: API keys (wrong, expired), OIDC tokens
//! (HS256 locally; RS256/ES256 against a JWKS in `auth_jwks.rs`), the Lambda-style authorizer
//! (denial, and one call per token within its TTL). IAM is in `auth_iam.rs`.

use crate::support;

use serde_json::json;
use support::auth::{
    self, AUDIENCE, HS256_SECRET, ISSUER, OIDC_ARGS, TestAuthorizer, accepted_everywhere, claims,
    hs256, hs256_with, refused_everywhere,
};
use support::{KEY, TestServer};

#[tokio::test]
async fn api_keys_wrong_and_expired_are_refused() {
    let server = TestServer::with_args(&[
        "--api-key",
        "da2-expired@2020-01-01T00:00:00Z",
        "--api-key",
        "da2-later@2999-01-01T00:00:00Z",
    ])
    .await;
    accepted_everywhere(&server, &json!({"x-api-key": KEY})).await;
    accepted_everywhere(&server, &json!({"x-api-key": "da2-later"})).await;
    refused_everywhere(&server, &json!({"x-api-key": "da2-wrong"})).await;
    refused_everywhere(&server, &json!({"x-api-key": "da2-expired"})).await;
}

#[tokio::test]
async fn api_keys_from_a_file() {
    let path = std::env::temp_dir().join(format!("switchboard-keys-{}", uuid::Uuid::new_v4()));
    std::fs::write(
        &path,
        "# team keys\nda2-fromfile\nda2-old @ 2021-06-01T00:00:00Z # rotated\n",
    )
    .unwrap();
    let server = TestServer::with_args(&["--api-keys-file", path.to_str().unwrap()]).await;
    accepted_everywhere(&server, &json!({"x-api-key": "da2-fromfile"})).await;
    refused_everywhere(&server, &json!({"x-api-key": "da2-old"})).await;
    std::fs::remove_file(path).ok();
}

#[tokio::test]
async fn oidc_tokens_are_verified() {
    let server = TestServer::with_args(&OIDC_ARGS).await;
    let good = hs256(&claims("u1", json!({})));
    accepted_everywhere(&server, &json!({"Authorization": good})).await;
    accepted_everywhere(&server, &json!({"authorization": format!("Bearer {good}")})).await;
    let bad = [
        (
            "bad signature",
            hs256_with(
                "another-secret-entirely-0123456789",
                &claims("u1", json!({})),
            ),
        ),
        (
            "wrong issuer",
            hs256(&claims("u1", json!({"iss": "https://evil.test"}))),
        ),
        (
            "wrong audience",
            hs256(&claims("u1", json!({"aud": "someone-else"}))),
        ),
        (
            "expired",
            hs256(&claims("u1", json!({"exp": auth::now() - 3600}))),
        ),
        ("not a token", "not.a.token".to_owned()),
    ];
    for (what, token) in bad {
        eprintln!("case: {what}");
        refused_everywhere(&server, &json!({"Authorization": token})).await;
    }
    // Sanity: the constants the tokens use are the server's.
    assert!(!HS256_SECRET.is_empty() && !ISSUER.is_empty() && !AUDIENCE.is_empty());
}

#[tokio::test]
async fn the_authorizer_decides_and_is_asked_once_per_token_within_its_ttl() {
    let authorizer = TestAuthorizer::start(60).await;
    let server = TestServer::with_args(&[
        "--auth-default",
        "lambda",
        "--auth-additional",
        "api-key",
        "--authorizer-url",
        &authorizer.url,
        "--api-id",
        "api-123",
    ])
    .await;
    accepted_everywhere(&server, &json!({"Authorization": "allow-u1"})).await;
    assert_eq!(
        authorizer.calls(),
        1,
        "one call for one token within the TTL"
    );
    let request = authorizer.last.lock().unwrap().clone();
    assert_eq!(request["authorizationToken"], "allow-u1");
    assert_eq!(request["requestContext"]["apiId"], "api-123");
    assert!(request["requestContext"]["requestId"].is_string());
    assert!(request["requestContext"]["accountId"].is_string());

    refused_everywhere(&server, &json!({"Authorization": "deny-me"})).await;
    // Denials are cached for the default TTL too, as AppSync does: one more call in all.
    assert_eq!(authorizer.calls(), 2);
}

#[tokio::test]
async fn a_mode_that_is_not_enabled_is_refused() {
    // Only API keys: a token is refused even if it is perfectly valid elsewhere.
    let server = TestServer::start().await;
    refused_everywhere(
        &server,
        &json!({"Authorization": hs256(&claims("u1", json!({})))}),
    )
    .await;
}

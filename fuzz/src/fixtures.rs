//! What the deeper targets run against, built once per process: the default schema's [`Api`],
//! a JWT verifier, the IAM credentials of the SigV4 test vectors, and a runtime for the async
//! ones among them. Nothing here touches the network.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use switchboard::api::Api;
use switchboard::auth::jwt::{JwtSettings, JwtVerifier};
use switchboard::auth::sigv4::IamCredentials;
use switchboard::auth::{AuthMode, Identity};
use switchboard::graphql::schema::access::{AccessPolicy, OwnerRule};
use switchboard::graphql::schema::{DEFAULT_SDL, SchemaModel};

/// The HS256 secret of [`Fixtures::jwt`]; `fuzz/corpus/jwt_header/` has tokens signed with it,
/// so the fuzzer starts from tokens that pass and mutates from there.
pub const JWT_SECRET: &str = "switchboard-fuzz-hs256-secret";
/// The issuer those tokens carry and the verifier requires.
pub const JWT_ISSUER: &str = "https://issuer.switchboard.invalid";
/// The audience those tokens carry and the verifier requires.
pub const JWT_AUDIENCE: &str = "switchboard-fuzz";

/// The SigV4 test vectors: their credentials verify the real signatures in the sigv4 seeds.
const SIGV4_VECTORS: &str = include_str!("../../tests/fixtures/sigv4/botocore.json");

/// Shared, read-only state of the targets.
pub struct Fixtures {
    /// A single-threaded runtime: the async parts under test never wait on I/O but the file read
    /// of the JWKS and the subscription validation's timer.
    pub runtime: tokio::runtime::Runtime,
    /// The default schema, with the server's default limits and an owner rule on `userId`, so
    /// the access check reads arguments and variables too.
    pub api: Api,
    /// The caller the access check is made for: a token user `u1` in no group.
    pub caller: Identity,
    /// HS256 with [`JWT_SECRET`], plus the RS256 test key of `tests/fixtures/jwt/`.
    pub jwt: JwtVerifier,
    /// The access keys of `tests/fixtures/sigv4/` (test-only example keys).
    pub iam: IamCredentials,
}

/// The fixtures, built on first use. Building them cannot depend on the input, so a failure
/// here is a broken setup, reported as such.
pub fn get() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(build)
}

/// Builds the fixtures; panics (failing every target's test) if the repository's test keys or
/// default schema cannot be loaded.
fn build() -> Fixtures {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds");
    let jwt = runtime
        .block_on(JwtVerifier::new(
            JwtSettings {
                hs256_secret: Some(JWT_SECRET.to_owned()),
                jwks_file: Some(
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../tests/fixtures/jwt/jwks-rsa.json"),
                ),
                issuer: Some(JWT_ISSUER.to_owned()),
                audiences: vec![JWT_AUDIENCE.to_owned()],
                ..JwtSettings::default()
            },
            switchboard::net::http_client::client().expect("the HTTP client builds"),
        ))
        .expect("the JWT verifier starts");
    let caller = Identity::from_claims(
        AuthMode::Oidc,
        serde_json::json!({"sub": "u1", "iss": JWT_ISSUER})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    Fixtures {
        runtime,
        api: default_api(),
        caller,
        jwt,
        iam: iam_credentials(),
    }
}

/// The default schema served as the server would serve it (with the owner rule on), over a
/// broker that goes nowhere (`schema check`'s): validation never publishes.
fn default_api() -> Api {
    let model = Arc::new(SchemaModel::parse(DEFAULT_SDL).expect("the default schema parses"));
    let policy = AccessPolicy {
        default_mode: AuthMode::ApiKey,
        owner: Some(OwnerRule {
            arg: "userId".to_owned(),
            claim: "sub".to_owned(),
            trusted_modes: vec![AuthMode::ApiKey, AuthMode::Iam],
        }),
        admin_group: Some("admins".to_owned()),
    };
    switchboard::api::check::detached_api(model, policy).expect("the default schema serves")
}

/// The test vectors' `credentials` array, as an `--iam-credentials` file holds it.
fn iam_credentials() -> IamCredentials {
    let vectors: serde_json::Value =
        serde_json::from_str(SIGV4_VECTORS).expect("the SigV4 vectors are JSON");
    IamCredentials::from_json(&vectors["credentials"].to_string())
        .expect("the SigV4 vectors' credentials load")
}

/// How long a subscription's validation may take, as the server's `--subscribe-timeout`.
pub const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

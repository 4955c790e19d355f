//! Who may call. The [`Authenticator`] turns the [`Credentials`] a request or a connection
//! presents into a verified [`Identity`], with whichever of AppSync's modes the API enables:
//! API keys, OIDC and Cognito tokens, a Lambda-style authorizer, IAM signatures. What an identity
//! may then touch is the schema's business (`schema::access`).
//!
//! Failures carry only AppSync's two messages; the reason (never the secret) goes to the debug
//! log.

pub mod api_keys;
pub mod credentials;
pub mod jwt;
pub mod lambda;
pub mod sigv4;

use std::time::SystemTime;

use chrono::Utc;

pub use crate::caller::auth_mode::AuthMode;
pub use crate::caller::identity::Identity;
pub use api_keys::{ApiKeyError, ApiKeys, KeyCheck};
pub use credentials::{Credentials, CredentialsError};

use crate::config::Settings;
use crate::events::channel::{Channel, ChannelAction};
use crate::operation::GraphqlRequest;
use jwt::{JwtSettings, JwtVerifier};
use lambda::LambdaAuthorizer;
use sigv4::IamCredentials;

/// Why a request was refused; the messages are AppSync's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Valid authorization header not provided.")]
    Missing,
    #[error("You are not authorized to make this call.")]
    Invalid,
}

/// Why the auth configuration cannot be used; the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(transparent)]
    ApiKeys(#[from] ApiKeyError),
    #[error("the JWT verifier cannot start: {0}")]
    Jwt(#[from] jwt::JwtError),
    #[error("the IAM credentials cannot be read: {0}")]
    Iam(#[from] sigv4::SigV4Error),
    #[error("auth mode `{mode}` is enabled but not configured: {needs}")]
    Unconfigured { mode: AuthMode, needs: &'static str },
}

/// What a signature covers, for IAM: the request being authorized.
#[derive(Debug, Clone, Copy)]
pub enum Signed<'a> {
    /// `POST /graphql`: its path, query string and exact body.
    Http {
        path: &'a str,
        query: &'a str,
        body: &'a [u8],
    },
    /// An AppSync WebSocket connect: `POST /graphql/connect` with body `{}`.
    Connect,
    /// An AppSync `start`: `POST /graphql` with the exact `payload.data` as body.
    Start { data: &'a str },
    /// Nothing signable (the standard WebSocket protocols).
    Nothing,
}

/// What the caller asks to do: the Lambda authorizer's `requestContext` describes it, and it
/// may answer differently for each.
#[derive(Debug, Clone, Copy)]
pub enum Operation<'a> {
    /// A GraphQL request; `None` for a connect, or before the request is read.
    Graphql(Option<&'a GraphqlRequest>),
    /// An AppSync Events connect (`EVENT_CONNECT`).
    EventConnect,
    /// An AppSync Events subscribe or publish on a channel (`EVENT_SUBSCRIBE`, `EVENT_PUBLISH`).
    EventChannel(ChannelAction, &'a Channel),
}

/// One request to authenticate.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    pub credentials: &'a Credentials,
    pub signed: Signed<'a>,
    pub operation: Operation<'a>,
}

/// The API's auth modes and the verifier for each.
pub struct Authenticator {
    pub default_mode: AuthMode,
    enabled: Vec<AuthMode>,
    keys: ApiKeys,
    jwt: Option<JwtVerifier>,
    lambda: Option<LambdaAuthorizer>,
    iam: Option<IamCredentials>,
    iam_max_skew: std::time::Duration,
}

impl Authenticator {
    /// Builds the verifiers the settings enable. Returns the API key it generated when
    /// `api-key` mode is on and no key is configured.
    pub async fn new(
        settings: &Settings,
        http: reqwest::Client,
    ) -> Result<(Self, Option<String>), AuthSetupError> {
        let mut enabled = vec![settings.auth_default];
        for mode in &settings.auth_additional {
            if !enabled.contains(mode) {
                enabled.push(*mode);
            }
        }
        let on = |mode| enabled.contains(&mode);
        let mut entries = settings.api_keys.clone();
        if let Some(path) = &settings.api_keys_file {
            entries.extend(ApiKeys::read_file(path)?);
        }
        let mut keys = ApiKeys::parse(entries.iter().map(String::as_str))?;
        let generated = (on(AuthMode::ApiKey) && keys.is_empty()).then(ApiKeys::generate);
        if let Some(key) = &generated {
            keys.add(key.clone());
        }
        let jwt = if on(AuthMode::Oidc) || on(AuthMode::Cognito) {
            if settings.jwt_hs256_secret.is_none()
                && settings.jwks_file.is_none()
                && settings.jwks_url.is_none()
                && settings.jwt_issuer.is_none()
            {
                return Err(AuthSetupError::Unconfigured {
                    mode: if on(AuthMode::Oidc) {
                        AuthMode::Oidc
                    } else {
                        AuthMode::Cognito
                    },
                    needs: "--jwks-file, --jwks-url, --jwt-issuer or --jwt-hs256-secret",
                });
            }
            let jwt_settings = JwtSettings {
                hs256_secret: settings.jwt_hs256_secret.clone(),
                jwks_file: settings.jwks_file.clone(),
                jwks_url: settings.jwks_url.clone(),
                issuer: settings.jwt_issuer.clone(),
                audiences: settings.jwt_audience.clone(),
                leeway: settings.jwt_leeway,
                refresh_interval: settings.jwks_refresh,
                min_refetch_interval: settings.jwks_min_refetch,
            };
            Some(JwtVerifier::new(jwt_settings, http.clone()).await?)
        } else {
            None
        };
        let lambda = if on(AuthMode::Lambda) {
            let url = settings
                .authorizer_url
                .clone()
                .ok_or(AuthSetupError::Unconfigured {
                    mode: AuthMode::Lambda,
                    needs: "--authorizer-url",
                })?;
            Some(LambdaAuthorizer::new(
                url,
                settings.api_id.clone(),
                settings.account_id.clone(),
                settings.authorizer_ttl,
                settings.authorizer_timeout,
                http,
            ))
        } else {
            None
        };
        let iam = if on(AuthMode::Iam) {
            let path = settings
                .iam_credentials
                .as_ref()
                .ok_or(AuthSetupError::Unconfigured {
                    mode: AuthMode::Iam,
                    needs: "--iam-credentials",
                })?;
            Some(IamCredentials::load(path)?)
        } else {
            None
        };
        let authenticator = Self {
            default_mode: settings.auth_default,
            enabled,
            keys,
            jwt,
            lambda,
            iam,
            iam_max_skew: settings.iam_max_skew,
        };
        Ok((authenticator, generated))
    }

    pub fn enabled(&self, mode: AuthMode) -> bool {
        self.enabled.contains(&mode)
    }

    /// The mode a request's credentials are checked as: a SigV4 `Authorization` is IAM, an
    /// `x-api-key` an API key, another `Authorization` a JWT (when a token mode is on and it
    /// looks like one; also when no authorizer is configured) or else the authorizer's token.
    /// A JWT counts as `oidc` until verified tells Cognito apart. `None`: no credentials at all.
    pub fn mode_of(&self, credentials: &Credentials) -> Option<AuthMode> {
        let authorization = credentials.authorization();
        if authorization.is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")) {
            Some(AuthMode::Iam)
        } else if credentials.api_key().is_some() {
            Some(AuthMode::ApiKey)
        } else if let Some(token) = authorization {
            let jwt = self.jwt.is_some() && token.split('.').count() == 3;
            Some(if jwt || self.lambda.is_none() {
                AuthMode::Oidc
            } else {
                AuthMode::Lambda
            })
        } else {
            None
        }
    }

    /// Verifies the caller in the mode [`Authenticator::mode_of`] picks.
    pub async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Identity, AuthError> {
        let credentials = request.credentials;
        let result = match (
            self.mode_of(credentials),
            credentials.api_key(),
            credentials.authorization(),
        ) {
            (Some(AuthMode::Iam), ..) => self.iam(request),
            (Some(AuthMode::ApiKey), Some(key), _) => self.api_key(key),
            (Some(AuthMode::Lambda), _, Some(token)) => self.lambda(token, request).await,
            (Some(_), _, Some(token)) => self.jwt(token).await,
            _ => Err(Refusal::Missing),
        };
        result.map_err(|refusal| {
            tracing::debug!(reason = %refusal, "authentication refused");
            refusal.public()
        })
    }

    fn api_key(&self, key: &str) -> Result<Identity, Refusal> {
        if !self.enabled(AuthMode::ApiKey) {
            return Err(Refusal::ModeOff(AuthMode::ApiKey));
        }
        match self.keys.check(key, Utc::now()) {
            KeyCheck::Valid => Ok(Identity::new(AuthMode::ApiKey, "api-key")),
            KeyCheck::Unknown => Err(Refusal::Because("unknown API key".to_owned())),
            KeyCheck::Expired => Err(Refusal::Because("expired API key".to_owned())),
        }
    }

    async fn jwt(&self, token: &str) -> Result<Identity, Refusal> {
        let Some(jwt) = &self.jwt else {
            return Err(Refusal::Because(
                "no enabled mode takes an Authorization token".to_owned(),
            ));
        };
        let claims = jwt
            .verify(token)
            .await
            .map_err(|e| Refusal::Because(format!("token: {e}")))?;
        Ok(Identity::from_claims(self.token_mode(&claims), claims))
    }

    async fn lambda(&self, token: &str, request: AuthRequest<'_>) -> Result<Identity, Refusal> {
        let Some(lambda) = &self.lambda else {
            return Err(Refusal::Missing);
        };
        lambda
            .authorize(token, request.operation, request.credentials)
            .await
            .map_err(|e| Refusal::Because(format!("authorizer: {e}")))
    }

    /// Cognito tokens say so (`token_use`, a `cognito-idp` issuer); anything else is OIDC. When
    /// only one of the two modes is on, tokens belong to it.
    fn token_mode(&self, claims: &serde_json::Map<String, serde_json::Value>) -> AuthMode {
        let cognito_like = claims.contains_key("token_use")
            || claims
                .get("iss")
                .and_then(|i| i.as_str())
                .is_some_and(|i| i.contains("cognito-idp"));
        match (
            self.enabled(AuthMode::Oidc),
            self.enabled(AuthMode::Cognito),
        ) {
            (true, true) if cognito_like => AuthMode::Cognito,
            (true, _) => AuthMode::Oidc,
            _ => AuthMode::Cognito,
        }
    }

    fn iam(&self, request: AuthRequest<'_>) -> Result<Identity, Refusal> {
        let Some(iam) = &self.iam else {
            return Err(Refusal::ModeOff(AuthMode::Iam));
        };
        let (path, query, body): (&str, &str, &[u8]) = match request.signed {
            Signed::Http { path, query, body } => (path, query, body),
            Signed::Connect => ("/graphql/connect", "", b"{}"),
            Signed::Start { data } => ("/graphql", "", data.as_bytes()),
            Signed::Nothing => {
                return Err(Refusal::Because(
                    "this protocol carries no signable request".to_owned(),
                ));
            }
        };
        let caller = sigv4::verify_credentials(
            iam,
            request.credentials,
            path,
            query,
            body,
            SystemTime::now(),
            self.iam_max_skew,
        )
        .map_err(|e| Refusal::Because(format!("signature: {e}")))?;
        Ok(Identity::new(AuthMode::Iam, caller.access_key_id))
    }

    /// The configured API keys, for scrubbing.
    pub fn api_keys(&self) -> &ApiKeys {
        &self.keys
    }
}

/// Why, for the log; the caller only learns [`AuthError`].
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("no credentials")]
    Missing,
    #[error("auth mode {0} is not enabled")]
    ModeOff(AuthMode),
    #[error("{0}")]
    Because(String),
}

impl Refusal {
    fn public(&self) -> AuthError {
        match self {
            Self::Missing => AuthError::Missing,
            _ => AuthError::Invalid,
        }
    }
}

/// Equality whose time does not depend on where the inputs differ (only on their lengths), for
/// comparing secrets and signatures.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

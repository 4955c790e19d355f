//! A Lambda-style authorizer: for `lambda` mode, each new token is POSTed to `--authorizer-url`
//! as AppSync's Lambda authorizer request, and the answer (AppSync's response shape) is cached per
//! token for its `ttlOverride`, or `--authorizer-ttl`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::identity::Identity;
use crate::auth_mode::AuthMode;
use crate::operation::GraphqlRequest;

/// Answers kept at most; past it expired ones go, and if that is not enough, all of them.
const CACHE_CAPACITY: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    #[error("the authorizer could not be reached: {0}")]
    Unreachable(String),
    #[error("the authorizer answered HTTP {0}")]
    Status(u16),
    #[error("the authorizer's answer is not AppSync's response shape: {0}")]
    BadResponse(String),
    #[error("the authorizer denied the token")]
    Denied,
}

/// AppSync's Lambda authorizer request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizerRequest<'a> {
    authorization_token: &'a str,
    request_context: RequestContext<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext<'a> {
    api_id: &'a str,
    account_id: &'a str,
    request_id: String,
    query_string: &'a str,
    operation_name: Option<&'a str>,
    variables: Json,
}

/// AppSync's Lambda authorizer response.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizerResponse {
    is_authorized: bool,
    #[serde(default)]
    resolver_context: Map<String, Json>,
    #[serde(default)]
    denied_fields: Vec<String>,
    /// Seconds to cache this answer; 0 means do not cache.
    #[serde(default)]
    ttl_override: Option<u64>,
}

/// The authorizer client and its cache.
pub struct LambdaAuthorizer {
    url: String,
    api_id: String,
    account_id: String,
    default_ttl: Duration,
    timeout: Duration,
    http: reqwest::Client,
    /// Token -> (answer, until when it stands).
    cache: DashMap<String, (Arc<AuthorizerResponse>, Instant)>,
}

impl LambdaAuthorizer {
    pub fn new(
        url: String,
        api_id: String,
        account_id: String,
        default_ttl: Duration,
        timeout: Duration,
        http: reqwest::Client,
    ) -> Self {
        Self {
            url,
            api_id,
            account_id,
            default_ttl,
            timeout,
            http,
            cache: DashMap::new(),
        }
    }

    /// Judges `token` for `operation` (the GraphQL request, when there is one).
    pub async fn authorize(
        &self,
        token: &str,
        operation: Option<&GraphqlRequest>,
    ) -> Result<Identity, AuthorizerError> {
        let cached = self
            .cache
            .get(token)
            .filter(|entry| entry.1 > Instant::now())
            .map(|entry| entry.0.clone());
        let answer = match cached {
            Some(answer) => answer,
            None => self.ask(token, operation).await?,
        };
        if !answer.is_authorized {
            return Err(AuthorizerError::Denied);
        }
        let mut identity = Identity::new(AuthMode::Lambda, "lambda");
        identity.claims = answer.resolver_context.clone();
        identity.denied_fields = answer
            .denied_fields
            .iter()
            .map(|field| denied_field_name(field))
            .collect();
        Ok(identity)
    }

    async fn ask(
        &self,
        token: &str,
        operation: Option<&GraphqlRequest>,
    ) -> Result<Arc<AuthorizerResponse>, AuthorizerError> {
        let request = AuthorizerRequest {
            authorization_token: token,
            request_context: RequestContext {
                api_id: &self.api_id,
                account_id: &self.account_id,
                request_id: uuid::Uuid::new_v4().to_string(),
                query_string: operation.map(|o| o.query.as_str()).unwrap_or_default(),
                operation_name: operation.and_then(|o| o.operation_name.as_deref()),
                variables: operation
                    .and_then(|o| o.variables.clone())
                    .unwrap_or_else(|| Json::Object(Map::new())),
            },
        };
        let response = self
            .http
            .post(&self.url)
            .timeout(self.timeout)
            .json(&request)
            .send()
            .await
            .map_err(|e| AuthorizerError::Unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(AuthorizerError::Status(response.status().as_u16()));
        }
        let answer: AuthorizerResponse = response
            .json()
            .await
            .map_err(|e| AuthorizerError::BadResponse(e.without_url().to_string()))?;
        let answer = Arc::new(answer);
        let ttl = answer
            .ttl_override
            .map(Duration::from_secs)
            .unwrap_or(self.default_ttl);
        if !ttl.is_zero() {
            self.remember(token, answer.clone(), ttl);
        }
        Ok(answer)
    }

    fn remember(&self, token: &str, answer: Arc<AuthorizerResponse>, ttl: Duration) {
        if self.cache.len() >= CACHE_CAPACITY {
            let now = Instant::now();
            self.cache.retain(|_, entry| entry.1 > now);
            if self.cache.len() >= CACHE_CAPACITY {
                self.cache.clear();
            }
        }
        self.cache
            .insert(token.to_owned(), (answer, Instant::now() + ttl));
    }
}

/// `Type.field` from AppSync's `deniedFields` entries, which are either that already or a field
/// ARN (`arn:aws:appsync:region:account:apis/id/types/Type/fields/field`).
fn denied_field_name(entry: &str) -> String {
    match entry.split_once("/types/") {
        Some((_, rest)) => rest.replacen("/fields/", ".", 1),
        None => entry.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_fields_by_name_or_arn() {
        assert_eq!(
            denied_field_name("Subscription.onStatusUpdate"),
            "Subscription.onStatusUpdate"
        );
        assert_eq!(
            denied_field_name(
                "arn:aws:appsync:us-east-1:111:apis/abc/types/Query/fields/statusHistory"
            ),
            "Query.statusHistory"
        );
    }
}

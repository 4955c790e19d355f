//! A Lambda-style authorizer: for `lambda` mode, each new token is POSTed to `--authorizer-url`
//! as AppSync's Lambda authorizer request (the GraphQL API's shape, or the Events API's with
//! `EVENT_CONNECT`/`EVENT_SUBSCRIBE`/`EVENT_PUBLISH` and the channel), and the answer (AppSync's
//! response shape) is cached for its `ttlOverride`, or `--authorizer-ttl`: per token for
//! GraphQL, per token, action and channel for Events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::Identity;
use super::Operation;
use super::credentials::Credentials;
use crate::caller::auth_mode::AuthMode;
use crate::events::channel::ChannelAction;

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

/// AppSync's Lambda authorizer request: the GraphQL shape, or the Events one.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizerRequest<'a> {
    authorization_token: &'a str,
    request_context: RequestContext<'a>,
    /// The request's headers (the upgrade's or the auth object's), names lower-cased.
    request_headers: Map<String, Json>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext<'a> {
    api_id: &'a str,
    account_id: &'a str,
    request_id: String,
    #[serde(flatten)]
    operation: OperationContext<'a>,
}

/// What the request is about, in the API's own words.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OperationContext<'a> {
    #[serde(rename_all = "camelCase")]
    Graphql {
        query_string: &'a str,
        operation_name: Option<&'a str>,
        variables: Json,
    },
    /// `EVENT_CONNECT` has no channel; `EVENT_SUBSCRIBE` and `EVENT_PUBLISH` name it.
    #[serde(rename_all = "camelCase")]
    Event {
        operation: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        channel_namespace_name: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
    },
}

impl<'a> OperationContext<'a> {
    fn of(operation: Operation<'a>) -> Self {
        match operation {
            Operation::Graphql(request) => Self::Graphql {
                query_string: request.map(|o| o.query.as_str()).unwrap_or_default(),
                operation_name: request.and_then(|o| o.operation_name.as_deref()),
                variables: request
                    .and_then(|o| o.variables.clone())
                    .unwrap_or_else(|| Json::Object(Map::new())),
            },
            Operation::EventConnect => Self::Event {
                operation: "EVENT_CONNECT",
                channel_namespace_name: None,
                channel: None,
            },
            Operation::EventChannel(action, channel) => Self::Event {
                operation: match action {
                    ChannelAction::Subscribe => "EVENT_SUBSCRIBE",
                    ChannelAction::Publish => "EVENT_PUBLISH",
                },
                channel_namespace_name: Some(channel.namespace()),
                channel: Some(channel.path()),
            },
        }
    }

    /// What the cached answer is for. A GraphQL answer stands for the token (AppSync's rule:
    /// `deniedFields` carry the per-operation part); an Events answer for the token, action and
    /// channel, since an Events authorizer decides per channel.
    fn cache_key(&self, token: &str) -> String {
        match self {
            Self::Graphql { .. } => token.to_owned(),
            Self::Event {
                operation, channel, ..
            } => format!("{token}\n{operation}\n{}", channel.as_deref().unwrap_or("")),
        }
    }
}

/// AppSync's Lambda authorizer response.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizerResponse {
    is_authorized: bool,
    /// `resolverContext` from a GraphQL authorizer, `handlerContext` from an Events one.
    #[serde(default, alias = "handlerContext")]
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
    /// [`OperationContext::cache_key`] -> (answer, until when it stands).
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

    /// Judges `token` for `operation`, presented with `credentials` (the request's headers).
    pub async fn authorize(
        &self,
        token: &str,
        operation: Operation<'_>,
        credentials: &Credentials,
    ) -> Result<Identity, AuthorizerError> {
        let operation = OperationContext::of(operation);
        let key = operation.cache_key(token);
        let cached = self
            .cache
            .get(&key)
            .filter(|entry| entry.1 > Instant::now())
            .map(|entry| entry.0.clone());
        let answer = match cached {
            Some(answer) => answer,
            None => self.ask(token, key, operation, credentials).await?,
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
        key: String,
        operation: OperationContext<'_>,
        credentials: &Credentials,
    ) -> Result<Arc<AuthorizerResponse>, AuthorizerError> {
        let request = AuthorizerRequest {
            authorization_token: token,
            request_context: RequestContext {
                api_id: &self.api_id,
                account_id: &self.account_id,
                request_id: uuid::Uuid::new_v4().to_string(),
                operation,
            },
            request_headers: credentials
                .headers()
                .map(|(name, value)| (name.to_owned(), Json::String(value.to_owned())))
                .collect(),
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
            self.remember(key, answer.clone(), ttl);
        }
        Ok(answer)
    }

    fn remember(&self, key: String, answer: Arc<AuthorizerResponse>, ttl: Duration) {
        if self.cache.len() >= CACHE_CAPACITY {
            let now = Instant::now();
            self.cache.retain(|_, entry| entry.1 > now);
            if self.cache.len() >= CACHE_CAPACITY {
                self.cache.clear();
            }
        }
        self.cache.insert(key, (answer, Instant::now() + ttl));
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

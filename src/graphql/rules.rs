//! Server-side rules for subscriptions and mutations, in a small JSON file beside the schema
//! (`--rules FILE`): what AppSync resolvers would compute with `setSubscriptionFilter`,
//! `setSubscriptionInvalidationFilter` and `invalidateSubscriptions`, declared instead of
//! programmed. A file rather than directives, so the schema stays deployable to AppSync as it
//! is (AppSync refuses directives it does not know).
//!
//! ```json
//! {
//!   "subscriptions": {
//!     "onStatusUpdate": {
//!       "filter": {"status": {"in": ["complete", "error"]}},
//!       "invalidationFilter": {"userId": {"eq": "${args.userId}"}, "jobId": {"eq": "${args.jobId}"}}
//!     }
//!   },
//!   "invalidations": [
//!     {"mutation": "cancelJob", "subscriptionField": "onStatusUpdate",
//!      "payload": {"userId": "${result.userId}", "jobId": "${result.jobId}"}}
//!   ]
//! }
//! ```
//!
//! Filters use Amplify's filter-input syntax (`{field: {op: value}, and: [...], or: [...]}`).
//! A string that is exactly `${…}` is replaced when the rule is applied: `${args.X}` (the
//! subscription's or the mutation's argument), `${result.X}` (the mutation's result),
//! `${identity.sub}`, `${identity.username}`, `${identity.claims.X}`, `${identity.groups}`. A
//! placeholder with no value refuses the subscription (fail closed) rather than dropping the
//! rule. A subscription field without an `invalidationFilter` is invalidated when every argument
//! it was subscribed with equals the same-named key of the invalidation's payload.

use std::collections::HashMap;
use std::path::Path;

use async_graphql::Value;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::auth::Identity;
use crate::graphql::filter::group::{self, RawRule};
use crate::graphql::filter::{Filter, amplify};
use crate::graphql::schema::SchemaModel;
use crate::operation::{ErrorType, GraphqlError};

/// The rules of one node, read at start-up.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rules {
    #[serde(default)]
    pub subscriptions: HashMap<String, SubscriptionRules>,
    #[serde(default)]
    pub invalidations: Vec<Invalidation>,
}

/// What a subscription field's subscribers get beside their own filter.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionRules {
    /// ANDed with the client's filter; its rules count toward AppSync's limits, as auth rules do.
    #[serde(default)]
    pub filter: Option<Json>,
    /// Matched against an invalidation's payload: true ends the subscription.
    #[serde(default)]
    pub invalidation_filter: Option<Json>,
}

/// A mutation that ends the matching subscriptions of a field once it has published.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Invalidation {
    pub mutation: String,
    pub subscription_field: String,
    pub payload: Json,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read the rules file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the rules file {path} is not valid: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("the rules file names {0}, which the schema does not define")]
    Unknown(String),
}

/// A placeholder that had no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the rule's `{0}` has no value for this caller")]
pub struct Unresolved(pub String);

/// What placeholders are replaced with.
#[derive(Default)]
pub struct Context<'a> {
    pub args: &'a [(String, Value)],
    pub identity: Option<&'a Identity>,
    pub result: Option<&'a Value>,
}

impl Rules {
    /// Reads `path` and checks that every field and mutation it names exists in `model`.
    pub fn load(path: &Path, model: &SchemaModel) -> Result<Self, RulesError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: shown.clone(),
            source,
        })?;
        let rules: Self = serde_json::from_str(&text).map_err(|source| RulesError::Parse {
            path: shown,
            source,
        })?;
        for field in rules.subscriptions.keys() {
            if !model.subscriptions.contains_key(field) {
                return Err(RulesError::Unknown(format!("subscription field `{field}`")));
            }
        }
        for invalidation in &rules.invalidations {
            if !model.mutations.contains_key(&invalidation.mutation) {
                return Err(RulesError::Unknown(format!(
                    "mutation `{}`",
                    invalidation.mutation
                )));
            }
            if !model
                .subscriptions
                .contains_key(&invalidation.subscription_field)
            {
                return Err(RulesError::Unknown(format!(
                    "subscription field `{}`",
                    invalidation.subscription_field
                )));
            }
        }
        Ok(rules)
    }

    pub fn subscription(&self, field: &str) -> Option<&SubscriptionRules> {
        self.subscriptions.get(field)
    }

    /// The invalidations `mutation` issues.
    pub fn invalidations_of<'a>(
        &'a self,
        mutation: &'a str,
    ) -> impl Iterator<Item = &'a Invalidation> + 'a {
        self.invalidations
            .iter()
            .filter(move |i| i.mutation == mutation)
    }
}

impl Rules {
    /// The server-side filter of `field` for a subscriber with these arguments and identity, as
    /// filter groups to AND with the client's; `Unauthorized` when a placeholder has no value.
    pub fn subscription_filter(
        &self,
        field: &str,
        context: &Context<'_>,
    ) -> Result<Option<Vec<Vec<RawRule>>>, GraphqlError> {
        let Some(template) = self.subscription(field).and_then(|r| r.filter.as_ref()) else {
            return Ok(None);
        };
        let filter = resolve(template, context).map_err(|_| not_authorized(field))?;
        let filter = Value::from_json(filter).unwrap_or_default();
        Ok(Some(amplify::to_groups(&filter)?))
    }

    /// What an invalidation's payload must pass to end this subscription of `field`: the
    /// field's `invalidationFilter`, or else equality on every argument it was subscribed with
    /// (none: it is never invalidated).
    pub fn invalidation_filter(
        &self,
        field: &str,
        context: &Context<'_>,
    ) -> Result<Option<Filter>, GraphqlError> {
        let groups = match self
            .subscription(field)
            .and_then(|r| r.invalidation_filter.as_ref())
        {
            Some(template) => {
                let filter = resolve(template, context).map_err(|_| not_authorized(field))?;
                amplify::to_groups(&Value::from_json(filter).unwrap_or_default())?
            }
            None => vec![
                context
                    .args
                    .iter()
                    .map(|(name, value)| RawRule {
                        field_name: name.clone(),
                        operator: "eq".to_owned(),
                        value: value.clone().into_json().unwrap_or_default(),
                    })
                    .collect(),
            ],
        };
        Ok(group::check(groups)?)
    }
}

/// AppSync's refusal when a rule cannot be applied to the caller.
fn not_authorized(field: &str) -> GraphqlError {
    GraphqlError::new(
        Some(ErrorType::Unauthorized),
        format!("Not Authorized to access {field} on type Subscription"),
    )
}

/// `template` with its placeholders replaced from `context`.
pub fn resolve(template: &Json, context: &Context<'_>) -> Result<Json, Unresolved> {
    Ok(match template {
        Json::String(text) => match text
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
        {
            Some(path) => lookup(path, context).ok_or_else(|| Unresolved(text.clone()))?,
            None => template.clone(),
        },
        Json::Array(items) => Json::Array(
            items
                .iter()
                .map(|item| resolve(item, context))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(key, value)| Ok((key.clone(), resolve(value, context)?)))
                .collect::<Result<_, Unresolved>>()?,
        ),
        other => other.clone(),
    })
}

fn lookup(path: &str, context: &Context<'_>) -> Option<Json> {
    let mut parts = path.split('.');
    let value = match (parts.next()?, parts.next()?) {
        ("args", name) => {
            let (_, value) = context.args.iter().find(|(n, _)| n == name)?;
            value.clone().into_json().ok()?
        }
        ("result", name) => match context.result? {
            Value::Object(fields) => fields.get(name)?.clone().into_json().ok()?,
            _ => return None,
        },
        ("identity", "sub") => Json::String(context.identity?.claim("sub")?),
        ("identity", "username") => {
            let identity = context.identity?;
            Json::String(
                identity
                    .claim("username")
                    .or_else(|| identity.claim("cognito:username"))?,
            )
        }
        ("identity", "groups") => Json::from(context.identity?.groups.clone()),
        ("identity", "claims") => Json::String(context.identity?.claim(parts.next()?)?),
        _ => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    (!value.is_null()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::auth_mode::AuthMode;
    use serde_json::json;

    #[test]
    fn placeholders_are_replaced_or_refused() {
        let Json::Object(claims) = json!({"sub": "u1", "cognito:username": "alice"}) else {
            unreachable!()
        };
        let identity = Identity::from_claims(AuthMode::Cognito, claims);
        let args = [("jobId".to_owned(), Value::from("j1"))];
        let result = Value::from_json(json!({"userId": "u9"})).unwrap();
        let context = Context {
            args: &args,
            identity: Some(&identity),
            result: Some(&result),
        };
        let template = json!({"and": [{"jobId": {"eq": "${args.jobId}"}},
            {"owner": {"eq": "${identity.username}"}}, {"userId": {"eq": "${result.userId}"}},
            {"sub": {"eq": "${identity.claims.sub}"}}, {"literal": {"eq": "plain ${x}"}}]});
        assert_eq!(
            resolve(&template, &context).unwrap(),
            json!({"and": [{"jobId": {"eq": "j1"}}, {"owner": {"eq": "alice"}},
                {"userId": {"eq": "u9"}}, {"sub": {"eq": "u1"}}, {"literal": {"eq": "plain ${x}"}}]})
        );
        let missing = json!({"owner": {"eq": "${identity.claims.email}"}});
        assert_eq!(
            resolve(&missing, &context),
            Err(Unresolved("${identity.claims.email}".to_owned()))
        );
        let api_key = Context {
            args: &args,
            ..Context::default()
        };
        assert!(resolve(&json!("${identity.sub}"), &api_key).is_err());
    }
}

//! Auth providers, API keys and the owner rule, with AppSync's names (`AuthenticationType`,
//! `UserPoolConfig`, `OpenIDConnectConfig` and `LambdaAuthorizerConfig` flattened into one
//! provider), and what AWS has no field for under `local`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Text;

/// The auth providers, by the names the APIs use for them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Auth {
    #[serde(default)]
    pub providers: BTreeMap<String, Provider>,
}

/// AppSync's authorization types, by their AppSync names or Switchboard's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProviderType {
    #[serde(rename = "API_KEY", alias = "api-key")]
    ApiKey,
    #[serde(rename = "AWS_IAM", alias = "iam")]
    AwsIam,
    #[serde(rename = "AMAZON_COGNITO_USER_POOLS", alias = "cognito")]
    AmazonCognitoUserPools,
    #[serde(rename = "OPENID_CONNECT", alias = "oidc")]
    OpenidConnect,
    #[serde(rename = "AWS_LAMBDA", alias = "lambda")]
    AwsLambda,
}

/// What a Cognito pool does with a caller its rules do not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DefaultAction {
    Allow,
    Deny,
}

/// One auth provider: its type and that type's AppSync fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provider {
    #[serde(rename = "type")]
    pub kind: ProviderType,
    /// Cognito: the pool (the issuer is derived from it and `awsRegion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// Cognito: the app client ids admitted (a regular expression; anchor it with `^…$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id_client_regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<DefaultAction>,
    /// OIDC: the issuer (`iss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// OIDC: the client id (`aud`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// OIDC: how long after `auth_time` a token is accepted, in ms (0: always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_ttl: Option<u64>,
    /// OIDC: how long after `iat` a token is accepted, in ms (0: always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ttl: Option<u64>,
    /// Lambda: the authorizer's ARN (run locally at `local.url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_uri: Option<String>,
    /// Lambda: how long an answer is cached, unless it says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 3600))]
    pub authorizer_result_ttl_in_seconds: Option<u32>,
    /// Lambda: tokens that do not match this regular expression are refused unasked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_validation_expression: Option<String>,
    /// What only a local server needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<ProviderLocal>,
}

/// A provider's local settings: where its keys, authorizer and credentials are here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderLocal {
    /// The JWKS (a token provider); none: the issuer's discovery document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Jwks>,
    /// A shared HS256 secret, for local development.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hs256_secret: Option<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (`60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)?$"))]
    pub leeway: Option<String>,
    /// The issuer a local identity provider signs as, in place of the derived one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Lambda: the authorizer's local URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Lambda: how long the authorizer may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)?$"))]
    pub timeout: Option<String>,
    /// IAM: the accepted access keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Text>,
    /// IAM: how far a signature's time may be from the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)?$"))]
    pub max_skew: Option<String>,
}

/// Where a token provider's keys come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Jwks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How often the keys are fetched again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)?$"))]
    pub refresh: Option<String>,
    /// The least time between two fetches for an unknown `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)?$"))]
    pub min_refetch: Option<String>,
}

/// Which API a key opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApiKind {
    Graphql,
    Events,
}

/// An API key, or a file of them (`KEY[@RFC3339]` lines).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiKeyEntry {
    /// The key's id (an imported `ApiKey`'s logical id); a key without a value is generated
    /// per run and printed with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The key (`${env.NAME}`, not a literal: it is a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// When it stops being accepted (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A file of keys, as `--api-keys-file` reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The APIs it opens (both when absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apis: Vec<ApiKind>,
}

/// The owner rule and its exemptions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Access {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Members of this group may name anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_group: Option<String>,
    /// Modes exempt from the owner rule (services rather than users).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_modes: Vec<ProviderType>,
}

/// Which argument names the owner, and which claim of the caller must equal it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Owner {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argument: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

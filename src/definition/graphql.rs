//! The GraphQL API: its schema, auth, limits, and AppSync's data sources, functions and
//! resolvers (kept as declared; Switchboard runs NONE as a pass-through), and the server-side
//! subscription rules that `--rules` holds today.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Text;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Graphql {
    /// The SDL (a separate file, so it stays deployable to AppSync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<GraphqlAuth>,
    /// Whether `__schema` and `__type` are answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<Introspection>,
    /// AppSync's `EnvironmentVariables`, for resolver code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment_variables: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<GraphqlLimits>,
    /// The subscription argument that names a connection's user in its record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_argument: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data_sources: BTreeMap<String, DataSource>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub functions: BTreeMap<String, Function>,
    /// By `Type.field`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resolvers: BTreeMap<String, Resolver>,
    /// Server-side rules per subscription field.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subscriptions: BTreeMap<String, SubscriptionRules>,
    /// The invalidations mutations issue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalidations: Vec<Invalidation>,
}

/// The GraphQL API's auth: its default provider and the additional ones, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GraphqlAuth {
    pub default: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Introspection {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GraphqlLimits {
    /// AppSync's `QueryDepthLimit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 75))]
    pub query_depth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_complexity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriptions_per_connection: Option<u32>,
}

/// AppSync's data source types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DataSourceType {
    None,
    AwsLambda,
    AmazonDynamodb,
    Http,
    AmazonEventbridge,
    AmazonOpensearchService,
    AmazonElasticsearch,
    RelationalDatabase,
    AmazonBedrockRuntime,
}

/// What a data source Switchboard does not run does here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LocalBehavior {
    /// Answer as a NONE pass-through would.
    Passthrough,
    /// Answer that the data source is not available locally.
    Refuse,
}

/// A data source, its AppSync config kept as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DataSource {
    #[serde(rename = "type")]
    pub kind: DataSourceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalBehavior>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_config: Option<serde_json::Value>,
    #[serde(
        default,
        rename = "dynamoDBConfig",
        skip_serializing_if = "Option::is_none"
    )]
    pub dynamodb_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bridge_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_search_service_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relational_database_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_role_arn: Option<String>,
}

/// A resolver's or function's runtime (`APPSYNC_JS` `1.0.0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Runtime {
    pub name: String,
    pub runtime_version: String,
}

/// A pipeline function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Function {
    pub data_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_mapping_template: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mapping_template: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ResolverKind {
    Unit,
    Pipeline,
}

/// A resolver of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resolver {
    pub kind: ResolverKind,
    /// A UNIT resolver's data source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<String>,
    /// A PIPELINE resolver's functions, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_mapping_template: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mapping_template: Option<Text>,
}

/// Server-side rules of one subscription field: what an AppSync resolver would set with
/// `setSubscriptionFilter` and `setSubscriptionInvalidationFilter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubscriptionRules {
    /// ANDed with each subscriber's own filter (Amplify's syntax; `${args.X}`, `${identity.X}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidation_filter: Option<serde_json::Value>,
    /// A new subscriber first gets the field's latest event (`--replay-latest`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay_latest: bool,
}

/// After `mutation` publishes, the subscriptions of `subscriptionField` its payload passes end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Invalidation {
    pub mutation: String,
    pub subscription_field: String,
    /// `${result.X}` and `${args.X}` are the mutation's.
    pub payload: serde_json::Value,
}

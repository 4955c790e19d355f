//! The AppSync Events API: its auth (which providers, and which modes connect, publish and
//! subscribe by default), its limits, its namespaces with their own modes and handlers (kept,
//! not run), and the bridge from GraphQL mutations to channels.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Text;
use super::graphql::DataSource;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Events {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<EventsAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<EventsLimits>,
    /// By name (`default`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespaces: BTreeMap<String, Namespace>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data_sources: BTreeMap<String, DataSource>,
    /// Mutations whose results are also published to a channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bridge: Vec<Bridge>,
}

/// Provider names: the API's providers, and which of them connect, publish and subscribe
/// where a namespace says nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventsAuth {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_publish: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_subscribe: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventsLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriptions_per_connection: Option<u32>,
}

/// A channel namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Namespace {
    /// Provider names that may publish here, in place of the API's defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribe: Vec<String>,
    /// The channel segment (1 to 4) that must be the caller's owner claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4))]
    pub owner_segment: Option<u32>,
    /// AppSync's `CodeHandlers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handlers: Option<Handlers>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Handlers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_publish: Option<Handler>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_subscribe: Option<Handler>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Behavior {
    Code,
    Direct,
}

/// One handler: code, or a data source called directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Handler {
    pub behavior: Behavior,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Text>,
    /// A DIRECT handler's data source, and how it is invoked (`REQUEST_RESPONSE`, `EVENT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_type: Option<String>,
}

/// A mutation's results also published to a channel (`/status/{userId}/{jobId}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Bridge {
    pub mutation: String,
    pub channel: String,
}

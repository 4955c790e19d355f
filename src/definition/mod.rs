//! The API definition: one file (`switchboard.yaml`, JSON accepted) that describes an API as
//! AppSync's resources do — auth providers and keys, the GraphQL API with its schema, data
//! sources, resolvers and functions, the Events API with its namespaces — with AppSync's
//! CloudFormation property names in lowerCamelCase, so an import from a template is a rename,
//! not a translation. Operational settings (listen, TLS, Redis, limits) stay flags; they may
//! also sit under `server`, below the flags.
//!
//! This module is the model and its JSON Schema (`switchboard api schema`, committed as
//! `docs/switchboard.schema.json` for editors); [`flags`] says where each `serve` flag lands in
//! it. Every struct refuses keys it does not know, so a typo is an error, not a silent default.

mod auth;
mod events;
pub mod expand;
pub mod flags;
mod graphql;
pub mod load;
pub mod print;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use auth::{Access, ApiKeyEntry, ApiKind, Auth, Owner, Provider, ProviderLocal, ProviderType};
pub use events::{Bridge, Events, EventsAuth, EventsLimits, Handler, Handlers, Namespace};
pub use graphql::{
    DataSource, Function, Graphql, GraphqlAuth, GraphqlLimits, Invalidation, Resolver, Runtime,
    SubscriptionRules,
};

/// A Switchboard API definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Switchboard API definition")]
pub struct Definition {
    /// The format's version: 1.
    #[schemars(extend("const" = 1))]
    pub version: u32,
    /// Who the API is, as AppSync names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiIdentity>,
    /// The auth providers the GraphQL and Events APIs pick from, by name.
    #[serde(default)]
    pub auth: Auth,
    /// The API keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<ApiKeyEntry>,
    /// The owner rule and who is exempt from it (Switchboard's; AppSync has no twin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    /// The GraphQL API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql: Option<Graphql>,
    /// The AppSync Events API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Events>,
    /// Operational settings, by the `serve --help` group and the flag's name in lowerCamelCase
    /// (`serving.listen`); flags and the environment take precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<BTreeMap<String, BTreeMap<String, serde_json::Value>>>,
}

/// The API's identity, as AppSync reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiIdentity {
    /// The GraphQL API's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The API id the server reports (`--api-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The AWS account id in ARNs (`--account-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The AWS region in ARNs and signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A text: a file beside the definition, or the text itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// A path relative to the file that names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The text itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
}

/// The definition's JSON Schema (draft 2020-12), as `switchboard api schema` prints it and
/// `docs/switchboard.schema.json` keeps it.
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    serde_json::to_value(generator.into_root_schema_for::<Definition>())
        .expect("a JSON Schema is JSON")
}

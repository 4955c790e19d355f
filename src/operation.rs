//! A GraphQL request and a GraphQL error as every protocol carries them, before each codec gives
//! them its own framing.

use async_graphql::ServerError;
use serde::{Deserialize, Serialize};

/// `{query, variables, operationName, extensions}`: the body of `POST /graphql`, the payload of a
/// graphql-transport-ws `subscribe` and a legacy `start`, and the decoded `data` of an AppSync
/// `start`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GraphqlRequest {
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<serde_json::Value>,
}

impl GraphqlRequest {
    /// The variables as async-graphql takes them; anything but an object counts as none.
    pub fn variables(&self) -> async_graphql::Variables {
        match &self.variables {
            Some(v @ serde_json::Value::Object(_)) => {
                async_graphql::Variables::from_json(v.clone())
            }
            _ => async_graphql::Variables::default(),
        }
    }
}

/// A source position in the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// One GraphQL error. `error_type` is AppSync's classification (`UnsupportedOperation`,
/// `BadRequestException`, ...), which the AppSync codec puts at the top level and the standard
/// codecs put under `extensions.errorType`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlError {
    pub message: String,
    pub error_type: Option<String>,
    pub locations: Vec<Location>,
}

impl GraphqlError {
    pub fn new(error_type: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            error_type: error_type.map(str::to_owned),
            locations: Vec::new(),
        }
    }

    /// The standard GraphQL shape: `{message, locations?, extensions: {errorType}?}`.
    pub fn to_standard_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "message": self.message });
        if !self.locations.is_empty() {
            error["locations"] = serde_json::json!(self.locations);
        }
        if let Some(error_type) = &self.error_type {
            error["extensions"] = serde_json::json!({ "errorType": error_type });
        }
        error
    }
}

impl From<&ServerError> for GraphqlError {
    fn from(error: &ServerError) -> Self {
        let error_type = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("errorType"))
            .and_then(|v| match v {
                async_graphql::Value::String(s) => Some(s.clone()),
                _ => None,
            });
        Self {
            message: error.message.clone(),
            error_type,
            locations: error
                .locations
                .iter()
                .map(|p| Location {
                    line: p.line,
                    column: p.column,
                })
                .collect(),
        }
    }
}

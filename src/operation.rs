//! A GraphQL request and a GraphQL error as every protocol carries them, before each codec gives
//! them its own framing.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition};
use async_graphql::{Name, Positioned, ServerError};
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
    /// The operation in `document` that the request names, or its only one; the errors are
    /// GraphQL's wording for a missing or unknown operation name.
    pub fn operation<'d>(
        &self,
        document: &'d ExecutableDocument,
    ) -> Result<&'d Positioned<OperationDefinition>, Vec<GraphqlError>> {
        let name = self.operation_name.as_deref();
        let mut operations = document.operations.iter();
        let found = match (name, &document.operations) {
            (Some(name), _) => operations.find(|(n, _)| n.map(Name::as_str) == Some(name)),
            (None, DocumentOperations::Single(op)) => Some((None, op)),
            (None, DocumentOperations::Multiple(ops)) if ops.len() == 1 => operations.next(),
            (None, _) => {
                return Err(vec![GraphqlError::new(
                    None,
                    "Operation name required in request.",
                )]);
            }
        };
        found.map(|(_, op)| op).ok_or_else(|| {
            vec![GraphqlError::new(
                None,
                format!("Unknown operation named \"{}\".", name.unwrap_or_default()),
            )]
        })
    }

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

/// AppSync's classification of an error, as clients read it in `errorType`. Every error the
/// server sends names one of these; nothing else spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    BadRequestException,
    DuplicatedOperationError,
    InternalFailure,
    LimitExceededError,
    MalformedHttpRequestException,
    MaxSubscriptionsReachedError,
    NotFoundException,
    PayloadTooLargeError,
    PayloadTooLargeException,
    /// The bus took a publish but never said whether it published it (Switchboard's own type):
    /// retry with the same `Idempotency-Key` to publish it at most once.
    PublishOutcomeUnknown,
    RequestTimeoutException,
    ServiceUnavailable,
    /// A resumed or replayed subscription's stream lost events (Switchboard's own type).
    StreamReset,
    TooManyRequestsException,
    /// Refused by the schema's auth directives or the owner rule (AppSync's resolver-level word).
    Unauthorized,
    /// Credentials missing or wrong.
    UnauthorizedException,
    /// AppSync Events: an unsubscribe of an id the connection does not have.
    UnknownOperationError,
    UnsupportedOperation,
}

impl ErrorType {
    const ALL: [Self; 18] = [
        Self::BadRequestException,
        Self::DuplicatedOperationError,
        Self::InternalFailure,
        Self::LimitExceededError,
        Self::MalformedHttpRequestException,
        Self::MaxSubscriptionsReachedError,
        Self::NotFoundException,
        Self::PayloadTooLargeError,
        Self::PayloadTooLargeException,
        Self::PublishOutcomeUnknown,
        Self::RequestTimeoutException,
        Self::ServiceUnavailable,
        Self::StreamReset,
        Self::TooManyRequestsException,
        Self::Unauthorized,
        Self::UnauthorizedException,
        Self::UnknownOperationError,
        Self::UnsupportedOperation,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequestException => "BadRequestException",
            Self::DuplicatedOperationError => "DuplicatedOperationError",
            Self::InternalFailure => "InternalFailure",
            Self::LimitExceededError => "LimitExceededError",
            Self::MalformedHttpRequestException => "MalformedHttpRequestException",
            Self::MaxSubscriptionsReachedError => "MaxSubscriptionsReachedError",
            Self::NotFoundException => "NotFoundException",
            Self::PayloadTooLargeError => "PayloadTooLargeError",
            Self::PayloadTooLargeException => "PayloadTooLargeException",
            Self::PublishOutcomeUnknown => "PublishOutcomeUnknown",
            Self::RequestTimeoutException => "RequestTimeoutException",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::StreamReset => "StreamReset",
            Self::TooManyRequestsException => "TooManyRequestsException",
            Self::Unauthorized => "Unauthorized",
            Self::UnauthorizedException => "UnauthorizedException",
            Self::UnknownOperationError => "UnknownOperationError",
            Self::UnsupportedOperation => "UnsupportedOperation",
        }
    }

    /// The type a wire name stands for (as carried in async-graphql's error extensions).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One GraphQL error. `error_type` is AppSync's classification (`UnsupportedOperation`,
/// `BadRequestException`, ...), which the AppSync codec puts at the top level and the standard
/// codecs put under `extensions.errorType`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlError {
    pub message: String,
    pub error_type: Option<ErrorType>,
    pub locations: Vec<Location>,
}

impl GraphqlError {
    pub fn new(error_type: Option<ErrorType>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            error_type,
            locations: Vec::new(),
        }
    }

    /// The standard GraphQL shape: `{message, locations?, extensions: {errorType}?}`.
    pub fn to_standard_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "message": self.message });
        if !self.locations.is_empty() {
            error["locations"] = serde_json::json!(self.locations);
        }
        if let Some(error_type) = self.error_type {
            error["extensions"] = serde_json::json!({ "errorType": error_type.as_str() });
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
                async_graphql::Value::String(s) => ErrorType::from_name(s),
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

#[cfg(test)]
mod tests {
    use super::ErrorType;

    #[test]
    fn every_error_type_reads_back_from_its_name() {
        for error_type in ErrorType::ALL {
            assert_eq!(ErrorType::from_name(error_type.as_str()), Some(error_type));
        }
        assert_eq!(ErrorType::from_name("NoSuchThing"), None);
    }
}

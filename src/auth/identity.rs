//! Who a caller is once verified: the auth mode that admitted it and what that mode says about
//! it (token claims, an authorizer's `resolverContext`, groups, denied fields).

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value as Json};

/// AppSync's authorization types, by the names the command line uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMode {
    /// `API_KEY`: an `x-api-key` header.
    ApiKey,
    /// `OPENID_CONNECT`: a JWT from any OIDC issuer (or an HS256 token in local development).
    Oidc,
    /// `AMAZON_COGNITO_USER_POOLS`: a Cognito ID or access token.
    Cognito,
    /// `AWS_LAMBDA`: an opaque token a Lambda-style authorizer judges.
    Lambda,
    /// `AWS_IAM`: a SigV4 signature.
    Iam,
}

impl AuthMode {
    pub const ALL: [AuthMode; 5] = [
        Self::ApiKey,
        Self::Oidc,
        Self::Cognito,
        Self::Lambda,
        Self::Iam,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ApiKey => "api-key",
            Self::Oidc => "oidc",
            Self::Cognito => "cognito",
            Self::Lambda => "lambda",
            Self::Iam => "iam",
        }
    }

    /// The schema directive that admits this mode.
    pub fn directive(self) -> &'static str {
        match self {
            Self::ApiKey => "aws_api_key",
            Self::Oidc => "aws_oidc",
            Self::Cognito => "aws_cognito_user_pools",
            Self::Lambda => "aws_lambda",
            Self::Iam => "aws_iam",
        }
    }

    pub fn from_directive(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.directive() == name)
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AuthMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase().replace('_', "-");
        let aliases = [
            ("api-key", Self::ApiKey),
            ("oidc", Self::Oidc),
            ("openid-connect", Self::Oidc),
            ("cognito", Self::Cognito),
            ("amazon-cognito-user-pools", Self::Cognito),
            ("lambda", Self::Lambda),
            ("aws-lambda", Self::Lambda),
            ("iam", Self::Iam),
            ("aws-iam", Self::Iam),
        ];
        aliases
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, mode)| *mode)
            .ok_or_else(|| {
                format!("unknown auth mode `{text}` (use api-key, oidc, cognito, lambda or iam)")
            })
    }
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub mode: AuthMode,
    /// Token claims (oidc, cognito) or the authorizer's `resolverContext` (lambda); empty for
    /// API keys and IAM.
    pub claims: Map<String, Json>,
    /// Cognito groups (`cognito:groups`, or an OIDC `groups` claim).
    pub groups: Vec<String>,
    /// Fields the authorizer denied, as `Type.field`.
    pub denied_fields: Vec<String>,
    /// Who, for logs: the token's `sub`, the access key id, or the mode. Never a secret.
    pub principal: String,
}

impl Identity {
    pub fn new(mode: AuthMode, principal: impl Into<String>) -> Self {
        Self {
            mode,
            claims: Map::new(),
            groups: Vec::new(),
            denied_fields: Vec::new(),
            principal: principal.into(),
        }
    }

    /// A token verified by the JWT verifier: its groups from `cognito:groups` or `groups`.
    pub fn from_claims(mode: AuthMode, claims: Map<String, Json>) -> Self {
        let groups = ["cognito:groups", "groups"]
            .iter()
            .find_map(|name| claims.get(*name)?.as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|g| g.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let principal = claims
            .get("sub")
            .and_then(Json::as_str)
            .unwrap_or("unknown")
            .to_owned();
        Self {
            mode,
            claims,
            groups,
            denied_fields: Vec::new(),
            principal,
        }
    }

    /// A claim as text (strings as they are, numbers and booleans printed).
    pub fn claim(&self, name: &str) -> Option<String> {
        match self.claims.get(name)? {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            Json::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes_parse_by_cli_and_appsync_names() {
        assert_eq!("api-key".parse::<AuthMode>(), Ok(AuthMode::ApiKey));
        assert_eq!(
            "AMAZON_COGNITO_USER_POOLS".parse::<AuthMode>(),
            Ok(AuthMode::Cognito)
        );
        assert_eq!("AWS_IAM".parse::<AuthMode>(), Ok(AuthMode::Iam));
        assert!("basic".parse::<AuthMode>().is_err());
        assert_eq!(AuthMode::from_directive("aws_oidc"), Some(AuthMode::Oidc));
    }

    #[test]
    fn claims_and_groups() {
        let Json::Object(claims) = json!({"sub": "u1", "cognito:groups": ["admins"], "n": 7})
        else {
            unreachable!()
        };
        let identity = Identity::from_claims(AuthMode::Cognito, claims);
        assert_eq!(identity.claim("sub").as_deref(), Some("u1"));
        assert_eq!(identity.claim("n").as_deref(), Some("7"));
        assert!(identity.in_group("admins"));
        assert_eq!(identity.principal, "u1");
    }
}

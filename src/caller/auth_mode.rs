//! AppSync's authorization types. A leaf of the module graph: the settings name them, the
//! schema's directives name them, and the authenticator verifies them.

use std::fmt;
use std::str::FromStr;

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

    /// The mode a schema directive admits; AppSync's legacy `@aws_auth(cognito_groups: [...])`
    /// is Cognito user pools, as `@aws_cognito_user_pools`.
    pub fn from_directive(name: &str) -> Option<Self> {
        if name == "aws_auth" {
            return Some(Self::Cognito);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            AuthMode::from_directive("aws_auth"),
            Some(AuthMode::Cognito)
        );
    }
}

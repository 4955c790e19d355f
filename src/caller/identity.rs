//! Who a caller is once verified: the auth mode that admitted it and what that mode says about
//! it (token claims, an authorizer's `resolverContext`, groups, denied fields).

use serde_json::{Map, Value as Json};

use crate::caller::auth_mode::AuthMode;

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

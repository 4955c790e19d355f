//! The session's door: who the connection is (checked at `connection_init`), who each
//! subscription is (AppSync lets every `start` carry its own credentials), whether the schema's
//! auth directives let them select what they select, and the owner rule that binds a
//! subscription argument such as `userId` to the caller's own identity.

use serde_json::Value as Json;

use super::Session;
use crate::auth::{AuthMode, AuthRequest, Credentials, Identity, Signed};
use crate::operation::{GraphqlError, GraphqlRequest};
use crate::protocol::Fault;
use crate::subscription::Prepared;

impl Session {
    /// Authenticates the connection with the `connection_init` payload's credentials, then the
    /// upgrade's. Failures are counted against the client's address.
    pub(super) async fn authenticate_connection(
        &self,
        payload: Option<&Json>,
    ) -> Result<Identity, Fault> {
        let at_upgrade = match &self.peer.credentials {
            Ok(credentials) => credentials,
            Err(error) => return Err(Fault::BadHandshake(error.to_string())),
        };
        if self.app.limits.locked_out(self.peer.remote.ip()) {
            return Err(Fault::TooManyRequests(
                "too many failed authentication attempts from this address".to_owned(),
            ));
        }
        let credentials = match payload {
            Some(payload) => Credentials::from_init_payload(payload).then(at_upgrade),
            None => at_upgrade.clone(),
        };
        // IAM callers sign AppSync's connect request (`POST /graphql/connect`, body `{}`),
        // whichever protocol carries the signed headers.
        let request = AuthRequest {
            credentials: &credentials,
            signed: Signed::Connect,
            operation: None,
        };
        self.app.auth.authenticate(request).await.map_err(|error| {
            self.auth_failed(&credentials);
            Fault::Unauthorized(error.to_string())
        })
    }

    /// The identity a subscription runs as: its own credentials when it carries them (AppSync's
    /// `extensions.authorization`, with `data` the signed body), else the connection's. Then the
    /// schema's auth directives must admit it to every field it selects.
    pub(super) async fn subscription_identity(
        &self,
        authorization: Option<&Json>,
        data: Option<&str>,
        request: &GraphqlRequest,
    ) -> Result<Identity, GraphqlError> {
        let identity = match authorization {
            Some(authorization) => {
                let credentials = Credentials::from_json(authorization).unwrap_or_default();
                let auth = AuthRequest {
                    credentials: &credentials,
                    signed: data.map_or(Signed::Nothing, |data| Signed::Start { data }),
                    operation: Some(request),
                };
                self.app.auth.authenticate(auth).await.map_err(|error| {
                    self.auth_failed(&credentials);
                    GraphqlError::new(Some("UnauthorizedException"), error.to_string())
                })?
            }
            None => self.identity.clone().ok_or_else(|| {
                GraphqlError::new(
                    Some("UnauthorizedException"),
                    crate::auth::AuthError::Missing.to_string(),
                )
            })?,
        };
        self.app
            .api
            .authorize(request, &identity, self.app.auth.default_mode)?;
        Ok(identity)
    }

    /// Counts a failed authentication against the address and in the metrics.
    fn auth_failed(&self, credentials: &Credentials) {
        self.app.limits.failed(self.peer.remote.ip());
        self.app
            .metrics
            .exported
            .auth_failed(self.app.auth.mode_of(credentials));
    }

    /// With `--owner-arg`, a caller signed in by token or authorizer may subscribe only with
    /// that argument equal to its own `--owner-claim`; trusted modes and the admin group may
    /// subscribe to anyone.
    pub(super) fn check_owner(
        &self,
        identity: &Identity,
        prepared: &Prepared,
    ) -> Result<(), GraphqlError> {
        let settings = &self.app.settings;
        let Some(owner_arg) = &settings.owner_arg else {
            return Ok(());
        };
        let field_has_owner = self
            .app
            .api
            .model
            .subscriptions
            .get(&prepared.field)
            .is_some_and(|plan| plan.args.iter().any(|a| &a.name == owner_arg));
        if !field_has_owner
            || settings.trusted_modes.contains(&identity.mode)
            || settings
                .admin_group
                .as_ref()
                .is_some_and(|g| identity.in_group(g))
        {
            return Ok(());
        }
        let supplied = prepared
            .filter
            .iter()
            .find(|(name, _)| name == owner_arg)
            .and_then(|(_, value)| match value {
                async_graphql::Value::String(s) => Some(s.clone()),
                async_graphql::Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        let own = identity.claim(&settings.owner_claim);
        if supplied.is_some() && supplied == own {
            return Ok(());
        }
        let root = self
            .app
            .api
            .model
            .roots
            .subscription
            .as_deref()
            .unwrap_or("Subscription");
        Err(GraphqlError::new(
            Some("Unauthorized"),
            format!(
                "Not Authorized to access {} on type {root}: {owner_arg} must be the caller's own {}",
                prepared.field, settings.owner_claim
            ),
        ))
    }

    /// The user a connection record names: the verified identity's owner claim for token and
    /// authorizer callers; for API keys and IAM, none (the subscription argument stands in).
    pub(super) fn verified_user(&self, identity: &Identity) -> Option<String> {
        match identity.mode {
            AuthMode::ApiKey | AuthMode::Iam => None,
            _ => identity.claim(&self.app.settings.owner_claim),
        }
    }
}

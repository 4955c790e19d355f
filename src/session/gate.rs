//! The session's door: who the connection is (checked at `connection_init`) and who each
//! subscription is (AppSync lets every `start` carry its own credentials); what that identity
//! may subscribe to is the API's one access check (`schema::access`: directives, then the owner
//! rule), the same that `POST /graphql` runs.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use serde_json::Value as Json;

use super::Session;
use crate::auth::{AuthRequest, Credentials, Identity, Operation, Signed};
use crate::operation::{ErrorType, GraphqlError, GraphqlRequest};
use crate::protocol::Fault;

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
        if self.app.limits.locked_out(self.peer.remote.ip()).is_some() {
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
            operation: Operation::Graphql(None),
        };
        self.app.auth.authenticate(request).await.map_err(|error| {
            self.auth_failed(&credentials);
            Fault::Unauthorized(error.to_string())
        })
    }

    /// Whether a subscription may run. It runs as its own credentials when it carries them
    /// (AppSync's `extensions.authorization`, with `data` the signed body), else as the
    /// connection; that identity must pass the API's access check. Returns the parsed document
    /// (`None` when it does not parse), so the subscription is not parsed again.
    pub(super) async fn authorize_subscription(
        &self,
        authorization: Option<&Json>,
        data: Option<&str>,
        request: &GraphqlRequest,
    ) -> Result<(Option<Arc<ExecutableDocument>>, Identity), GraphqlError> {
        let identity = match authorization {
            Some(authorization) => {
                let credentials = Credentials::from_json(authorization).unwrap_or_default();
                let auth = AuthRequest {
                    credentials: &credentials,
                    signed: data.map_or(Signed::Nothing, |data| Signed::Start { data }),
                    operation: Operation::Graphql(Some(request)),
                };
                self.app.auth.authenticate(auth).await.map_err(|error| {
                    self.auth_failed(&credentials);
                    GraphqlError::new(Some(ErrorType::UnauthorizedException), error.to_string())
                })?
            }
            None => self.identity.clone().ok_or_else(|| {
                GraphqlError::new(
                    Some(ErrorType::UnauthorizedException),
                    crate::auth::AuthError::Missing.to_string(),
                )
            })?,
        };
        let document = self.app.api.authorize(request, &identity)?;
        Ok((document, identity))
    }

    /// Counts a failed authentication against the address and in the metrics.
    fn auth_failed(&self, credentials: &Credentials) {
        self.app.auth_failed(self.peer.remote.ip(), credentials);
    }

    /// The user a connection record names: the verified identity's owner claim for token and
    /// authorizer callers; for API keys and IAM, none (the subscription argument stands in).
    pub(super) fn verified_user(&self, identity: &Identity) -> Option<String> {
        self.app.verified_user(identity)
    }
}

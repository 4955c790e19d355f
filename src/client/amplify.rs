//! A ready Amplify configuration for a running server (`serve --print-amplify-config`): what a
//! developer pastes into an app so that stock Amplify JS v6 talks to this Switchboard.
//!
//! Amplify turns any endpoint that is not AppSync's into `wss://…/graphql/realtime` for
//! subscriptions, even an `http://` one. A server with a certificate serves both on one port,
//! so the `https://` endpoint is all an app needs; without one, subscriptions need a client
//! whose endpoint is `ws://`.

use std::net::SocketAddr;

use serde_json::json;

use crate::auth::AuthMode;

/// What the configuration is made from.
pub struct AmplifyTarget<'a> {
    /// Where the server listens; an unspecified address (`0.0.0.0`) is shown as `localhost`.
    pub addr: SocketAddr,
    pub tls: bool,
    pub default_mode: AuthMode,
    /// The API key to put in, when the default mode is `api-key`.
    pub api_key: Option<&'a str>,
}

impl AmplifyTarget<'_> {
    fn host(&self) -> String {
        // The certificate of `--tls-self-signed` names localhost; so do most dev setups.
        if self.addr.ip().is_unspecified() || self.addr.ip().is_loopback() {
            format!("localhost:{}", self.addr.port())
        } else {
            self.addr.to_string()
        }
    }

    /// Amplify's name for the default mode: `defaultAuthMode` (JS) and
    /// `default_authorization_type` (`amplify_outputs.json`).
    fn mode_names(&self) -> (&'static str, &'static str) {
        match self.default_mode {
            AuthMode::ApiKey => ("apiKey", "API_KEY"),
            AuthMode::Cognito => ("userPool", "AMAZON_COGNITO_USER_POOLS"),
            AuthMode::Oidc => ("oidc", "OPENID_CONNECT"),
            AuthMode::Lambda => ("lambda", "AWS_LAMBDA"),
            AuthMode::Iam => ("iam", "AWS_IAM"),
        }
    }

    /// `amplify_outputs.json` (Amplify Gen 2), then the same as `Amplify.configure` (v6) with
    /// the client to create, as text to print.
    pub fn render(&self) -> String {
        let host = self.host();
        let scheme = if self.tls { "https" } else { "http" };
        let endpoint = format!("{scheme}://{host}/graphql");
        let (js_mode, outputs_mode) = self.mode_names();
        let mut data = json!({
            "url": endpoint,
            "aws_region": "us-east-1",
            "default_authorization_type": outputs_mode,
            "authorization_types": [],
        });
        let key_line = match (self.default_mode, self.api_key) {
            (AuthMode::ApiKey, Some(key)) => {
                data["api_key"] = json!(key);
                format!(", apiKey: '{key}'")
            }
            _ => String::new(),
        };
        let outputs = json!({"version": "1.3", "data": data});
        let outputs = serde_json::to_string_pretty(&outputs).unwrap_or_default();
        let client = if self.tls {
            "const client = generateClient();".to_owned()
        } else {
            format!(
                "// No certificate here, and Amplify dials wss:// for subscriptions: give them ws://.\n\
                 // (Or restart with --tls-self-signed DIR and trust DIR/ca.pem.)\n\
                 const client = generateClient({{ endpoint: 'ws://{host}/graphql', authMode: '{js_mode}'{key_line} }});"
            )
        };
        format!(
            "amplify_outputs.json (Amplify Gen 2):\n{outputs}\n\n\
             Amplify JS v6:\n\
             import {{ Amplify }} from 'aws-amplify';\n\
             import {{ generateClient }} from 'aws-amplify/api';\n\
             Amplify.configure({{ API: {{ GraphQL: {{ endpoint: '{endpoint}', region: 'us-east-1', defaultAuthMode: '{js_mode}'{key_line} }} }} }});\n\
             {client}\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(tls: bool) -> AmplifyTarget<'static> {
        AmplifyTarget {
            addr: "127.0.0.1:4000".parse().unwrap(),
            tls,
            default_mode: AuthMode::ApiKey,
            api_key: Some("da2-local"),
        }
    }

    #[test]
    fn with_tls_the_https_endpoint_is_enough() {
        let text = target(true).render();
        let json_end = text.find("\n\nAmplify JS v6").unwrap();
        let outputs: serde_json::Value =
            serde_json::from_str(&text["amplify_outputs.json (Amplify Gen 2):\n".len()..json_end])
                .unwrap();
        assert_eq!(outputs["data"]["url"], "https://localhost:4000/graphql");
        assert_eq!(outputs["data"]["api_key"], "da2-local");
        assert_eq!(outputs["data"]["default_authorization_type"], "API_KEY");
        assert!(text.contains("endpoint: 'https://localhost:4000/graphql'"));
        assert!(text.contains("const client = generateClient();"));
    }

    #[test]
    fn without_tls_subscriptions_get_ws() {
        let text = target(false).render();
        assert!(text.contains("\"url\": \"http://localhost:4000/graphql\""));
        assert!(text.contains(
            "generateClient({ endpoint: 'ws://localhost:4000/graphql', authMode: 'apiKey', apiKey: 'da2-local' })"
        ));
        let oidc = AmplifyTarget {
            default_mode: AuthMode::Oidc,
            api_key: None,
            ..target(true)
        };
        assert!(oidc.render().contains("defaultAuthMode: 'oidc' }"));
    }
}

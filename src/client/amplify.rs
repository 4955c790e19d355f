//! A ready Amplify configuration for a running server (`serve --print-amplify-config`, and
//! `switchboard amplify-config --out amplify_outputs.json`): what an app needs so that stock
//! Amplify JS v6 talks to this Switchboard, GraphQL and AppSync Events alike.
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
    /// `host:port` as the app dials it.
    pub host: String,
    pub tls: bool,
    pub default_mode: AuthMode,
    /// The API key to put in, when the default mode is `api-key`.
    pub api_key: Option<&'a str>,
}

impl<'a> AmplifyTarget<'a> {
    /// For a server listening on `addr`: an unspecified or loopback address is `localhost`
    /// (the certificate of `--tls-self-signed` names it; so do most dev setups).
    pub fn listening(
        addr: SocketAddr,
        tls: bool,
        default_mode: AuthMode,
        api_key: Option<&'a str>,
    ) -> Self {
        let host = if addr.ip().is_unspecified() || addr.ip().is_loopback() {
            format!("localhost:{}", addr.port())
        } else {
            addr.to_string()
        };
        Self {
            host,
            tls,
            default_mode,
            api_key,
        }
    }

    /// For a server the app reaches at `url` (`http(s)://host[:port]/graphql`).
    pub fn for_url(
        url: &str,
        default_mode: AuthMode,
        api_key: Option<&'a str>,
    ) -> Result<Self, String> {
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                format!("`{url}` is not an http(s):// URL like http://localhost:4000/graphql")
            })?;
        let host = match (parsed.host_str(), parsed.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            _ => return Err(format!("`{url}` names no host")),
        };
        Ok(Self {
            host,
            tls: parsed.scheme() == "https",
            default_mode,
            api_key,
        })
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

    /// `amplify_outputs.json` (Amplify Gen 2): the GraphQL API under `data`, AppSync Events
    /// under `custom.events`.
    pub fn outputs(&self) -> serde_json::Value {
        let scheme = if self.tls { "https" } else { "http" };
        let (_, outputs_mode) = self.mode_names();
        let mut data = json!({
            "url": format!("{scheme}://{}/graphql", self.host),
            "aws_region": "us-east-1",
            "default_authorization_type": outputs_mode,
            "authorization_types": [],
        });
        let mut events = json!({
            "url": format!("{scheme}://{}/event", self.host),
            "aws_region": "us-east-1",
            "default_authorization_type": outputs_mode,
        });
        if let (AuthMode::ApiKey, Some(key)) = (self.default_mode, self.api_key) {
            data["api_key"] = json!(key);
            events["api_key"] = json!(key);
        }
        json!({"version": "1.3", "data": data, "custom": {"events": events}})
    }

    /// What to know about the configuration beside the file: without TLS, Amplify's
    /// subscriptions need a `ws://` client (it dials `wss://` for any endpoint).
    pub fn note(&self) -> Option<String> {
        if self.tls {
            return None;
        }
        let (js_mode, _) = self.mode_names();
        Some(format!(
            "No certificate here, and Amplify dials wss:// for subscriptions (GraphQL and Events): \
             give GraphQL subscriptions a ws:// client, generateClient({{ endpoint: \
             'ws://{}/graphql', authMode: '{js_mode}'{} }}), or restart with --tls-self-signed \
             DIR and trust DIR/ca.pem.",
            self.host,
            self.key_option()
        ))
    }

    /// `, apiKey: '…'` for the JS snippets, when the mode is `api-key` and a key is known.
    fn key_option(&self) -> String {
        match (self.default_mode, self.api_key) {
            (AuthMode::ApiKey, Some(key)) => format!(", apiKey: '{key}'"),
            _ => String::new(),
        }
    }

    /// `amplify_outputs.json` (Amplify Gen 2), then the same as `Amplify.configure` (v6) with
    /// the client to create, as text to print.
    pub fn render(&self) -> String {
        let outputs = serde_json::to_string_pretty(&self.outputs()).unwrap_or_default();
        let scheme = if self.tls { "https" } else { "http" };
        let host = &self.host;
        let endpoint = format!("{scheme}://{host}/graphql");
        let (js_mode, _) = self.mode_names();
        let key_line = self.key_option();
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
             Amplify.configure({{ API: {{ GraphQL: {{ endpoint: '{endpoint}', region: 'us-east-1', defaultAuthMode: '{js_mode}'{key_line} }},\n\
             \x20 Events: {{ endpoint: '{scheme}://{host}/event', region: 'us-east-1', defaultAuthMode: '{js_mode}'{key_line} }} }} }});\n\
             {client}\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(tls: bool) -> AmplifyTarget<'static> {
        let addr = "127.0.0.1:4000".parse().unwrap();
        AmplifyTarget::listening(addr, tls, AuthMode::ApiKey, Some("da2-local"))
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
        assert_eq!(
            outputs["custom"]["events"]["url"],
            "https://localhost:4000/event"
        );
        assert_eq!(outputs["custom"]["events"]["api_key"], "da2-local");
        assert!(target(true).note().is_none());
        assert!(
            target(false)
                .note()
                .unwrap()
                .contains("ws://localhost:4000/graphql")
        );
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

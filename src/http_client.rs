//! The one outbound HTTP client (JWKS, the Lambda-style authorizer): rustls on the `ring`
//! provider (no C build), trusting the webpki roots shipped in the binary, so a slim container
//! without a CA bundle still reaches an identity provider.

/// A client for calls to identity providers and authorizers.
pub fn client() -> Result<reqwest::Client, String> {
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring};
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = ClientConfig::builder_with_provider(std::sync::Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|e| e.to_string())
}

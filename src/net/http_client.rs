//! The outbound HTTP clients: the server's (JWKS, the Lambda-style authorizer) and the CLI's.
//! Both use rustls on the `ring` provider (no C build). The server trusts the webpki roots
//! shipped in the binary, so a slim container without a CA bundle still reaches an identity
//! provider; the CLI also trusts the system's certificates and a `--ca-file` (a local
//! Switchboard's `--tls-self-signed` CA).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring};

/// A client for calls to identity providers and authorizers.
pub fn client() -> Result<reqwest::Client, String> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    with_tls(tls_config(roots)?)
}

/// A reqwest client over `tls`.
pub fn with_tls(tls: Arc<ClientConfig>) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .use_preconfigured_tls(Arc::unwrap_or_clone(tls))
        .build()
        .map_err(|e| e.to_string())
}

/// The CLI's trust: the webpki roots, the system's certificates (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` when set), and every certificate in `ca_file`.
pub fn cli_tls(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // Unreadable system certificates are skipped: the others (and the webpki roots) remain.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let certificates = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!("no certificate in the CA file {}", path.display()));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| format!("a certificate in {} is unusable: {e}", path.display()))?;
        }
    }
    tls_config(roots)
}

fn tls_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, String> {
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

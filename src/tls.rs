//! TLS for HTTPS and WSS, with rustls. Amplify JS v6 always dials `wss://`, even for an
//! `http://` endpoint, so a local stand-in needs TLS too: `--tls-cert`/`--tls-key` serve a real
//! certificate, and `--tls-self-signed DIR` issues one for localhost from a local CA that lives
//! in DIR (created once and reused, so a client told to trust `DIR/ca.pem` keeps trusting it
//! across restarts).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::config::Settings;

/// The CA certificate clients trust, in the self-signed directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA's private key, beside it (readable by its owner only).
pub const CA_KEY_FILE: &str = "ca-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no usable PEM {what}: {reason}")]
    Pem {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("cannot generate the local certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The TLS acceptor the settings ask for, if any.
pub fn acceptor(settings: &Settings) -> Result<Option<TlsAcceptor>, TlsError> {
    let (chain, key) = match (
        &settings.tls_cert,
        &settings.tls_key,
        &settings.tls_self_signed,
    ) {
        (Some(cert), Some(key), _) => (read_chain(cert)?, read_key(key)?),
        (_, _, Some(dir)) => self_signed(dir)?,
        _ => return Ok(None),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // HTTP/1.1 only: WebSocket upgrades ride on it, and every client speaks it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |reason: String| TlsError::Pem {
        path: path.to_owned(),
        what: "certificate",
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if chain.is_empty() {
        return Err(pem("no CERTIFICATE block".to_owned()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Pem {
        path: path.to_owned(),
        what: "private key",
        reason: e.to_string(),
    })
}

/// The local CA's parameters. They are the same every time, so a CA loaded from its key alone
/// issues certificates that chain to the `ca.pem` written when it was created.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "Switchboard local development CA");
    name.push(DnType::OrganizationName, "Switchboard");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A certificate for localhost, 127.0.0.1 and ::1, issued by the CA in `dir` (created when
/// missing), and its key.
fn self_signed(
    dir: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let write = |path: PathBuf, contents: &str| {
        std::fs::write(&path, contents).map_err(|source| TlsError::Write { path, source })
    };
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let (ca_cert_path, ca_key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
    let ca_key = if ca_cert_path.exists() && ca_key_path.exists() {
        let pem = std::fs::read_to_string(&ca_key_path).map_err(|source| TlsError::Read {
            path: ca_key_path.clone(),
            source,
        })?;
        KeyPair::from_pem(&pem).map_err(|e| TlsError::Pem {
            path: ca_key_path.clone(),
            what: "private key",
            reason: e.to_string(),
        })?
    } else {
        let key = KeyPair::generate()?;
        let cert = ca_params().self_signed(&key)?;
        write(ca_key_path.clone(), &key.serialize_pem())?;
        restrict_to_owner(&ca_key_path);
        write(ca_cert_path.clone(), &cert.pem())?;
        tracing::info!(ca = %ca_cert_path.display(), "created a local CA; trust it in clients (e.g. NODE_EXTRA_CA_CERTS)");
        key
    };
    let issuer = Issuer::new(ca_params(), ca_key);
    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "Switchboard on localhost");
    let cert = leaf.signed_by(&leaf_key, &issuer)?;
    let ca_der = CertificateDer::from_pem_file(&ca_cert_path).map_err(|e| TlsError::Pem {
        path: ca_cert_path.clone(),
        what: "certificate",
        reason: e.to_string(),
    })?;
    let key =
        PrivateKeyDer::try_from(leaf_key.serialize_der()).map_err(|reason| TlsError::Pem {
            path: dir.to_owned(),
            what: "private key",
            reason: reason.to_owned(),
        })?;
    Ok((vec![cert.der().clone(), ca_der], key))
}

#[cfg(unix)]
fn restrict_to_owner(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(error) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(%error, path = %path.display(), "could not restrict the CA key's permissions");
    }
}

#[cfg(not(unix))]
fn restrict_to_owner(_: &Path) {}

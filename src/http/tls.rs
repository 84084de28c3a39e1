//! HTTPS: the certificate chain and key named in server.cfg, loaded into rustls.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// The acceptor in force; SIGHUP may replace it with renewed certificates.
pub type SharedTls = Arc<RwLock<TlsAcceptor>>;

/// Why the TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{file}: cannot read the certificate chain: {problem}")]
    Certificate { file: PathBuf, problem: String },
    #[error("{file}: cannot read the private key: {problem}")]
    Key { file: PathBuf, problem: String },
    #[error("the certificate and key cannot be used together: {0}")]
    Config(#[from] rustls::Error),
}

/// Builds the acceptor. `dhparam` is accepted and ignored (with one warning): rustls
/// negotiates ECDHE only and has no finite-field Diffie-Hellman.
pub fn load(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let certs = read_certificates(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Key {
        file: files.key.clone(),
        problem: e.to_string(),
    })?;
    if let Some(dhparam) = &files.dhparam {
        tracing::warn!(
            dhparam = %dhparam.display(),
            "dhparam ignored: rustls uses ECDHE key exchange only"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let problem = |problem: String| TlsError::Certificate {
        file: file.to_path_buf(),
        problem,
    };
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| problem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(e.to_string()))?;
    if certs.is_empty() {
        return Err(problem("no PEM certificate found".into()));
    }
    Ok(certs)
}

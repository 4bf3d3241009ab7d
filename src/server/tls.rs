//! TLS server configuration from PEM files (rustls with ring; TLS 1.2 and 1.3), with a
//! certificate that SIGHUP reloads: new handshakes get the new one, open connections keep theirs,
//! and files that do not load leave the old one in use. The listener asks every client for a
//! certificate and accepts connections without one: the handshake only proves the client holds
//! the key of the certificate it sent; trust in it is the cert auth method's decision.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate the listener presents, and the files it comes from.
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of Debug output; the paths say which certificate this is.
        f.debug_struct("Certificate").field("cert", &self.cert).field("key", &self.key).finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl Certificate {
    /// Loads the chain and key. Refuses a key file readable by group or others, and a key that
    /// does not match the certificate.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certificate>, String> {
        let current = ArcSwap::from_pointee(read(cert, key)?);
        Ok(Arc::new(Certificate { cert: cert.to_path_buf(), key: key.to_path_buf(), current }))
    }

    /// Reads the files again; on success new handshakes present the new certificate. On failure
    /// the one in use stays, and the error says why.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = read(&self.cert, &self.key)?;
        self.current.store(Arc::new(fresh));
        Ok(())
    }
}

fn read(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let mode = std::fs::metadata(key).map_err(|e| format!("tls_key_file {}: {e}", key.display()))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "tls_key_file {} has mode {:o}; it must not be readable by group or others (chmod 600)",
            key.display(),
            mode & 0o777
        ));
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("tls_cert_file {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_cert_file {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("tls_cert_file {}: no certificate found", cert.display()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("tls_key_file {}: {e}", key.display()))?;
    let certified = CertifiedKey::from_der(certs, key_der, &provider())
        .map_err(|e| format!("TLS certificate and key do not match or are invalid: {e}"))?;
    // `from_der` lets a key whose public half it cannot compute through; the server's own key
    // must be checked.
    certified.keys_match().map_err(|e| format!("TLS certificate and key do not match or are invalid: {e}"))?;
    Ok(certified)
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Asks for a client certificate, takes any or none, and checks only the handshake signature
/// (proof of the private key). Which certificates are trusted is the cert auth method's call,
/// per role, on the chain the edge passes to the login request.
#[derive(Debug)]
struct OptionalClientCert {
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for OptionalClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The server configuration presenting `cert` (and whatever it is reloaded to).
pub fn config_for(cert: Arc<Certificate>) -> Result<Arc<ServerConfig>, String> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_client_cert_verifier(Arc::new(OptionalClientCert { algs: provider().signature_verification_algorithms }))
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Loads the certificate chain and key into a server configuration (not reloadable: tests and
/// tools that build a listener once).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    config_for(Certificate::load(cert, key)?)
}

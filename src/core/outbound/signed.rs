//! Signed outbound POSTs, the one implementation rotation webhooks and alert webhooks share: the
//! body is sent as JSON with `X-Coffer-Signature: sha256=<hex HMAC-SHA256 of the exact body>`
//! under a shared key, to the address the allow-list pinned ([`Permit`]), with no proxy, no
//! redirect, and a timeout. Errors name the step and the status, never the URL's query or the
//! answer's body.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::Permit;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Coffer-Signature";

/// Shortest shared key, in bytes.
pub const MIN_HMAC_KEY_LEN: usize = 16;

/// A webhook's shared secret. Zeroed on drop; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(transparent)]
pub struct HmacKey(String);

impl HmacKey {
    /// A key from its text (callers check [`MIN_HMAC_KEY_LEN`]).
    pub fn new(key: &str) -> Self {
        HmacKey(key.to_string())
    }

    /// The key bytes, for signing.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey([redacted])")
    }
}

/// `sha256=<hex HMAC-SHA256(key, body)>` (the crate's one HMAC, `crypto::hmac`).
pub fn signature(key: &HmacKey, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(*crate::crypto::hmac(key.expose(), body)))
}

/// A client for one call: pinned to the permit's address, the timeout on connect and on the
/// whole exchange, and the CA roots of `ca_pem` instead of the built-in ones when it is set.
pub fn client(permit: &Permit, ca_pem: &str, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = permit
        .client_builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("coffer/", env!("CARGO_PKG_VERSION")));
    if !ca_pem.trim().is_empty() {
        let certs = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
            .map_err(|_| "the webhook CA PEM could not be parsed".to_string())?;
        builder = builder.tls_built_in_root_certs(false);
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    builder.build().map_err(|e| e.without_url().to_string())
}

/// What one signed POST needs.
pub struct Post<'a> {
    /// The allow-list's decision for the URL (the address is pinned).
    pub permit: &'a Permit,
    /// The shared key.
    pub key: &'a HmacKey,
    /// Replacement CA roots (empty: the built-in ones).
    pub ca_pem: &'a str,
    /// Longest wait for the connection and for the whole answer.
    pub timeout: Duration,
}

/// POSTs `body` (JSON) signed with the key; the answer is the caller's to read. An error names
/// what failed, without the URL.
pub async fn post(p: &Post<'_>, body: Vec<u8>) -> Result<reqwest::Response, String> {
    let sig = signature(p.key, &body);
    client(p.permit, p.ca_pem, p.timeout)?
        .post(p.permit.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sig)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {}", e.without_url()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let key = HmacKey::new("Jefe");
        assert_eq!(
            signature(&key, b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let key = HmacKey::new("super-secret-key-123");
        assert_eq!(format!("{key:?}"), "HmacKey([redacted])");
        assert_eq!((key.len(), key.is_empty()), (20, false));
    }
}

//! One generate-root attempt (its nonce, one-time password and the shares submitted so far) and
//! Vault's encoding of the new token: the token XOR the OTP, base64 without padding, which
//! `bao operator generate-root -decode` reverses.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use zeroize::Zeroizing;

use crate::core::tokens::{SERVICE_PREFIX, TOKEN_RANDOM_LEN};
use crate::crypto;

/// An attempt is dropped this long after its start, whatever was submitted since: an attempt
/// nobody can cancel without its nonce must not block share holders for ever (and its starter
/// cannot keep it alive by feeding it shares that never combine).
pub const MAX_AGE: Duration = Duration::minutes(30);

/// Length of a token, and so of the one-time password (`otp_length`).
pub const OTP_LENGTH: usize = SERVICE_PREFIX.len() + TOKEN_RANDOM_LEN;

/// The attempt in progress on this node.
pub struct Attempt {
    nonce: String,
    otp: Zeroizing<String>,
    parts: Vec<Zeroizing<Vec<u8>>>,
    started: DateTime<Utc>,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt").field("progress", &self.parts.len()).finish_non_exhaustive()
    }
}

impl Attempt {
    /// A new attempt with a fresh nonce that encodes the token with `otp`.
    pub fn new(otp: Zeroizing<String>, now: DateTime<Utc>) -> Self {
        Self { nonce: uuid::Uuid::new_v4().to_string(), otp, parts: Vec::new(), started: now }
    }

    /// The nonce (handed to the starter only).
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Whether `given` is this attempt's nonce, compared in constant time.
    pub fn nonce_matches(&self, given: &str) -> bool {
        crypto::ct_eq(given.as_bytes(), self.nonce.as_bytes())
    }

    /// Shares submitted so far.
    pub fn progress(&self) -> usize {
        self.parts.len()
    }

    /// Adds a share; `false` if it was submitted before (and nothing changes).
    pub fn add(&mut self, part: Zeroizing<Vec<u8>>) -> bool {
        if self.parts.iter().any(|p| crypto::ct_eq(p, &part)) {
            return false;
        }
        self.parts.push(part);
        true
    }

    /// The shares, leaving none: the attempt starts over (as Vault's does after a failed combine).
    pub fn take_parts(&mut self) -> Vec<Zeroizing<Vec<u8>>> {
        std::mem::take(&mut self.parts)
    }

    /// True once the attempt is [`MAX_AGE`] old.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now - self.started >= MAX_AGE
    }

    /// The new token as the starter receives it.
    pub fn encode(&self, token: &str) -> Option<String> {
        encode(token.as_bytes(), self.otp.as_bytes())
    }
}

/// A fresh one-time password of [`OTP_LENGTH`] base62 characters (what Vault ≥ 1.10 generates).
pub fn generate_otp() -> Zeroizing<String> {
    Zeroizing::new(crypto::random_base62(OTP_LENGTH))
}

/// `token` XOR `otp`, base64 without padding; `None` unless both are the same length.
pub fn encode(token: &[u8], otp: &[u8]) -> Option<String> {
    if token.len() != otp.len() {
        return None;
    }
    let xored = Zeroizing::new(token.iter().zip(otp).map(|(t, o)| t ^ o).collect::<Vec<u8>>());
    Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(&xored[..]))
}

/// Reverses [`encode`]: base64 with or without padding, XOR `otp`. `None` if it does not decode
/// or the lengths differ.
pub fn decode(encoded: &str, otp: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded.trim().trim_end_matches('=')).ok()?,
    );
    if raw.len() != otp.len() {
        return None;
    }
    Some(Zeroizing::new(raw.iter().zip(otp).map(|(e, o)| e ^ o).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_the_xor_that_bao_decodes() {
        // From OpenBao 2.7.2: encoded_token "EGERGmltPgcOPwEsexEHGGEoIUUQSh4IBQo" with the OTP
        // "cOyv14LoxzpX1KOW7XWtT2L00H" is the token "s.hlXYrhvEqtJZHOVpv1DxR85B".
        let otp = b"cOyv14LoxzpX1KOW7XWtT2L00H";
        let token = decode("EGERGmltPgcOPwEsexEHGGEoIUUQSh4IBQo", otp).unwrap();
        assert_eq!(&token[..], b"s.hlXYrhvEqtJZHOVpv1DxR85B");
        assert_eq!(encode(&token, otp).unwrap(), "EGERGmltPgcOPwEsexEHGGEoIUUQSh4IBQo");
        assert!(encode(b"short", otp).is_none());
        assert!(decode("EGERGmltPgcOPwEsexEHGGEoIUUQSh4IBQo", b"short").is_none());
    }

    #[test]
    fn a_generated_otp_fits_a_token_and_the_nonce_must_match_exactly() {
        assert_eq!(generate_otp().len(), OTP_LENGTH);
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut a = Attempt::new(generate_otp(), now);
        let nonce = a.nonce().to_string();
        assert!(a.nonce_matches(&nonce));
        assert!(!a.nonce_matches(""));
        assert!(!a.nonce_matches(&nonce.to_uppercase()));
        assert!(!a.nonce_matches(&format!("{nonce} ")));
        assert!(a.add(Zeroizing::new(vec![1; 33])));
        assert!(!a.add(Zeroizing::new(vec![1; 33])), "a duplicate share is refused");
        assert_eq!(a.progress(), 1);
        assert!(!format!("{a:?}").contains(&nonce), "Debug shows no nonce");
        assert!(!a.expired(now + MAX_AGE - Duration::seconds(1)));
        // A share just before the end does not keep it alive.
        assert!(a.add(Zeroizing::new(vec![2; 33])));
        assert!(a.expired(now + MAX_AGE));
    }
}

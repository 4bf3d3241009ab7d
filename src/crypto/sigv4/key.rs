//! The SigV4 signing key (an HMAC chain from `AWS4` + secret over date, region, service and
//! `aws4_request`) and the signature it gives. Every key-derived buffer is zeroized on drop.

use hmac::digest::{FixedOutput, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::TERMINATOR;

/// SHA-256's block size: HMAC's key is padded (or first hashed) to it.
const BLOCK: usize = 64;

/// HMAC-SHA256 of `msg` under `key`. The key is prepared as RFC 2104 says (hashed when longer
/// than a block, then zero-padded), in a zeroized buffer, so no fallible constructor is needed.
pub(super) fn hmac_sha256(key: &[u8], msg: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut block = Zeroizing::new([0u8; BLOCK]);
    if key.len() > BLOCK {
        let mut hashed = Zeroizing::new([0u8; 32]);
        let mut hasher = Sha256::new();
        hasher.update(key);
        Digest::finalize_into(hasher, (&mut *hashed).into());
        for (to, from) in block.iter_mut().zip(hashed.iter()) {
            *to = *from;
        }
    } else {
        for (to, from) in block.iter_mut().zip(key) {
            *to = *from;
        }
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&(*block).into());
    mac.update(msg);
    let mut out = Zeroizing::new([0u8; 32]);
    FixedOutput::finalize_into(mac, (&mut *out).into());
    out
}

/// The signature of `string_to_sign` under the key derived from `secret` for this scope.
pub(super) fn signature(
    secret: &[u8],
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &[u8],
) -> Zeroizing<[u8; 32]> {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let k_date = hmac_sha256(&k_secret, date.as_bytes());
    let k_region = hmac_sha256(&*k_date, region.as_bytes());
    let k_service = hmac_sha256(&*k_region, service.as_bytes());
    let k_signing = hmac_sha256(&*k_service, TERMINATOR.as_bytes());
    hmac_sha256(&*k_signing, string_to_sign)
}

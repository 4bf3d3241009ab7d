//! The SigV4 signing key (an HMAC chain from `AWS4` + secret over date, region, service and
//! `aws4_request`) and the signature it gives. Every key-derived buffer is zeroized on drop.

use zeroize::Zeroizing;

use super::TERMINATOR;
use crate::crypto::hmac as hmac_sha256;

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

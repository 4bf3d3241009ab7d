//! The client side of SigV4, for Coffer's own tests and benchmarks: the `Authorization` header of
//! a request, built on the canonical request the verifier uses.

use super::canonical::{canonical_request_of, payload_hash, scope, string_to_sign, Signed};
use super::date::{day_of, parse_amz_date};
use super::{key, SigError, ALGORITHM};

/// The `Authorization` header value for `req`, signed over `signed_headers` (any case, any
/// order). The caller sets `host` (or an absolute URI), `x-amz-date` and every other header it
/// signs before calling. The payload hash is `x-amz-content-sha256` when the request has one
/// (as SDKs do), else the SHA-256 of the body.
pub fn authorization_header(
    access_key_id: &str,
    secret_access_key: &str,
    region: &str,
    service: &str,
    req: &Signed<'_>,
    signed_headers: &[&str],
) -> Result<String, SigError> {
    let mut names: Vec<String> = signed_headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let amz_date = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| SigError::incomplete("Set the x-amz-date header before signing."))?;
    parse_amz_date(amz_date)?;
    let date = day_of(amz_date);
    let payload = match req.headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()) {
        Some(value) => value.to_string(),
        None => payload_hash(req.body),
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let canonical = canonical_request_of(req, &names, &payload)?;
    let scope = scope(date, region, service);
    let to_sign = string_to_sign(amz_date, &scope, &canonical);
    let signature = key::signature(secret_access_key.as_bytes(), date, region, service, to_sign.as_bytes());
    Ok(format!(
        "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={}, Signature={}",
        names.join(";"),
        hex::encode(*signature)
    ))
}

//! Server-side verification of a SigV4-signed request: scope, signed-header rules, time window,
//! payload hash, then the recomputed signature compared in constant time.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::canonical::{canonical_request_of, payload_hash, string_to_sign, Signed};
use super::date::{check_window, day_of, parse_amz_date};
use super::error::MISMATCH;
use super::{key, Authorization, SigError};

/// Headers that must always be signed.
const ALWAYS_SIGNED: [&str; 2] = ["host", "x-amz-date"];

/// Headers that must be signed whenever the request has them: they decide what the request does
/// (the operation, how the body is read, the body's hash, the session).
const SIGNED_WHEN_PRESENT: [&str; 4] = ["content-type", "x-amz-content-sha256", "x-amz-security-token", "x-amz-target"];

/// Payload-hash values of unsigned and streaming bodies, which Coffer refuses.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const STREAMING_PREFIX: &str = "STREAMING-";

/// Checks that `req`, whose `Authorization` header is `auth`, was signed with
/// `secret_access_key` for `expected_service` within five minutes of `now`. The payload hash is
/// always that of the body received. The caller has looked up `auth.access_key_id` (an unknown
/// key is `SigError::UnrecognizedClient`) and decides which regions it accepts.
pub fn verify(
    auth: &Authorization,
    req: &Signed<'_>,
    secret_access_key: &SecretString,
    expected_service: &str,
    now: DateTime<Utc>,
) -> Result<(), SigError> {
    if auth.service != expected_service {
        return Err(SigError::invalid(format!(
            "Credential should be scoped to correct service: '{expected_service}'. "
        )));
    }
    check_signed_headers(auth, req)?;
    let amz_date = single_header(req, "x-amz-date")?
        .ok_or_else(|| SigError::incomplete("Authorization header requires existence of a 'X-Amz-Date' header."))?;
    let when = parse_amz_date(amz_date)?;
    if day_of(amz_date) != auth.date {
        return Err(SigError::invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.date,
            day_of(amz_date),
        )));
    }
    check_window(amz_date, when, now)?;
    let payload = payload_hash(req.body);
    check_content_sha256(req, &payload)?;
    let names: Vec<&str> = auth.signed_headers.iter().map(String::as_str).collect();
    let canonical = canonical_request_of(req, &names, &payload)?;
    let to_sign = string_to_sign(amz_date, &auth.scope(), &canonical);
    let expected = key::signature(
        secret_access_key.expose_secret().as_bytes(),
        &auth.date,
        &auth.region,
        &auth.service,
        to_sign.as_bytes(),
    );
    if crate::crypto::ct_eq(&*expected, &auth.signature) {
        Ok(())
    } else {
        Err(SigError::invalid(MISMATCH))
    }
}

fn is_signed(auth: &Authorization, name: &str) -> bool {
    auth.signed_headers.binary_search_by(|h| h.as_str().cmp(name)).is_ok()
}

/// `host` and `x-amz-date` are signed; so is each decisive header the request has; and none of
/// these comes twice.
fn check_signed_headers(auth: &Authorization, req: &Signed<'_>) -> Result<(), SigError> {
    for name in ALWAYS_SIGNED {
        if !is_signed(auth, name) {
            return Err(SigError::incomplete(format!("'{name}' must be among the SignedHeaders.")));
        }
    }
    for name in ALWAYS_SIGNED.iter().chain(SIGNED_WHEN_PRESENT.iter()) {
        let count = req.headers.get_all(*name).iter().count();
        if count > 1 {
            return Err(SigError::incomplete(format!("The request has more than one '{name}' header.")));
        }
        if count == 1 && !is_signed(auth, name) {
            return Err(SigError::incomplete(format!(
                "The request's '{name}' header is not signed: it must be among the SignedHeaders."
            )));
        }
    }
    Ok(())
}

/// The one value of header `name`, if any, as ASCII text.
fn single_header<'a>(req: &Signed<'a>, name: &str) -> Result<Option<&'a str>, SigError> {
    let mut values = req.headers.get_all(name).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(SigError::incomplete(format!("The request has more than one '{name}' header.")));
    }
    value.to_str().map(Some).map_err(|_| SigError::incomplete(format!("The '{name}' header must be printable ASCII.")))
}

/// An `x-amz-content-sha256` header, when sent, must be the hash of the body received: an
/// unsigned or streaming payload is refused.
fn check_content_sha256(req: &Signed<'_>, payload: &str) -> Result<(), SigError> {
    match single_header(req, "x-amz-content-sha256")? {
        None => Ok(()),
        Some(value) if value == payload => Ok(()),
        Some(value) if value == UNSIGNED_PAYLOAD || value.starts_with(STREAMING_PREFIX) => Err(SigError::incomplete(
            "Unsigned and streaming payloads are not supported: x-amz-content-sha256 must be the SHA-256 of the body (or be left out).",
        )),
        Some(_) => Err(SigError::invalid("The provided 'x-amz-content-sha256' header does not match what was computed.")),
    }
}

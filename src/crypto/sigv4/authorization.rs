//! The `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header, parsed
//! and checked for shape before any hashing.

use http::header::AUTHORIZATION;
use percent_encoding::percent_decode_str;

use super::{SigError, ALGORITHM, MAX_AUTHORIZATION_LEN, MAX_SIGNED_HEADERS, MAX_SIGNED_HEADERS_LEN, TERMINATOR};

/// The parsed `Authorization` header of a SigV4-signed request. No `PartialEq`: the signature is
/// only ever compared in constant time, by `verify`.
#[derive(Clone)]
pub struct Authorization {
    /// The access key id the request claims (the caller looks it up).
    pub access_key_id: String,
    /// The credential scope's day, `YYYYMMDD`.
    pub date: String,
    /// The credential scope's region (any well-formed region: the caller decides which it serves).
    pub region: String,
    /// The credential scope's service (`verify` checks it against the expected one).
    pub service: String,
    /// The signed header names: lowercase, sorted, unique.
    pub signed_headers: Vec<String>,
    pub(super) signature: [u8; 32],
}

impl Authorization {
    /// The credential scope, `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        super::canonical::scope(&self.date, &self.region, &self.service)
    }
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope())
            .field("signed_headers", &self.signed_headers)
            .finish_non_exhaustive()
    }
}

/// The query parameters of presigned-URL (query-string) authentication.
const PRESIGN_PARAMS: [&str; 3] = ["x-amz-algorithm", "x-amz-credential", "x-amz-signature"];

fn is_presigned(uri: &http::Uri) -> bool {
    let Some(query) = uri.query() else { return false };
    query.split('&').any(|piece| {
        let name = piece.split_once('=').map_or(piece, |(name, _)| name);
        let name = percent_decode_str(name).decode_utf8_lossy();
        PRESIGN_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p))
    })
}

/// Reads the `Authorization` header of a request to `uri`. No header gives
/// `MissingAuthenticationToken`; a presigned URL, another algorithm or a malformed part gives
/// `IncompleteSignature`; a credential scope not ending in `aws4_request` gives
/// `InvalidSignature`.
pub fn parse_authorization(headers: &http::HeaderMap, uri: &http::Uri) -> Result<Authorization, SigError> {
    if is_presigned(uri) {
        return Err(SigError::incomplete(
            "Query-string authentication (a presigned URL with X-Amz-Algorithm, X-Amz-Credential or X-Amz-Signature) \
             is not supported: sign the request with an Authorization header.",
        ));
    }
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(SigError::MissingAuthenticationToken);
    };
    if values.next().is_some() {
        return Err(SigError::incomplete("The request has more than one Authorization header."));
    }
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(SigError::incomplete(format!(
            "The Authorization header is longer than {MAX_AUTHORIZATION_LEN} bytes."
        )));
    }
    let value =
        value.to_str().map_err(|_| SigError::incomplete("The Authorization header must be printable ASCII."))?;
    let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
    if scheme != ALGORITHM {
        return Err(SigError::incomplete(format!(
            "Unsupported AWS 'algorithm': the Authorization header must start with '{ALGORITHM}' (Signature Version 4)."
        )));
    }
    let parts = Parts::read(params)?;
    let (access_key_id, date, region, service) = credential(parts.credential)?;
    Ok(Authorization {
        access_key_id: access_key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed_headers(parts.signed_headers)?,
        signature: signature(parts.signature)?,
    })
}

/// The three `name=value` parts, each given exactly once.
struct Parts<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

impl<'a> Parts<'a> {
    fn read(params: &'a str) -> Result<Self, SigError> {
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        if !params.trim().is_empty() {
            for part in params.split(',') {
                let Some((name, value)) = part.trim_matches(' ').split_once('=') else {
                    return Err(SigError::incomplete(
                        "A part of the Authorization header is not a valid key=value pair (missing equal-sign).",
                    ));
                };
                let slot = match name {
                    "Credential" => &mut credential,
                    "SignedHeaders" => &mut signed_headers,
                    "Signature" => &mut signature,
                    _ => {
                        return Err(SigError::incomplete(
                            "The Authorization header may only hold the Credential, SignedHeaders and Signature parameters.",
                        ))
                    }
                };
                if slot.replace(value).is_some() {
                    return Err(SigError::incomplete(format!(
                        "The Authorization header gives '{name}' more than once."
                    )));
                }
            }
        }
        match (credential, signed_headers, signature) {
            (Some(credential), Some(signed_headers), Some(signature)) => {
                Ok(Parts { credential, signed_headers, signature })
            }
            (credential, signed_headers, signature) => {
                let missing = [("Credential", credential), ("Signature", signature), ("SignedHeaders", signed_headers)];
                let message: Vec<String> = missing
                    .iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(name, _)| format!("Authorization header requires '{name}' parameter."))
                    .collect();
                Err(SigError::incomplete(message.join(" ")))
            }
        }
    }
}

/// `keyid/YYYYMMDD/region/service/aws4_request`, each element checked for shape.
fn credential(value: &str) -> Result<(&str, &str, &str, &str), SigError> {
    let elements: Vec<&str> = value.split('/').collect();
    let [access_key_id, date, region, service, terminator] = elements.as_slice() else {
        return Err(SigError::incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term.",
        ));
    };
    let key_ok = (1..=128).contains(&access_key_id.len())
        && access_key_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !key_ok {
        return Err(SigError::incomplete("The access key id in Credential must be 1 to 128 letters, digits or '_'."));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigError::incomplete("The date in Credential must be YYYYMMDD."));
    }
    let name_ok = |s: &str| {
        (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !name_ok(region) || !name_ok(service) {
        return Err(SigError::incomplete(
            "The region and service in Credential must be 1 to 64 lowercase letters, digits or '-'.",
        ));
    }
    if *terminator != TERMINATOR {
        let shown: String = terminator.chars().take(32).collect();
        return Err(SigError::invalid(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{shown}'."
        )));
    }
    Ok((access_key_id, date, region, service))
}

/// A header-name character (RFC 9110 `tchar`), lowercase only.
fn lowercase_tchar(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `a;b;c`: lowercase header names, strictly ascending (so sorted and unique), bounded in number
/// and length.
fn signed_headers(value: &str) -> Result<Vec<String>, SigError> {
    if value.len() > MAX_SIGNED_HEADERS_LEN {
        return Err(SigError::incomplete(format!("SignedHeaders is longer than {MAX_SIGNED_HEADERS_LEN} bytes.")));
    }
    if value.split(';').count() > MAX_SIGNED_HEADERS {
        return Err(SigError::incomplete(format!("SignedHeaders lists more than {MAX_SIGNED_HEADERS} headers.")));
    }
    let names: Vec<&str> = value.split(';').collect();
    let well_formed = names.iter().all(|n| !n.is_empty() && n.bytes().all(lowercase_tchar))
        && names.windows(2).all(|pair| matches!(pair, [a, b] if a < b));
    if !well_formed {
        return Err(SigError::incomplete(
            "SignedHeaders must be lowercase header names, sorted and without duplicates, separated by ';'.",
        ));
    }
    Ok(names.into_iter().map(str::to_string).collect())
}

/// 64 hex digits: the 32 bytes of an HMAC-SHA256.
fn signature(value: &str) -> Result<[u8; 32], SigError> {
    let mut out = [0u8; 32];
    if value.len() != 64 || hex::decode_to_slice(value, &mut out).is_err() {
        return Err(SigError::incomplete("Signature must be 64 hexadecimal digits (an HMAC-SHA256)."));
    }
    Ok(out)
}

//! The SigV4 canonical request (method, URI, query, headers, signed-header list, payload hash)
//! and the string to sign: the part the signer and the verifier share.

use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use super::{SigError, ALGORITHM, TERMINATOR};

/// Every byte but AWS's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is percent-encoded, with
/// upper-case hex digits.
const AWS_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A request exactly as it was received (or, for the signer, as it will be sent).
#[derive(Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// Method, path and body length only: headers and body may hold a token or a secret value.
impl std::fmt::Debug for Signed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("method", self.method)
            .field("path", &self.uri.path())
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// One signed header: its lowercase name and every value the request gives it, in order.
pub(super) struct Header<'n, 'a> {
    pub(super) name: &'n str,
    pub(super) values: Vec<&'a [u8]>,
}

/// The lowercase hex SHA-256 of `body`: the payload hash of the canonical request.
pub(super) fn payload_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The canonical URI of a path as it came on the wire (already percent-encoded once by the
/// client): each segment is percent-encoded again, as AWS does for every service but S3, and
/// `/` stays `/`. The path is not normalised: `.`, `..` and empty segments are signed as sent.
pub(super) fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    let segments: Vec<String> = path.split('/').map(|s| percent_encode(s.as_bytes(), AWS_ENCODE).to_string()).collect();
    segments.join("/")
}

/// The canonical query string: each `name=value` pair decoded (`+` as a space, as a form
/// decoder reads it), encoded again with AWS's unreserved set, then sorted by name and value.
pub(super) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (reencode(name), reencode(value))
        })
        .collect();
    pairs.sort();
    let joined: Vec<String> = pairs.into_iter().map(|(name, value)| format!("{name}={value}")).collect();
    joined.join("&")
}

fn reencode(component: &str) -> String {
    let spaced = component.replace('+', " ");
    let decoded: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
    percent_encode(&decoded, AWS_ENCODE).to_string()
}

/// A header's canonical value: each value trimmed, its inner runs of spaces and tabs made one
/// space, and the values joined with `,` in the order they came.
fn canonical_header_value(values: &[&[u8]], out: &mut Vec<u8>) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut words = value.split(|b| *b == b' ' || *b == b'\t').filter(|w| !w.is_empty());
        if let Some(first) = words.next() {
            out.extend_from_slice(first);
            for word in words {
                out.push(b' ');
                out.extend_from_slice(word);
            }
        }
    }
}

/// The canonical request. `headers` are sorted by their lowercase names; header values may hold
/// bytes that are not UTF-8, hence bytes.
pub(super) fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[Header<'_, '_>],
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(query).as_bytes());
    out.push(b'\n');
    for header in headers {
        out.extend_from_slice(header.name.as_bytes());
        out.push(b':');
        canonical_header_value(&header.values, &mut out);
        out.push(b'\n');
    }
    out.push(b'\n');
    let names: Vec<&str> = headers.iter().map(|h| h.name).collect();
    out.extend_from_slice(names.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// The values of header `name` in `req`, in order. `host` falls back on the URI's authority, which
/// is where HTTP/2 carries it (`:authority`).
pub(super) fn header_values<'a>(req: &Signed<'a>, name: &str) -> Vec<&'a [u8]> {
    let values: Vec<&'a [u8]> = req.headers.get_all(name).iter().map(|v| v.as_bytes()).collect();
    if values.is_empty() && name == "host" {
        if let Some(authority) = req.uri.authority() {
            return vec![authority.as_str().as_bytes()];
        }
    }
    values
}

/// The canonical request of `req` over the signed headers `names` (lowercase, sorted, unique).
/// A signed header the request does not have is refused.
pub(super) fn canonical_request_of(req: &Signed<'_>, names: &[&str], payload_hash: &str) -> Result<Vec<u8>, SigError> {
    let mut headers = Vec::with_capacity(names.len());
    for name in names {
        let values = header_values(req, name);
        if values.is_empty() {
            return Err(SigError::incomplete(format!(
                "The header '{name}' is listed in SignedHeaders but the request does not have it."
            )));
        }
        headers.push(Header { name, values });
    }
    let query = req.uri.query().unwrap_or("");
    Ok(canonical_request(req.method.as_str(), req.uri.path(), query, &headers, payload_hash))
}

/// The credential scope `date/region/service/aws4_request`.
pub(super) fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/{TERMINATOR}")
}

/// The string to sign: algorithm, request time, credential scope and the canonical request's
/// SHA-256, one a line.
pub(super) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request)))
}

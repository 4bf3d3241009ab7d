//! The login's signed request, decoded and checked before anything is sent: POST only, a URL
//! without a query, a body that is exactly `Action=GetCallerIdentity` (and `Version`), a SigV4
//! `Authorization` for the `sts` service that signs `host` and `x-amz-date`, a fresh date, and
//! the server-id header when the mount requires one, among the signed headers. What comes out is
//! what is forwarded: the signed headers only.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::base::error::ApiError;
use crate::base::params;
use crate::crypto::sigv4;

/// The server-id header (Vault's name).
pub const SERVER_ID_HEADER: &str = "X-Vault-AWS-IAM-Server-ID";
/// Longest accepted decoded body, URL and header value, in bytes.
const MAX_BODY_LEN: usize = 1024;
const MAX_URL_LEN: usize = 2048;
const MAX_HEADER_VALUE_LEN: usize = 8 * 1024;
/// Most headers accepted.
const MAX_HEADERS: usize = 64;
/// How far `X-Amz-Date` may be from the server's clock, in seconds (STS allows 15 minutes).
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// Headers never forwarded: the connection's own, which the client does not get to set.
const NOT_FORWARDED: [&str; 5] = ["host", "content-length", "transfer-encoding", "connection", "expect"];

/// A checked request, ready to forward. No `Debug`: its headers hold the signature and any
/// session token.
pub struct Checked {
    /// The `Host` the client signed.
    pub host: String,
    /// `Authorization` and the other signed headers, as given.
    pub headers: Vec<(String, String)>,
    /// The body, exactly as signed.
    pub body: Vec<u8>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

/// A base64 field (standard alphabet, as Vault's clients send it).
fn b64_field(d: &Map<String, Value>, key: &str, max: usize) -> Result<Vec<u8>, ApiError> {
    let raw = params::str_field(d, key)?.unwrap_or("");
    if raw.is_empty() {
        return Err(bad(format!("missing {key}")));
    }
    if raw.len() > max.div_ceil(3) * 4 + 4 {
        return Err(bad(format!("{key} is too large")));
    }
    STANDARD.decode(raw.trim()).map_err(|_| bad(format!("failed to base64 decode {key}")))
}

/// Checks the login fields; `server_id` is the mount's `iam_server_id_header_value`.
pub fn check(d: &Map<String, Value>, server_id: &str, now: DateTime<Utc>) -> Result<Checked, ApiError> {
    match params::str_field(d, "iam_http_request_method")?.unwrap_or("") {
        "" => return Err(bad("missing iam_http_request_method")),
        "POST" => {}
        _ => return Err(bad("invalid iam_http_request_method; currently only 'POST' is supported")),
    }
    let raw_url = b64_field(d, "iam_request_url", MAX_URL_LEN)?;
    let url = std::str::from_utf8(&raw_url)
        .ok()
        .and_then(|u| url::Url::parse(u).ok())
        .ok_or_else(|| bad("error parsing iam_request_url"))?;
    if url.query().is_some() || url.fragment().is_some() || !matches!(url.path(), "" | "/") {
        return Err(bad("invalid request: iam_request_url must have the path \"/\" and no query"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("error parsing iam_request_url"));
    }
    let url_host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(bad("error parsing iam_request_url")),
    };
    let body = b64_field(d, "iam_request_body", MAX_BODY_LEN)?;
    if body.len() > MAX_BODY_LEN {
        return Err(bad("iam_request_body is too large"));
    }
    check_body(&body)?;
    let headers = header_field(d)?;
    let mut map = http::HeaderMap::new();
    for (name, value) in &headers {
        let n = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("invalid iam_request_headers"))?;
        let v = http::HeaderValue::from_str(value).map_err(|_| bad("invalid iam_request_headers"))?;
        map.append(n, v);
    }
    let uri: http::Uri = "/".parse().map_err(|_| bad("invalid request"))?;
    let auth = sigv4::parse_authorization(&map, &uri)
        .map_err(|_| bad("iam_request_headers: missing or malformed AWS4-HMAC-SHA256 Authorization header"))?;
    if map.get_all(http::header::AUTHORIZATION).iter().count() != 1 {
        return Err(bad("iam_request_headers: more than one Authorization header"));
    }
    if auth.service != "sts" {
        return Err(bad("iam_request_headers: the request is not signed for the sts service"));
    }
    for needed in ["host", "x-amz-date"] {
        if !auth.signed_headers.iter().any(|h| h == needed) {
            return Err(bad(format!("iam_request_headers: the {needed} header is not signed")));
        }
    }
    let date = single(&map, "x-amz-date")?.ok_or_else(|| bad("iam_request_headers: missing X-Amz-Date"))?;
    let when = NaiveDateTime::parse_from_str(&date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| bad("iam_request_headers: X-Amz-Date is not a date"))?
        .and_utc();
    if (now - when).num_seconds().abs() > MAX_SKEW_SECS || !date.starts_with(&auth.date) {
        return Err(bad("iam_request_headers: the signature's date (X-Amz-Date) is not within 15 minutes of now"));
    }
    if !server_id.is_empty() {
        check_server_id(&map, &auth.signed_headers, server_id)
            .map_err(|e| bad(format!("error validating {SERVER_ID_HEADER} header: {e}")))?;
    }
    if let Some(len) = single(&map, "content-length")? {
        if len.trim() != body.len().to_string() {
            return Err(bad("iam_request_headers: Content-Length does not match iam_request_body"));
        }
    }
    let host = single(&map, "host")?.unwrap_or(url_host);
    let forwarded = headers
        .into_iter()
        .filter(|(name, _)| {
            let lower = name.to_ascii_lowercase();
            !NOT_FORWARDED.contains(&lower.as_str())
                && (lower == "authorization" || auth.signed_headers.contains(&lower))
        })
        .collect();
    Ok(Checked { host, headers: forwarded, body })
}

/// The one value of a header, if given (two values: 400).
fn single(map: &http::HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    let mut values = map.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(bad(format!("iam_request_headers: more than one {name} header")));
    }
    first
        .map(|v| v.to_str().map(str::to_string).map_err(|_| bad(format!("iam_request_headers: invalid {name}"))))
        .transpose()
}

/// The body must be `Action=GetCallerIdentity` with at most a `Version=2011-06-15`, nothing else.
pub fn check_body(body: &[u8]) -> Result<(), ApiError> {
    let invalid = || bad("iam request body is invalid");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| invalid())?;
    let mut action = 0;
    let mut version = 0;
    for (k, v) in &pairs {
        match (k.as_str(), v.as_str()) {
            ("Action", "GetCallerIdentity") => action += 1,
            ("Version", "2011-06-15") => version += 1,
            _ => return Err(invalid()),
        }
    }
    if action != 1 || version > 1 {
        return Err(invalid());
    }
    Ok(())
}

/// Vault's header check: the value must match, and the header must be among the signed ones.
fn check_server_id(map: &http::HeaderMap, signed: &[String], expected: &str) -> Result<(), String> {
    let given: Vec<&str> = map.get_all(SERVER_ID_HEADER).iter().filter_map(|v| v.to_str().ok()).collect();
    let given = given.join(",");
    if given.is_empty() {
        return Err(format!("missing header {SERVER_ID_HEADER:?}"));
    }
    if given != expected {
        return Err(format!("expected {expected:?} but got {given:?}"));
    }
    if !signed.iter().any(|h| h.eq_ignore_ascii_case(SERVER_ID_HEADER)) {
        return Err("vault header wasn't signed".into());
    }
    Ok(())
}

/// `iam_request_headers`: a JSON object (name → string or list of strings), given as an object, as
/// JSON text, or as base64 of JSON text (what hvac and the CLIs send).
fn header_field(d: &Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    let invalid = || bad("invalid iam_request_headers: expected a JSON object of header names to values");
    let object = match d.get("iam_request_headers") {
        None | Some(Value::Null) => return Err(bad("missing iam_request_headers")),
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) if s.is_empty() => return Err(bad("missing iam_request_headers")),
        Some(Value::String(s)) => {
            if s.len() > MAX_HEADERS * MAX_HEADER_VALUE_LEN {
                return Err(bad("iam_request_headers is too large"));
            }
            let text = match STANDARD.decode(s.trim()) {
                Ok(bytes) => String::from_utf8(bytes).map_err(|_| invalid())?,
                Err(_) => s.clone(),
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                _ => return Err(invalid()),
            }
        }
        Some(_) => return Err(invalid()),
    };
    let mut out = Vec::new();
    for (name, value) in object {
        let values = match value {
            Value::String(s) => vec![s],
            Value::Array(items) => items
                .into_iter()
                .map(|i| i.as_str().map(str::to_string).ok_or_else(invalid))
                .collect::<Result<_, _>>()?,
            _ => return Err(invalid()),
        };
        for v in values {
            if v.len() > MAX_HEADER_VALUE_LEN {
                return Err(bad("iam_request_headers: a header value is too large"));
            }
            out.push((name.clone(), v));
        }
        if out.len() > MAX_HEADERS {
            return Err(bad("iam_request_headers: too many headers"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_caller_identity_passes() {
        assert!(check_body(b"Action=GetCallerIdentity&Version=2011-06-15").is_ok());
        assert!(check_body(b"Action=GetCallerIdentity").is_ok());
        for bad in [
            &b"Action=AssumeRole&Version=2011-06-15"[..],
            b"Action=GetCallerIdentity&Action=GetCallerIdentity",
            b"Action=GetCallerIdentity&Version=2011-06-15&RoleArn=x",
            b"action=GetCallerIdentity",
            b"Action=getcalleridentity",
            b"Action=GetCallerIdentity&Version=2012-01-01",
            b"Version=2011-06-15",
            b"",
        ] {
            assert!(check_body(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}

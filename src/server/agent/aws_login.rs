//! The body of an AWS IAM login: an `sts:GetCallerIdentity` request signed with the workload's
//! credentials (see `aws_credentials`), base64-encoded as Vault's clients send it. The server forwards it to its
//! own STS endpoint and never to the URL named here.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::aws_credentials::Credentials;
use crate::crypto::sigv4;

/// The only request the login accepts.
const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// The login's JSON body, signed at `now`, for `role` (none: the server uses the principal's name).
pub fn body(
    creds: &Credentials,
    role: Option<&str>,
    region: &str,
    header_value: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let url = if region == "us-east-1" {
        "https://sts.amazonaws.com/".to_string()
    } else {
        format!("https://sts.{region}.amazonaws.com/")
    };
    let uri: http::Uri = url.parse().map_err(|_| format!("auto_auth.region {region:?} does not make a URL"))?;
    let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let mut headers = http::HeaderMap::new();
    let mut put = |name: &'static str, value: &str| -> Result<(), String> {
        let v = http::HeaderValue::from_str(value).map_err(|_| format!("{name}: not a header value"))?;
        headers.insert(name, v);
        Ok(())
    };
    put("host", &host)?;
    put("content-type", "application/x-www-form-urlencoded; charset=utf-8")?;
    put("x-amz-date", &now.format("%Y%m%dT%H%M%SZ").to_string())?;
    let mut signed = vec!["host", "content-type", "x-amz-date"];
    if let Some(v) = header_value {
        put("x-vault-aws-iam-server-id", v)?;
        signed.push("x-vault-aws-iam-server-id");
    }
    if let Some(t) = &creds.token {
        put("x-amz-security-token", t)?;
        signed.push("x-amz-security-token");
    }
    let req = sigv4::Signed { method: &http::Method::POST, uri: &uri, headers: &headers, body: BODY.as_bytes() };
    let auth = sigv4::authorization_header(&creds.key_id, &creds.secret, region, "sts", &req, &signed)
        .map_err(|e| format!("signing the login: {e}"))?;
    let mut h: Map<String, Value> =
        headers.iter().map(|(k, v)| (k.to_string(), json!([v.to_str().unwrap_or_default()]))).collect();
    h.insert("Authorization".into(), json!([auth]));
    let mut login = json!({
        "iam_http_request_method": "POST",
        "iam_request_url": STANDARD.encode(&url),
        "iam_request_body": STANDARD.encode(BODY),
        "iam_request_headers": STANDARD.encode(Value::Object(h).to_string()),
    });
    if let (Some(r), Some(obj)) = (role, login.as_object_mut()) {
        obj.insert("role".into(), json!(r));
    }
    Ok(Zeroizing::new(login.to_string().into_bytes()))
}

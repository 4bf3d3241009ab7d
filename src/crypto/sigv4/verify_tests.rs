//! The verifier against requests signed by botocore (`SigV4Auth`, time fixed at
//! 20261206T101010Z), each rule broken on its own, and the signer's round trip.
//!
//! The botocore values below came from this one-off (botocore 1.43), printing the headers:
//!
//! ```text
//! import datetime, json, botocore.auth
//! from botocore.auth import SigV4Auth
//! from botocore.awsrequest import AWSRequest
//! from botocore.credentials import Credentials
//! botocore.auth.get_current_datetime = lambda remove_tzinfo=True: datetime.datetime(2026, 12, 6, 10, 10, 10)
//! req = AWSRequest(method="POST", url="http://127.0.0.1:8200/",
//!                  data=json.dumps({"SecretId": "prod/db/password"}).encode(),
//!                  headers={"X-Amz-Target": "secretsmanager.GetSecretValue",
//!                           "Content-Type": "application/x-amz-json-1.1"})
//! SigV4Auth(Credentials(SM_AKID, SECRET), "secretsmanager", "us-east-1").add_auth(req)
//! # STS: Credentials(STS_AKID, SECRET, STS_TOKEN), service "sts", data=STS_BODY,
//! # headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
//! ```

use chrono::{DateTime, TimeDelta, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use secrecy::SecretString;

use super::canonical::{canonical_request_of, payload_hash};
use super::*;

const SECRET: &str = "cofferTestSecret/0123456789abcdefghijklmnop";
const AMZ_DATE: &str = "20261206T101010Z";
const REGION: &str = "us-east-1";

/// botocore's `SigV4Auth(creds, "secretsmanager", "us-east-1")` over a `POST
/// http://127.0.0.1:8200/` with these headers and body.
const SM_AKID: &str = "AKIACOFFERTEST000001";
const SM_BODY: &str = r#"{"SecretId": "prod/db/password"}"#;
const SM_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIACOFFERTEST000001/20261206/us-east-1/secretsmanager/aws4_request, \
SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=bee834824ff63dceebe6a2d3323c8ad7af18cfd03f6eb91a8dcf538a7c979e48";
/// The canonical request botocore signed for it (`SigV4Auth.canonical_request`).
const SM_CANONICAL: &str = "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:127.0.0.1:8200\n\
x-amz-date:20261206T101010Z\nx-amz-target:secretsmanager.GetSecretValue\n\n\
content-type;host;x-amz-date;x-amz-target\nf4facec8f0c6969473b1ad72f765c0c840a030855f336c58d083b765a83f5560";

/// botocore's `SigV4Auth(creds_with_token, "sts", "us-east-1")`: STS `GetCallerIdentity` as a
/// query-protocol form POST with a session token.
const STS_AKID: &str = "ASIACOFFERTEST000002";
const STS_TOKEN: &str = "FQoGZXIvYXdzEXAMPLETOKEN//////////wEaDM=";
const STS_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
const STS_AUTH: &str = "AWS4-HMAC-SHA256 Credential=ASIACOFFERTEST000002/20261206/us-east-1/sts/aws4_request, \
SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=5cc70b2657f70fa9ecfa88e43e8f538995b6066e70e07882b330a26146a18672";

fn signed_at() -> DateTime<Utc> {
    "2026-12-06T10:10:10Z".parse().unwrap()
}

fn secret() -> SecretString {
    SecretString::from(SECRET)
}

struct Req {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Req {
    fn signed(&self) -> Signed<'_> {
        Signed { method: &self.method, uri: &self.uri, headers: &self.headers, body: &self.body }
    }

    fn set(&mut self, name: &str, value: &str) {
        self.headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }

    /// Re-signs with Coffer's signer (SM key and secret) over `names`, for `service`.
    fn resign(&mut self, service: &str, names: &[&str]) {
        self.headers.remove("authorization");
        let header = authorization_header(SM_AKID, SECRET, REGION, service, &self.signed(), names).unwrap();
        self.set("authorization", &header);
    }

    fn check(&self, service: &str, now: DateTime<Utc>) -> Result<(), SigError> {
        let auth = parse_authorization(&self.headers, &self.uri)?;
        verify(&auth, &self.signed(), &secret(), service, now)
    }

    fn check_sm(&self) -> Result<(), SigError> {
        self.check("secretsmanager", signed_at())
    }
}

/// The Secrets Manager request as botocore signed it, with the unsigned headers an HTTP client
/// adds.
fn sm_request() -> Req {
    let mut req =
        Req { method: Method::POST, uri: "/".parse().unwrap(), headers: HeaderMap::new(), body: SM_BODY.into() };
    req.set("host", "127.0.0.1:8200");
    req.set("x-amz-target", "secretsmanager.GetSecretValue");
    req.set("content-type", "application/x-amz-json-1.1");
    req.set("x-amz-date", AMZ_DATE);
    req.set("authorization", SM_AUTH);
    req.set("content-length", "32");
    req.set("user-agent", "Boto3/1.40 md/Botocore#1.43");
    req
}

fn sts_request() -> Req {
    let mut req =
        Req { method: Method::POST, uri: "/".parse().unwrap(), headers: HeaderMap::new(), body: STS_BODY.into() };
    req.set("host", "127.0.0.1:8200");
    req.set("content-type", "application/x-www-form-urlencoded; charset=utf-8");
    req.set("x-amz-date", AMZ_DATE);
    req.set("x-amz-security-token", STS_TOKEN);
    req.set("authorization", STS_AUTH);
    req
}

const SM_SIGNED: &[&str] = &["content-type", "host", "x-amz-date", "x-amz-target"];

/// The error, checked for its code and that its message names `needle`.
fn refused(result: Result<(), SigError>, code: &str, needle: &str) -> SigError {
    let err = result.unwrap_err();
    assert_eq!(err.aws_code(), code, "{err}");
    assert!(err.to_string().contains(needle), "{err:?} does not say {needle:?}");
    err
}

#[test]
fn botocore_request_is_accepted() {
    let req = sm_request();
    let auth = parse_authorization(&req.headers, &req.uri).unwrap();
    assert_eq!(auth.access_key_id, SM_AKID);
    assert_eq!(
        (auth.date.as_str(), auth.region.as_str(), auth.service.as_str()),
        ("20261206", REGION, "secretsmanager")
    );
    assert_eq!(auth.signed_headers, SM_SIGNED);
    verify(&auth, &req.signed(), &secret(), "secretsmanager", signed_at()).unwrap();
}

#[test]
fn signer_reproduces_botocore() {
    let req = sm_request();
    let canonical = canonical_request_of(&req.signed(), SM_SIGNED, &payload_hash(&req.body)).unwrap();
    assert_eq!(String::from_utf8(canonical).unwrap(), SM_CANONICAL);
    let header = authorization_header(SM_AKID, SECRET, REGION, "secretsmanager", &req.signed(), SM_SIGNED).unwrap();
    assert_eq!(header, SM_AUTH);
    // Names in any case and order give the same header.
    let header = authorization_header(
        SM_AKID,
        SECRET,
        REGION,
        "secretsmanager",
        &req.signed(),
        &["X-Amz-Target", "Host", "x-amz-date", "Content-Type", "host"],
    )
    .unwrap();
    assert_eq!(header, SM_AUTH);
}

#[test]
fn botocore_sts_request_with_a_session_token_is_accepted() {
    let req = sts_request();
    assert_eq!(parse_authorization(&req.headers, &req.uri).unwrap().access_key_id, STS_AKID);
    req.check("sts", signed_at()).unwrap();
    // Its session token must stay signed.
    let mut unsigned_token = sts_request();
    unsigned_token.resign("sts", &["content-type", "host", "x-amz-date"]);
    refused(
        unsigned_token.check("sts", signed_at()),
        "IncompleteSignatureException",
        "'x-amz-security-token' header is not signed",
    );
    let mut tampered = sts_request();
    tampered.body = b"Action=GetCallerIdentity&Version=2011-06-16".to_vec();
    let err = refused(tampered.check("sts", signed_at()), "InvalidSignatureException", "does not match");
    assert_eq!(err.aws_code_for_query_protocol(), "SignatureDoesNotMatch");
}

#[test]
fn a_body_changed_by_one_byte_is_refused() {
    let mut req = sm_request();
    req.body = br#"{"SecretId": "prod/db/passwore"}"#.to_vec();
    refused(req.check_sm(), "InvalidSignatureException", "The request signature we calculated does not match");
}

#[test]
fn a_changed_target_is_refused() {
    let mut req = sm_request();
    req.set("x-amz-target", "secretsmanager.DeleteSecret");
    refused(req.check_sm(), "InvalidSignatureException", "does not match the signature you provided");
}

#[test]
fn a_wrong_secret_is_refused() {
    let req = sm_request();
    let auth = parse_authorization(&req.headers, &req.uri).unwrap();
    let wrong = SecretString::from("cofferTestSecret/0123456789abcdefghijklmnoq");
    refused(
        verify(&auth, &req.signed(), &wrong, "secretsmanager", signed_at()),
        "InvalidSignatureException",
        "does not match",
    );
}

#[test]
fn the_five_minute_window() {
    let req = sm_request();
    let five = TimeDelta::minutes(5);
    let six = TimeDelta::minutes(6);
    req.check("secretsmanager", signed_at() + five).unwrap();
    req.check("secretsmanager", signed_at() - five).unwrap();
    let late = req.check("secretsmanager", signed_at() + six).unwrap_err();
    assert_eq!(late.aws_code(), "InvalidSignatureException");
    assert_eq!(
        late.to_string(),
        "Signature expired: 20261206T101010Z is now earlier than 20261206T101110Z (20261206T101610Z - 5 min.)"
    );
    let early = req.check("secretsmanager", signed_at() - six).unwrap_err();
    assert_eq!(early.aws_code(), "InvalidSignatureException");
    assert_eq!(
        early.to_string(),
        "Signature not yet current: 20261206T101010Z is still later than 20261206T100910Z (20261206T100410Z + 5 min.)"
    );
}

#[test]
fn another_services_scope_is_refused() {
    let mut req = sm_request();
    req.resign("sts", SM_SIGNED);
    // Signed well, for STS: only the scope rule trips.
    req.check("sts", signed_at()).unwrap();
    refused(
        req.check_sm(),
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'secretsmanager'.",
    );
}

#[test]
fn the_scope_date_must_be_the_request_day() {
    let mut req = sm_request();
    req.set("authorization", &SM_AUTH.replace("/20261206/", "/20261205/"));
    refused(
        req.check_sm(),
        "InvalidSignatureException",
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261205' != '20261206'",
    );
}

#[test]
fn every_decisive_header_must_be_signed() {
    // x-amz-target left out of SignedHeaders, re-signed so only that rule trips.
    let mut req = sm_request();
    req.resign("secretsmanager", &["content-type", "host", "x-amz-date"]);
    refused(req.check_sm(), "IncompleteSignatureException", "'x-amz-target' header is not signed");

    let mut req = sm_request();
    req.resign("secretsmanager", &["host", "x-amz-date", "x-amz-target"]);
    refused(req.check_sm(), "IncompleteSignatureException", "'content-type' header is not signed");

    let mut req = sm_request();
    req.set("x-amz-security-token", "a-session-token");
    req.resign("secretsmanager", SM_SIGNED);
    refused(req.check_sm(), "IncompleteSignatureException", "'x-amz-security-token' header is not signed");
    req.resign("secretsmanager", &["content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"]);
    req.check_sm().unwrap();

    let mut req = sm_request();
    req.set("x-amz-content-sha256", &payload_hash(SM_BODY.as_bytes()));
    req.resign("secretsmanager", SM_SIGNED);
    refused(req.check_sm(), "IncompleteSignatureException", "'x-amz-content-sha256' header is not signed");

    // An unsigned header that decides nothing is fine (botocore's own request has two).
    sm_request().check_sm().unwrap();
}

#[test]
fn host_and_date_must_be_signed() {
    let mut req = sm_request();
    req.resign("secretsmanager", &["content-type", "x-amz-date", "x-amz-target"]);
    refused(req.check_sm(), "IncompleteSignatureException", "'host' must be among the SignedHeaders");
    let mut req = sm_request();
    req.resign("secretsmanager", &["content-type", "host", "x-amz-target"]);
    refused(req.check_sm(), "IncompleteSignatureException", "'x-amz-date' must be among the SignedHeaders");
}

#[test]
fn a_signed_header_missing_from_the_request_is_refused() {
    let mut req = sm_request();
    req.set("x-extra", "signed");
    req.resign("secretsmanager", &["content-type", "host", "x-amz-date", "x-amz-target", "x-extra"]);
    req.check_sm().unwrap();
    req.headers.remove("x-extra");
    refused(
        req.check_sm(),
        "IncompleteSignatureException",
        "'x-extra' is listed in SignedHeaders but the request does not have it",
    );
}

#[test]
fn the_payload_must_be_signed() {
    let mut req = sm_request();
    req.set("x-amz-content-sha256", &payload_hash(SM_BODY.as_bytes()));
    req.resign("secretsmanager", &["content-type", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-target"]);
    req.check_sm().unwrap();

    for unsigned in ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"] {
        req.set("x-amz-content-sha256", unsigned);
        req.resign("secretsmanager", &["content-type", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-target"]);
        refused(req.check_sm(), "IncompleteSignatureException", "Unsigned and streaming payloads are not supported");
    }

    // A hash of another body, signed as such: the body received is not what was signed.
    req.set("x-amz-content-sha256", &payload_hash(b"{}"));
    req.resign("secretsmanager", &["content-type", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-target"]);
    refused(
        req.check_sm(),
        "InvalidSignatureException",
        "'x-amz-content-sha256' header does not match what was computed",
    );
}

#[test]
fn a_malformed_date_is_refused() {
    for bad in [
        "2026-12-06T10:10:10Z",
        "20261206T101010",
        "20261306T101010Z",
        "20261206T251010Z",
        "20261206t101010Z",
        "+0261206T101010Z",
    ] {
        let mut req = sm_request();
        req.set("x-amz-date", bad);
        refused(req.check_sm(), "IncompleteSignatureException", "X-Amz-Date must be a UTC time");
    }
}

#[test]
fn a_decisive_header_sent_twice_is_refused() {
    for name in ["x-amz-target", "x-amz-date", "host", "content-type"] {
        let mut req = sm_request();
        let value = req.headers.get(name).unwrap().clone();
        req.headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        refused(req.check_sm(), "IncompleteSignatureException", &format!("more than one '{name}' header"));
    }
}

#[test]
fn no_authorization_header_is_a_missing_token() {
    let mut req = sm_request();
    req.headers.remove("authorization");
    let err = req.check_sm().unwrap_err();
    assert_eq!(err, SigError::MissingAuthenticationToken);
    assert_eq!(err.aws_code(), "MissingAuthenticationTokenException");
    assert_eq!(err.aws_code_for_query_protocol(), "MissingAuthenticationToken");
    assert_eq!(err.to_string(), "Missing Authentication Token");
}

#[test]
fn garbled_authorization_headers_are_refused() {
    let sig = "Signature=bee834824ff63dceebe6a2d3323c8ad7af18cfd03f6eb91a8dcf538a7c979e48";
    let cred = "Credential=AKIACOFFERTEST000001/20261206/us-east-1/secretsmanager/aws4_request";
    let heads = "SignedHeaders=content-type;host;x-amz-date;x-amz-target";
    let incomplete = "IncompleteSignatureException";
    let cases: Vec<(String, &str, &str)> = vec![
        ("Bearer abc.def".into(), incomplete, "Unsupported AWS 'algorithm'"),
        (format!("AWS4-HMAC-SHA512 {cred}, {heads}, {sig}"), incomplete, "Unsupported AWS 'algorithm'"),
        (format!("aws4-hmac-sha256 {cred}, {heads}, {sig}"), incomplete, "Unsupported AWS 'algorithm'"),
        (
            "AWS4-HMAC-SHA256".into(),
            incomplete,
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. \
             Authorization header requires 'SignedHeaders' parameter.",
        ),
        (format!("AWS4-HMAC-SHA256 {cred}, {heads}"), incomplete, "Authorization header requires 'Signature' parameter."),
        (format!("AWS4-HMAC-SHA256 {heads}, {sig}"), incomplete, "Authorization header requires 'Credential' parameter."),
        (format!("AWS4-HMAC-SHA256 {cred}, {sig}"), incomplete, "Authorization header requires 'SignedHeaders' parameter."),
        (format!("AWS4-HMAC-SHA256 {cred} {heads}, {sig}"), incomplete, "requires 'SignedHeaders' parameter"),
        (format!("AWS4-HMAC-SHA256 {cred}, {heads}, junk, {sig}"), incomplete, "key=value"),
        (format!("AWS4-HMAC-SHA256 {cred}, {heads}, {sig}, Extra=1"), incomplete, "may only hold"),
        (format!("AWS4-HMAC-SHA256 {cred}, {cred}, {heads}, {sig}"), incomplete, "gives 'Credential' more than once"),
        (format!("AWS4-HMAC-SHA256 {cred}, {heads}, {sig},"), incomplete, "key=value"),
        (
            format!("AWS4-HMAC-SHA256 Credential=AKIACOFFERTEST000001/20261206/us-east-1/secretsmanager, {heads}, {sig}"),
            incomplete,
            "exactly 5 slash-delimited elements",
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential=AKIA/COFFER/20261206/us-east-1/secretsmanager/aws4_request, {heads}, {sig}"),
            incomplete,
            "exactly 5 slash-delimited elements",
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential=/20261206/us-east-1/secretsmanager/aws4_request, {heads}, {sig}"),
            incomplete,
            "access key id",
        ),
        (format!("AWS4-HMAC-SHA256 {}, {heads}, {sig}", cred.replace("20261206", "2026126")), incomplete, "YYYYMMDD"),
        (format!("AWS4-HMAC-SHA256 {}, {heads}, {sig}", cred.replace("us-east-1", "US-EAST-1")), incomplete, "region and service"),
        (
            format!("AWS4-HMAC-SHA256 {}, {heads}, {sig}", cred.replace("aws4_request", "aws4_requesx")),
            "InvalidSignatureException",
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_requesx'.",
        ),
        (format!("AWS4-HMAC-SHA256 {cred}, {heads}, {}", &sig[..sig.len() - 1]), incomplete, "64 hexadecimal digits"),
        (format!("AWS4-HMAC-SHA256 {cred}, {heads}, {}", sig.replace('b', "g")), incomplete, "64 hexadecimal digits"),
        (format!("AWS4-HMAC-SHA256 {cred}, {heads}, Signature="), incomplete, "64 hexadecimal digits"),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host;content-type;x-amz-date;x-amz-target, {sig}"),
            incomplete,
            "sorted and without duplicates",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=content-type;host;host;x-amz-date;x-amz-target, {sig}"),
            incomplete,
            "sorted and without duplicates",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=content-type;Host;x-amz-date;x-amz-target, {sig}"),
            incomplete,
            "sorted and without duplicates",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=content-type;host;;x-amz-date;x-amz-target, {sig}"),
            incomplete,
            "sorted and without duplicates",
        ),
        (format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=, {sig}"), incomplete, "sorted and without duplicates"),
    ];
    for (header, code, needle) in cases {
        let mut req = sm_request();
        req.set("authorization", &header);
        let err = refused(req.check_sm(), code, needle);
        assert!(!err.to_string().contains(SECRET));
    }
    // Separators without the space SDKs put after each comma are read the same.
    let mut req = sm_request();
    req.set("authorization", &format!("AWS4-HMAC-SHA256 {cred},{heads},{sig}"));
    req.check_sm().unwrap();
}

#[test]
fn two_authorization_headers_or_a_non_ascii_one_are_refused() {
    let mut req = sm_request();
    req.headers.append("authorization", HeaderValue::from_static(SM_AUTH));
    refused(req.check_sm(), "IncompleteSignatureException", "more than one Authorization header");
    let mut req = sm_request();
    let mut bytes = SM_AUTH.as_bytes().to_vec();
    bytes.push(0xff);
    req.headers.insert("authorization", HeaderValue::from_bytes(&bytes).unwrap());
    refused(req.check_sm(), "IncompleteSignatureException", "printable ASCII");
}

#[test]
fn absurd_inputs_are_refused_before_hashing() {
    let cred = "Credential=AKIACOFFERTEST000001/20261206/us-east-1/secretsmanager/aws4_request";
    let sig = "Signature=bee834824ff63dceebe6a2d3323c8ad7af18cfd03f6eb91a8dcf538a7c979e48";

    // 64 signed headers are fine…
    let mut req = sm_request();
    let mut names: Vec<String> = SM_SIGNED.iter().map(|s| s.to_string()).collect();
    for i in 0..60 {
        let name = format!("x-h{i:02}");
        req.set(&name, "v");
        names.push(name);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(refs.len(), 64);
    req.resign("secretsmanager", &refs);
    req.check_sm().unwrap();
    // …65 are not.
    req.set("x-h60", "v");
    let mut more = refs.clone();
    more.push("x-h60");
    req.resign("secretsmanager", &more);
    refused(req.check_sm(), "IncompleteSignatureException", "more than 64 headers");

    let mut req = sm_request();
    let long_name = "x".repeat(8 * 1024);
    req.set("authorization", &format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host;{long_name}, {sig}"));
    refused(req.check_sm(), "IncompleteSignatureException", "longer than 8192 bytes");

    let mut req = sm_request();
    req.set("authorization", &format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host, {sig}{}", " ".repeat(16 * 1024)));
    refused(req.check_sm(), "IncompleteSignatureException", "longer than 16384 bytes");
}

#[test]
fn presigned_urls_are_refused() {
    for query in [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIACOFFERTEST000001%2F20261206%2Fus-east-1%2Fsecretsmanager%2Faws4_request&X-Amz-Date=20261206T101010Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
        "x-amz-signature=00",
        "X-Amz%2DCredential=x",
    ] {
        let mut req = sm_request();
        req.uri = format!("/?{query}").parse().unwrap();
        req.headers.remove("authorization");
        refused(req.check_sm(), "IncompleteSignatureException", "presigned URL");
        // With an Authorization header as well: still refused, not half-read.
        req.set("authorization", SM_AUTH);
        refused(req.check_sm(), "IncompleteSignatureException", "presigned URL");
    }
}

#[test]
fn http2_authority_stands_for_a_missing_host_header() {
    let mut req = sm_request();
    req.headers.remove("host");
    req.uri = "http://127.0.0.1:8200/".parse().unwrap();
    req.check_sm().unwrap();
    req.uri = "http://127.0.0.1:8201/".parse().unwrap();
    refused(req.check_sm(), "InvalidSignatureException", "does not match");
}

#[test]
fn signer_round_trip_with_query_and_odd_headers() {
    let mut req = Req {
        method: Method::GET,
        uri: "/a%20b/c?z=1&a=%7e&a=+sp&empty".parse().unwrap(),
        headers: HeaderMap::new(),
        body: Vec::new(),
    };
    req.set("host", "coffer.internal:8200");
    req.set("x-amz-date", AMZ_DATE);
    req.set("x-custom", "  spaced   out\tvalue ");
    req.headers.append("x-custom", HeaderValue::from_static("second"));
    req.resign("secretsmanager", &["host", "x-amz-date", "x-custom"]);
    req.check_sm().unwrap();
    // Any change to what is signed breaks it.
    req.uri = "/a%20b/c?z=1&a=%7e&a=+sp&empty=x".parse().unwrap();
    refused(req.check_sm(), "InvalidSignatureException", "does not match");
}

#[test]
fn no_secret_or_computed_signature_in_errors_or_debug() {
    let mut req = sm_request();
    req.set("x-amz-target", "secretsmanager.DeleteSecret");
    // The signature the server computes for the tampered request.
    let computed = authorization_header(SM_AKID, SECRET, REGION, "secretsmanager", &req.signed(), SM_SIGNED).unwrap();
    let computed_sig = computed.rsplit('=').next().unwrap().to_string();
    let err = req.check_sm().unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&computed_sig) && !shown.contains(SECRET), "{shown}");

    let auth = parse_authorization(&req.headers, &req.uri).unwrap();
    let debug = format!("{auth:?}");
    assert!(debug.contains(SM_AKID) && !debug.contains("bee834824ff63dce"), "{debug}");
    let debug = format!("{:?}", req.signed());
    assert!(!debug.contains("prod/db/password") && !debug.contains("bee834824ff63dce"), "{debug}");
}

#[test]
fn codes_for_each_protocol() {
    let cases = [
        (SigError::MissingAuthenticationToken, "MissingAuthenticationTokenException", "MissingAuthenticationToken"),
        (SigError::IncompleteSignature("x".into()), "IncompleteSignatureException", "IncompleteSignature"),
        (SigError::InvalidSignature("x".into()), "InvalidSignatureException", "SignatureDoesNotMatch"),
        (SigError::UnrecognizedClient, "UnrecognizedClientException", "InvalidClientTokenId"),
    ];
    for (err, json, query) in cases {
        assert_eq!((err.aws_code(), err.aws_code_for_query_protocol()), (json, query));
    }
    assert_eq!(SigError::UnrecognizedClient.to_string(), "The security token included in the request is invalid.");
}

//! AWS IAM auth over real HTTP, with moto's server standing in for STS and IAM: an IAM user and
//! access key made in moto, `sts:GetCallerIdentity` requests signed here with the crate's SigV4
//! signer, and logins that succeed for a bound principal and answer 400 for an unbound one, a
//! replayed request with another server id, another action, a stale date, or an STS endpoint the
//! allow-list no longer admits. The request goes only to `sts_endpoint`: a listener named in
//! `iam_request_url` is never contacted.
// These tests stand outside the server and compare its answers with the wall clock.
#![allow(clippy::disallowed_methods)]

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use coffer::crypto::sigv4;
use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::harness::TestServer;

pub(crate) const SERVER_ID: &str = "coffer.example.internal";
const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// `moto_server` on a free loopback port, killed on drop.
pub(crate) struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    async fn start() -> Moto {
        let port = StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("moto_server could not be started ({e}): pip install -r tests/compat/requirements.txt")
            });
        let moto = Moto { child, url: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        crate::harness::until("moto_server answers", Duration::from_secs(30), || {
            let (c, u) = (client.clone(), moto.url.clone());
            async move { c.get(format!("{u}/moto-api/")).send().await.is_ok() }
        })
        .await;
        moto
    }

    /// Creates IAM user `name` and returns its access key id and secret.
    async fn user(&self, name: &str) -> (String, String) {
        let iam = |body: String| {
            reqwest::Client::new()
                .post(format!("{}/", self.url))
                .header(
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIAADMIN/20260101/us-east-1/iam/aws4_request, \
                     SignedHeaders=host, Signature=00",
                )
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
        };
        let r = iam(format!("Action=CreateUser&UserName={name}&Version=2010-05-08")).await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let r = iam(format!("Action=CreateAccessKey&UserName={name}&Version=2010-05-08")).await.unwrap();
        let text = r.text().await.unwrap();
        (xml(&text, "AccessKeyId"), xml(&text, "SecretAccessKey"))
    }
}

fn xml(text: &str, tag: &str) -> String {
    let start = text.find(&format!("<{tag}>")).unwrap_or_else(|| panic!("no {tag} in {text}")) + tag.len() + 2;
    let end = text[start..].find(&format!("</{tag}>")).unwrap() + start;
    text[start..end].to_string()
}

/// What a client puts in a login.
struct Login {
    url: String,
    body: String,
    date: chrono::DateTime<chrono::Utc>,
    server_id: Option<String>,
    sign_server_id: bool,
}

impl Login {
    fn new() -> Self {
        Login {
            url: "https://sts.amazonaws.com/".into(),
            body: BODY.into(),
            date: chrono::Utc::now(),
            server_id: Some(SERVER_ID.into()),
            sign_server_id: true,
        }
    }

    /// The login body for `role`, signed with the key.
    fn data(&self, key: &(String, String), role: &str) -> Value {
        let uri: http::Uri = self.url.parse().unwrap();
        let host = uri.authority().unwrap().to_string();
        let mut headers = http::HeaderMap::new();
        headers.insert("host", host.parse().unwrap());
        headers.insert("content-type", "application/x-www-form-urlencoded; charset=utf-8".parse().unwrap());
        headers.insert("x-amz-date", self.date.format("%Y%m%dT%H%M%SZ").to_string().parse().unwrap());
        let mut signed = vec!["host", "content-type", "x-amz-date"];
        if let Some(id) = &self.server_id {
            headers.insert("x-vault-aws-iam-server-id", id.parse().unwrap());
            if self.sign_server_id {
                signed.push("x-vault-aws-iam-server-id");
            }
        }
        let req =
            sigv4::Signed { method: &http::Method::POST, uri: &uri, headers: &headers, body: self.body.as_bytes() };
        let auth = sigv4::authorization_header(&key.0, &key.1, "us-east-1", "sts", &req, &signed).unwrap();
        let mut h: Map<String, Value> =
            headers.iter().map(|(k, v)| (k.to_string(), json!([v.to_str().unwrap()]))).collect();
        h.insert("Authorization".into(), json!([auth]));
        json!({
            "role": role,
            "iam_http_request_method": "POST",
            "iam_request_url": STANDARD.encode(&self.url),
            "iam_request_body": STANDARD.encode(&self.body),
            "iam_request_headers": STANDARD.encode(Value::Object(h).to_string()),
        })
    }
}

/// A server with `auth/aws` mounted, moto allowed and configured as STS, role `app` bound to user
/// `alice`, and alice's key.
pub(crate) async fn setup() -> (TestServer, Moto, (String, String)) {
    let s = TestServer::dev().await;
    let moto = Moto::start().await;
    let (st, v) = s.call("POST", "sys/auth/aws", Some(json!({"type": "aws"}))).await;
    assert!(st.is_success(), "{v}");
    crate::rotation::allow_outbound(&s, &format!("{}/", moto.url)).await;
    let (st, v) = s
        .call(
            "POST",
            "auth/aws/config/client",
            Some(json!({"sts_endpoint": moto.url, "sts_region": "us-east-1", "iam_server_id_header_value": SERVER_ID})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s
        .call(
            "POST",
            "auth/aws/role/app",
            Some(json!({"auth_type": "iam", "bound_iam_principal_arn": ["arn:aws:iam::123456789012:user/alice"],
                        "token_policies": ["app-read"], "token_ttl": "10m"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let key = moto.user("alice").await;
    (s, moto, key)
}

async fn login(s: &TestServer, data: Value) -> (StatusCode, Value) {
    s.call_as("", "POST", "auth/aws/login", Some(data)).await
}

fn error(v: &Value) -> String {
    v["errors"].as_array().map(|e| e.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_bound_user_logs_in_with_the_roles_policies() {
    let (s, _moto, key) = setup().await;
    let (st, v) = login(&s, Login::new().data(&key, "app")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let auth = &v["auth"];
    assert_eq!(auth["policies"], json!(["app-read", "default"]), "{v}");
    assert_eq!(auth["metadata"]["canonical_arn"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(auth["metadata"]["role"], "app");
    assert_eq!(auth["lease_duration"], 600);
    let token = auth["client_token"].as_str().unwrap();
    let (st, v) = s.call_as(token, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["display_name"], "aws-alice");
    // Without `role`, the role is the principal's name (Vault's rule): none is called "alice".
    let (st, v) = login(&s, Login::new().data(&key, "")).await;
    assert_eq!((st, error(&v)), (StatusCode::BAD_REQUEST, "entry for role alice not found".into()));
}

#[tokio::test]
async fn an_unbound_principal_is_refused() {
    let (s, moto, _) = setup().await;
    let bob = moto.user("bob").await;
    let (st, v) = login(&s, Login::new().data(&bob, "app")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(error(&v), r#"IAM Principal "arn:aws:iam::123456789012:user/bob" does not belong to the role "app""#);
    // A glob admits him.
    let (st, _) = s
        .call(
            "POST",
            "auth/aws/role/app",
            Some(json!({"bound_iam_principal_arn": ["arn:aws:iam::123456789012:user/b*"]})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = login(&s, Login::new().data(&bob, "app")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn a_request_for_another_server_or_an_unsigned_server_id_is_refused() {
    let (s, _moto, key) = setup().await;
    let mut other = Login::new();
    other.server_id = Some("vault.other.example".into());
    let (st, v) = login(&s, other.data(&key, "app")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        error(&v),
        r#"error validating X-Vault-AWS-IAM-Server-ID header: expected "coffer.example.internal" but got "vault.other.example""#
    );
    let mut none = Login::new();
    none.server_id = None;
    let (st, v) = login(&s, none.data(&key, "app")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(error(&v).contains("missing header"), "{v}");
    let mut unsigned = Login::new();
    unsigned.sign_server_id = false;
    let (st, v) = login(&s, unsigned.data(&key, "app")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(error(&v).ends_with("vault header wasn't signed"), "{v}");
}

#[tokio::test]
async fn only_get_caller_identity_is_forwarded() {
    let (s, _moto, key) = setup().await;
    for body in [
        "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/admin&RoleSessionName=x",
        "Action=GetCallerIdentity&Version=2011-06-15&Extra=1",
        "Action=GetCallerIdentity&Action=GetSessionToken",
        "action=GetCallerIdentity&Version=2011-06-15",
    ] {
        let mut l = Login::new();
        l.body = body.into();
        let (st, v) = login(&s, l.data(&key, "app")).await;
        assert_eq!((st, error(&v)), (StatusCode::BAD_REQUEST, "iam request body is invalid".into()), "{body}");
    }
    let mut data = Login::new().data(&key, "app");
    data["iam_http_request_method"] = json!("GET");
    let (st, v) = login(&s, data).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let mut l = Login::new();
    l.url = "https://sts.amazonaws.com/?Action=AssumeRole".into();
    let (st, v) = login(&s, l.data(&key, "app")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn a_stale_or_future_signature_is_refused() {
    let (s, _moto, key) = setup().await;
    for offset in [-20, 20] {
        let mut l = Login::new();
        l.date = chrono::Utc::now() + chrono::Duration::minutes(offset);
        let (st, v) = login(&s, l.data(&key, "app")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(error(&v).contains("not within 15 minutes"), "{v}");
    }
    let mut l = Login::new();
    l.date = chrono::Utc::now() - chrono::Duration::minutes(10);
    assert_eq!(login(&s, l.data(&key, "app")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_request_goes_only_to_the_configured_sts_endpoint() {
    let (s, _moto, key) = setup().await;
    let decoy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let decoy_addr = decoy.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while decoy.accept().await.is_ok() {
            h.fetch_add(1, Ordering::SeqCst);
        }
    });
    // Even with the decoy on the allow-list, only sts_endpoint is called.
    crate::rotation::allow_outbound(&s, &format!("http://{decoy_addr}/")).await;
    let mut l = Login::new();
    l.url = format!("http://{decoy_addr}/");
    let (st, v) = login(&s, l.data(&key, "app")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["auth"]["metadata"]["client_arn"], "arn:aws:iam::123456789012:user/alice");
    // Let any connection the server might have made arrive before counting.
    let probe = tokio::net::TcpStream::connect(decoy_addr).await.unwrap();
    crate::harness::until("the probe is counted", Duration::from_secs(5), || {
        let h = hits.clone();
        async move { h.load(Ordering::SeqCst) >= 1 }
    })
    .await;
    drop(probe);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the server connected to the host named in iam_request_url");
}

#[tokio::test]
async fn the_sts_endpoint_must_be_allowed_at_write_and_at_login() {
    let (s, moto, key) = setup().await;
    let (st, v) =
        s.call("POST", "auth/aws/config/client", Some(json!({"sts_endpoint": "http://169.254.169.254/"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(error(&v).starts_with("sts_endpoint is not allowed"), "{v}");
    let (_, v) = s.call("GET", "auth/aws/config/client", None).await;
    assert_eq!(v["data"]["sts_endpoint"], moto.url, "a refused write changed nothing");
    // The operator removes moto from the allow-list: the next login does not reach it.
    let (st, _) = s.call("PUT", "sys/config/outbound", Some(json!({"allowed_urls": []}))).await;
    assert!(st.is_success());
    let (st, v) = login(&s, Login::new().data(&key, "app")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(error(&v).starts_with("error making upstream request: the STS endpoint is not allowed"), "{v}");
}

#[tokio::test]
async fn config_client_needs_sudo() {
    let (s, moto, _) = setup().await;
    let t = s
        .token_with_policy(
            "aws-admin",
            r#"path "auth/aws/config/client" { capabilities = ["create", "read", "update", "delete"] }
               path "auth/aws/role/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#,
        )
        .await;
    let (st, v) =
        s.call_as(&t, "POST", "auth/aws/config/client", Some(json!({"iam_server_id_header_value": "x"}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(s.call_as(&t, "DELETE", "auth/aws/config/client", None).await.0, StatusCode::FORBIDDEN);
    let (st, v) = s.call_as(&t, "GET", "auth/aws/config/client", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["iam_server_id_header_value"], SERVER_ID);
    // Roles are not operator settings.
    let (st, v) = s
        .call_as(&t, "POST", "auth/aws/role/other", Some(json!({"bound_iam_principal_arn": "arn:aws:iam::1:role/x"})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let sudo = s
        .token_with_policy(
            "aws-op",
            r#"path "auth/aws/config/client" { capabilities = ["create", "update", "read", "sudo"] }"#,
        )
        .await;
    let (st, v) = s
        .call_as(
            &sudo,
            "POST",
            "auth/aws/config/client",
            Some(json!({"sts_endpoint": moto.url, "iam_server_id_header_value": "y"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

#[tokio::test]
async fn spelling_variants_and_oversize_input_are_refused() {
    let (s, _moto, key) = setup().await;
    for path in ["auth/aws/Login", "auth/aws/login/x", "auth/aws/config/Client", "auth/aws/config/client/x"] {
        let (st, v) = s.call_as("", "POST", path, Some(Login::new().data(&key, "app"))).await;
        assert!(
            st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND || st == StatusCode::BAD_REQUEST,
            "{path}: {st} {v}"
        );
        assert!(v.get("auth").is_none_or(Value::is_null), "{path}: {v}");
    }
    for name in ["App", "app ", "ap\u{200b}p"] {
        let (st, v) = login(&s, Login::new().data(&key, name)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{name:?}: {v}");
    }
    let (st, _) =
        s.call("POST", "auth/aws/role/App", Some(json!({"bound_iam_principal_arn": "arn:aws:iam::1:role/x"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // A body far past the one action.
    let mut l = Login::new();
    l.body = format!("{BODY}&{}", "A".repeat(4000));
    let (st, v) = login(&s, l.data(&key, "app")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let mut data = Login::new().data(&key, "app");
    let many: Map<String, Value> = (0..100).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    data["iam_request_headers"] = Value::Object(many);
    let (st, v) = login(&s, data).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let mut data = Login::new().data(&key, "app");
    data["iam_request_headers"] = json!("x".repeat(200_000));
    let (st, _) = login(&s, data).await;
    assert!(st == StatusCode::BAD_REQUEST || st == StatusCode::PAYLOAD_TOO_LARGE, "{st}");
    // Not base64, or missing.
    let mut data = Login::new().data(&key, "app");
    data["iam_request_body"] = json!("%%%");
    assert_eq!(error(&login(&s, data).await.1), "failed to base64 decode iam_request_body");
    let mut data = Login::new().data(&key, "app");
    data.as_object_mut().unwrap().remove("iam_request_headers");
    assert_eq!(error(&login(&s, data).await.1), "missing iam_request_headers");
}

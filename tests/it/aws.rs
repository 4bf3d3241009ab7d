//! The AWS Secrets Manager edge, from an attacker's side: signatures that do not cover what the
//! request does, keys that are unknown, expired or narrower than the path, oversize input, label
//! spellings, and the audit trail naming the key. (The happy paths run with boto3 and the aws CLI
//! in `tests/compat/test_aws_sm.py`.)
// These tests sign requests as a client would, with the wall clock.
#![allow(clippy::disallowed_methods)]

use coffer::crypto::sigv4::{authorization_header, Signed};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

pub(crate) const KEY_ID: &str = "AKIAINTEGRATIONTEST0";
const SECRET: &str = "integration-test-secret-access-key-0123";

/// A dev server with a root AWS key.
pub(crate) async fn server() -> TestServer {
    with_key(TestServer::dev().await).await
}

/// `s` with the root AWS key.
async fn with_key(s: TestServer) -> TestServer {
    let core = s.running.as_ref().unwrap().core.clone();
    let dev = coffer::server::DevAws {
        access_key_id: Some(KEY_ID.into()),
        secret_access_key: Some(secrecy::SecretString::from(SECRET.to_string())),
        account_id: None,
    };
    coffer::server::setup_dev_aws(&core, dev).await.unwrap();
    s
}

/// A signed request as an SDK sends it; `tweak` may change it after signing.
pub(crate) struct Call {
    target: String,
    body: Vec<u8>,
    key_id: String,
    secret: String,
    service: String,
    when: chrono::DateTime<chrono::Utc>,
    signed: Vec<&'static str>,
}

impl Call {
    pub(crate) fn new(op: &str, body: Value) -> Self {
        Call {
            target: format!("secretsmanager.{op}"),
            body: body.to_string().into_bytes(),
            key_id: KEY_ID.into(),
            secret: SECRET.into(),
            service: "secretsmanager".into(),
            when: chrono::Utc::now(),
            signed: vec!["content-type", "host", "x-amz-date", "x-amz-target"],
        }
    }

    fn headers(&self, s: &TestServer) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        let host = s.base.trim_start_matches("http://").to_string();
        h.insert("host", host.parse().unwrap());
        h.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
        h.insert("x-amz-target", self.target.parse().unwrap());
        h.insert("x-amz-date", self.when.format("%Y%m%dT%H%M%SZ").to_string().parse().unwrap());
        let uri: http::Uri = "/".parse().unwrap();
        let method = http::Method::POST;
        let req = Signed { method: &method, uri: &uri, headers: &h, body: &self.body };
        let auth =
            authorization_header(&self.key_id, &self.secret, "us-east-1", &self.service, &req, &self.signed).unwrap();
        h.insert("authorization", auth.parse().unwrap());
        h
    }

    async fn send_with(&self, s: &TestServer, headers: http::HeaderMap, body: Vec<u8>) -> (StatusCode, Value) {
        let mut r = s.client.post(format!("{}/", s.base)).body(body);
        for (k, v) in headers.iter() {
            if k != "host" {
                r = r.header(k.as_str(), v.to_str().unwrap());
            }
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub(crate) async fn send(&self, s: &TestServer) -> (StatusCode, Value) {
        self.send_with(s, self.headers(s), self.body.clone()).await
    }
}

fn code(v: &Value) -> &str {
    v["__type"].as_str().unwrap_or("")
}

async fn create(s: &TestServer, name: &str, value: &str) {
    let (st, v) = Call::new("CreateSecret", json!({"Name": name, "SecretString": value})).send(s).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn a_signature_covers_the_body_and_the_operation() {
    let s = server().await;
    create(&s, "app/db", "s3cr3t").await;
    let get = Call::new("GetSecretValue", json!({"SecretId": "app/db"}));
    let (st, v) = get.send(&s).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["SecretString"], "s3cr3t");

    // The body swapped after signing.
    let headers = get.headers(&s);
    let (st, v) = get.send_with(&s, headers, json!({"SecretId": "app/other"}).to_string().into_bytes()).await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "InvalidSignatureException"), "{v}");

    // The operation swapped after signing: a read signature must not delete.
    let mut headers = get.headers(&s);
    headers.insert("x-amz-target", "secretsmanager.DeleteSecret".parse().unwrap());
    let (st, v) = get.send_with(&s, headers, get.body.clone()).await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "InvalidSignatureException"), "{v}");

    // The operation left out of the signed headers.
    let mut unsigned = Call::new("DeleteSecret", json!({"SecretId": "app/db", "ForceDeleteWithoutRecovery": true}));
    unsigned.signed = vec!["content-type", "host", "x-amz-date"];
    let (st, v) = unsigned.send(&s).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(code(&v).contains("Signature"), "{v}");
    let (st, v) = get.send(&s).await;
    assert_eq!((st, &v["SecretString"]), (StatusCode::OK, &json!("s3cr3t")), "the secret is still there");
}

#[tokio::test]
async fn wrong_secret_unknown_key_stale_date_and_other_service_are_refused() {
    let s = server().await;
    let mut c = Call::new("ListSecrets", json!({}));
    c.secret = "wrong-secret-wrong-secret-wrong-secret".into();
    let (_, v) = c.send(&s).await;
    assert_eq!(code(&v), "InvalidSignatureException", "{v}");

    let mut c = Call::new("ListSecrets", json!({}));
    c.key_id = "AKIANOTAKEYWEKNOW000".into();
    let (_, v) = c.send(&s).await;
    assert_eq!(code(&v), "UnrecognizedClientException", "{v}");
    // Spelling variants of the real id are other ids.
    for id in [KEY_ID.to_lowercase(), format!("{KEY_ID} "), format!("{KEY_ID}/x")] {
        let mut c = Call::new("ListSecrets", json!({}));
        c.key_id = id.clone();
        let (st, v) = c.send(&s).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{id}: {v}");
        assert_ne!(code(&v), "", "{id}: {v}");
    }

    for minutes in [-6, 6] {
        let mut c = Call::new("ListSecrets", json!({}));
        c.when = chrono::Utc::now() + chrono::Duration::minutes(minutes);
        let (_, v) = c.send(&s).await;
        assert_eq!(code(&v), "InvalidSignatureException", "{minutes}: {v}");
    }

    let mut c = Call::new("ListSecrets", json!({}));
    c.service = "s3".into();
    let (_, v) = c.send(&s).await;
    assert_eq!(code(&v), "InvalidSignatureException", "{v}");

    // No signature at all.
    let resp = s
        .client
        .post(format!("{}/", s.base))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "secretsmanager.ListSecrets")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(code(&v), "MissingAuthenticationTokenException", "{v}");
}

#[tokio::test]
async fn oversize_and_malformed_input_get_clear_errors_and_lose_nothing() {
    let s = server().await;
    create(&s, "keep", "kept").await;
    // Over the listener's body limit: refused before it is read.
    let big = Call::new("PutSecretValue", json!({"SecretId": "keep", "SecretString": "x".repeat(2 << 20)}));
    let (st, _) = big.send(&s).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    // Over AWS's 64 KiB value limit.
    let (st, v) =
        Call::new("PutSecretValue", json!({"SecretId": "keep", "SecretString": "x".repeat(65_537)})).send(&s).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(!v.to_string().contains("xxxxxxxx"), "the value is never echoed: {v}");
    // Unknown fields, wrong types, unknown operations.
    let (_, v) = Call::new("GetSecretValue", json!({"SecretId": "keep", "VersionStge": "AWSCURRENT"})).send(&s).await;
    assert_eq!(code(&v), "SerializationException", "{v}");
    let (_, v) = Call::new("GetSecretValue", json!({"SecretId": 7})).send(&s).await;
    assert_eq!(code(&v), "SerializationException", "{v}");
    let (_, v) = Call::new("TakeOverTheWorld", json!({})).send(&s).await;
    assert_eq!(code(&v), "UnknownOperationException", "{v}");
    // Names not in their one normal form.
    for bad in ["/keep", "keep/", "a//b", "a/../keep", "./keep", "ke ep", "kéép"] {
        let (st, v) = Call::new("CreateSecret", json!({"Name": bad, "SecretString": "x"})).send(&s).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (st, v) = Call::new("GetSecretValue", json!({"SecretId": "keep"})).send(&s).await;
    assert_eq!((st, &v["SecretString"]), (StatusCode::OK, &json!("kept")));
}

#[tokio::test]
async fn a_key_holds_only_its_policies_and_the_audit_log_names_it() {
    let s = server().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (st, v) = s.call("PUT", "sys/audit/file", Some(json!({"type": "file", "options": {"file_path": log}}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    create(&s, "team-a/db", "a").await;
    create(&s, "team-b/db", "b").await;
    let (st, v) = s
        .call(
            "PUT",
            "sys/policies/acl/team-a",
            Some(json!({"policy": "path \"secret/data/team-a/*\" { capabilities = [\"read\"] }"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, key) = s.call("POST", "sys/aws/keys", Some(json!({"policies": ["team-a"], "ttl": "1h"}))).await;
    assert_eq!(st, StatusCode::OK, "{key}");
    let id = key["data"]["access_key_id"].as_str().unwrap().to_string();
    let secret = key["data"]["secret_access_key"].as_str().unwrap().to_string();
    let as_key = |op: &str, body: Value| {
        let mut c = Call::new(op, body);
        c.key_id = id.clone();
        c.secret = secret.clone();
        c
    };
    let (st, v) = as_key("GetSecretValue", json!({"SecretId": "team-a/db"})).send(&s).await;
    assert_eq!((st, &v["SecretString"]), (StatusCode::OK, &json!("a")), "{v}");
    for (op, body) in [
        ("GetSecretValue", json!({"SecretId": "team-b/db"})),
        ("GetSecretValue", json!({"SecretId": "team-a/../team-b/db"})),
        ("GetSecretValue", json!({"SecretId": "arn:aws:secretsmanager:us-east-1:000000000000:secret:team-b/db"})),
        ("PutSecretValue", json!({"SecretId": "team-a/db", "SecretString": "changed"})),
        ("DeleteSecret", json!({"SecretId": "team-a/db", "ForceDeleteWithoutRecovery": true})),
        ("CreateSecret", json!({"Name": "team-a/new", "SecretString": "x"})),
        ("DescribeSecret", json!({"SecretId": "team-a/db"})),
    ] {
        let (st, v) = as_key(op, body.clone()).send(&s).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{op} {body}: {v}");
        assert!(matches!(code(&v), "AccessDeniedException" | "InvalidParameterException"), "{op} {body}: {v}");
        assert!(!v.to_string().contains("\"b\""), "{v}");
    }
    // The narrower key's list holds nothing it may not describe.
    let (st, v) = as_key("ListSecrets", json!({})).send(&s).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["SecretList"], json!([]), "{v}");
    let (_, v) = as_key("BatchGetSecretValue", json!({"SecretIdList": ["team-a/db", "team-b/db"]})).send(&s).await;
    assert_eq!(v["SecretValues"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["Errors"][0]["ErrorCode"], "AccessDeniedException", "{v}");

    // A forged signature is on record too (with no identity: none was proven).
    let mut forged = as_key("GetSecretValue", json!({"SecretId": "team-a/db"}));
    forged.secret = "not-the-secret-not-the-secret-00000".into();
    let (_, v) = forged.send(&s).await;
    assert_eq!(code(&v), "InvalidSignatureException", "{v}");
    // Each AWS request is in the audit log, with the key as the identity and no plaintext.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("\"path\":\"sys/aws/signature\""), "the forged request is on record");
    assert!(text.contains(&format!("aws-{id}")), "the key's identity is in the log");
    assert!(text.contains("\"path\":\"secret/data/team-b/db\""), "the refused path is on record");
    assert!(!text.contains("\"SecretString\":\"a\""));

    // A deleted key is refused at once.
    let (st, _) = s.call("DELETE", &format!("sys/aws/keys/{id}"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = as_key("GetSecretValue", json!({"SecretId": "team-a/db"})).send(&s).await;
    assert_eq!(code(&v), "UnrecognizedClientException", "{v}");
}

#[tokio::test]
async fn making_keys_needs_update_and_never_gives_more_than_the_caller_has() {
    let s = server().await;
    let no_access = s.token_with_policy("nothing", "path \"secret/*\" { capabilities = [\"read\"] }").await;
    let (st, _) = s.call_as(&no_access, "POST", "sys/aws/keys", Some(json!({"policies": ["nothing"]}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let maker = s.token_with_policy("maker", "path \"sys/aws/keys\" { capabilities = [\"update\"] }").await;
    for policies in [json!(["root"]), json!(["Root"]), json!(["other"]), json!([])] {
        let (st, v) = s.call_as(&maker, "POST", "sys/aws/keys", Some(json!({"policies": policies}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{policies}: {v}");
    }
    let (st, v) = s.call_as(&maker, "POST", "sys/aws/keys", Some(json!({"policies": ["maker"], "oops": 1}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    // Even root cannot hand out `root`.
    let (st, _) = s.call("POST", "sys/aws/keys", Some(json!({"policies": ["root"]}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, v) = s.call_as(&maker, "POST", "sys/aws/keys", Some(json!({"policies": ["maker"]}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["data"]["expire_time"].is_string(), "a key made without sudo ends with its maker: {v}");
    let (st, v) = s.call("GET", &format!("sys/aws/keys/{}", v["data"]["access_key_id"].as_str().unwrap()), None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(v["data"].get("secret_access_key").is_none(), "{v}");
}

#[tokio::test]
async fn labels_have_one_spelling_in_each_api() {
    let s = server().await;
    create(&s, "labels", "v1").await;
    let (st, v) = s
        .call("POST", "secret/data/labels", Some(json!({"data": {"v": 2}, "options": {"stages": ["AWSPENDING"]}})))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "the KV API spells it pending: {v}");
    let (st, v) =
        Call::new("PutSecretValue", json!({"SecretId": "labels", "SecretString": "v2", "VersionStages": ["pending"]}))
            .send(&s)
            .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::BAD_REQUEST, "InvalidParameterException"),
        "the AWS API spells it AWSPENDING: {v}"
    );
}

#[tokio::test]
async fn sealed_servers_answer_503_and_keys_do_not_survive_in_memory() {
    let s = server().await;
    create(&s, "sealed", "x").await;
    let core = s.running.as_ref().unwrap().core.clone();
    assert!(!core.aws_keys.is_empty(), "the signing key is cached after use");
    let (st, _) = s.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(core.barrier.is_sealed());
    assert!(core.aws_keys.is_empty(), "a sealed node holds no key in memory");
    let (st, v) = Call::new("GetSecretValue", json!({"SecretId": "sealed"})).send(&s).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{v}");
}

#[tokio::test]
async fn a_scheduled_deletion_is_carried_out_by_the_leader_after_its_window_only() {
    let s = server().await;
    let core = s.running.as_ref().unwrap().core.clone();
    crate::harness::until("leadership", std::time::Duration::from_secs(10), || {
        let c = core.clone();
        async move { c.leader.load().is_some() }
    })
    .await;
    create(&s, "doomed", "x").await;
    create(&s, "spared", "y").await;
    for name in ["doomed", "spared"] {
        let (st, v) = Call::new("DeleteSecret", json!({"SecretId": name, "RecoveryWindowInDays": 7})).send(&s).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let (st, _) = Call::new("RestoreSecret", json!({"SecretId": "spared"})).send(&s).await;
    assert_eq!(st, StatusCode::OK);
    let sweep = coffer::server::aws::ops::lifecycle::sweep;
    let fence = core.leader.load_full().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(sweep(&core, &fence, now + 6 * 86_400).await.unwrap(), 0, "inside the window nothing goes");
    // A node that lost the lease destroys nothing.
    let stale = coffer::store::Fence { node: fence.node.clone(), epoch: fence.epoch + 1 };
    assert!(sweep(&core, &stale, now + 8 * 86_400).await.is_err());
    let (st, _) = s.call("GET", "secret/metadata/doomed", None).await;
    assert_eq!(st, StatusCode::OK, "a stale leader deleted it");
    assert_eq!(sweep(&core, &fence, now + 8 * 86_400).await.unwrap(), 1);
    let (st, _) = s.call("GET", "secret/metadata/doomed", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = Call::new("GetSecretValue", json!({"SecretId": "spared"})).send(&s).await;
    assert_eq!((st, &v["SecretString"]), (StatusCode::OK, &json!("y")), "a restored secret stays");
    // A secret made again under the name is a new secret, with nothing scheduled.
    create(&s, "doomed", "again").await;
    let (_, v) = Call::new("DescribeSecret", json!({"SecretId": "doomed"})).send(&s).await;
    assert!(v.get("DeletedDate").is_none(), "{v}");
}

#[tokio::test]
async fn a_value_that_does_not_open_is_a_decryption_failure_that_shows_nothing() {
    // No cache: the test changes the database behind the server's back.
    let s = with_key(TestServer::dev_uncached().await).await;
    create(&s, "moved-a", "value-of-a").await;
    create(&s, "moved-b", "value-of-b").await;
    // b's ciphertext moved onto a: the AAD names another path, so the barrier refuses it.
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(s.db_path());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&opts).await.unwrap();
    let b: Vec<u8> = sqlx::query_scalar("select ciphertext from kv_version where path = 'moved-b' and version = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let n = sqlx::query("update kv_version set ciphertext = ? where path = 'moved-a' and version = 1")
        .bind(&b)
        .execute(&mut conn)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1);
    let (st, v) = Call::new("GetSecretValue", json!({"SecretId": "moved-a"})).send(&s).await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "DecryptionFailure"), "{v}");
    assert!(!v.to_string().contains("value-of"), "{v}");
    let (st, v) = Call::new("GetSecretValue", json!({"SecretId": "moved-b"})).send(&s).await;
    assert_eq!((st, &v["SecretString"]), (StatusCode::OK, &json!("value-of-b")), "{v}");
}

#[tokio::test]
async fn on_postgres_a_key_made_on_one_node_works_on_another_until_deleted_there() {
    let (_store, db) = crate::store_contract::fresh_pg().await;
    let mut a = TestServer::at_url(db.url(), std::time::Duration::from_secs(3)).await;
    let (shares, root) = a.init(1, 1).await;
    a.unseal(&shares).await;
    let mut b = TestServer::at_url(db.url(), std::time::Duration::from_secs(3)).await;
    b.token = root;
    b.unseal(&shares).await;
    let (st, v) = a.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, key) = a.call("POST", "sys/aws/keys", Some(json!({"policies": ["default", "all"]}))).await;
    assert_eq!(st, StatusCode::OK, "{key}");
    let (st, v) = a
        .call(
            "PUT",
            "sys/policies/acl/all",
            Some(json!({"policy": "path \"secret/*\" { capabilities = [\"create\", \"read\", \"update\"] }"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let signed = |op: &str, body: Value| {
        let mut c = Call::new(op, body);
        c.key_id = key["data"]["access_key_id"].as_str().unwrap().to_string();
        c.secret = key["data"]["secret_access_key"].as_str().unwrap().to_string();
        c
    };
    let (st, v) = signed("CreateSecret", json!({"Name": "shared", "SecretString": "on-pg"})).send(&a).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Node b may not have the mount yet: it learns of it through the change feed.
    crate::harness::until("node b serves the AWS read", std::time::Duration::from_secs(5), || {
        let c = signed("GetSecretValue", json!({"SecretId": "shared"}));
        let b = &b;
        async move { c.send(b).await.1["SecretString"] == "on-pg" }
    })
    .await;
    let (st, _) =
        a.call("DELETE", &format!("sys/aws/keys/{}", key["data"]["access_key_id"].as_str().unwrap()), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    crate::harness::until("node b refuses the deleted key", std::time::Duration::from_secs(5), || {
        let c = signed("GetSecretValue", json!({"SecretId": "shared"}));
        let b = &b;
        async move { code(&c.send(b).await.1) == "UnrecognizedClientException" }
    })
    .await;
}

#[tokio::test]
async fn expired_keys_are_refused_and_then_tidied_away() {
    let s = server().await;
    let core = s.running.as_ref().unwrap().core.clone();
    let (st, key) = s.call("POST", "sys/aws/keys", Some(json!({"policies": ["default"], "ttl": "1h"}))).await;
    assert_eq!(st, StatusCode::OK, "{key}");
    let id = key["data"]["access_key_id"].as_str().unwrap().to_string();
    let tidy = coffer::core::aws::keys::tidy;
    let now = chrono::Utc::now();
    assert_eq!(tidy(&core, now).await.unwrap(), 0, "a live key stays");
    assert_eq!(tidy(&core, now + chrono::Duration::hours(2)).await.unwrap(), 1);
    let (st, _) = s.call("GET", &format!("sys/aws/keys/{id}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // The dev root key has no expiry and is never tidied.
    let (st, _) = Call::new("ListSecrets", json!({})).send(&s).await;
    assert_eq!(st, StatusCode::OK);
    // A key past its time is refused even before the tidy removes it.
    let (st, short) = s.call("POST", "sys/aws/keys", Some(json!({"policies": ["default"], "ttl": "1s"}))).await;
    assert_eq!(st, StatusCode::OK, "{short}");
    crate::harness::until("the short key is refused", std::time::Duration::from_secs(5), || {
        let mut c = Call::new("ListSecrets", json!({}));
        c.key_id = short["data"]["access_key_id"].as_str().unwrap().to_string();
        c.secret = short["data"]["secret_access_key"].as_str().unwrap().to_string();
        let s = &s;
        async move { code(&c.send(s).await.1) == "UnrecognizedClientException" }
    })
    .await;
}

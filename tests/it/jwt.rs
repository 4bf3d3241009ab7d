//! JWT auth over real HTTP: a JWKS served from a tiny in-test identity provider on 127.0.0.1:0,
//! config and role management, logins whose tokens carry the mapped claims, OpenBao's messages for
//! a wrong audience or claim, expiry, key rotation picked up through one rate-limited JWKS refresh
//! (SEC-12), and algorithm confusion and `alg: none` refused end to end (SEC-10).
// These tests stand outside the server and compare its answers with the wall clock.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

const ISSUER: &str = "https://token.ci.example";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One signing key of the test identity provider.
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
    public_pem: String,
}

impl SigningKey {
    fn new(kid: &str) -> Self {
        let kp = rcgen::KeyPair::generate().unwrap();
        let raw = kp.public_key_raw();
        let jwk = json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                         "x": URL_SAFE_NO_PAD.encode(&raw[1..33]), "y": URL_SAFE_NO_PAD.encode(&raw[33..65])});
        Self {
            kid: kid.into(),
            encoding: EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap(),
            jwk,
            public_pem: kp.public_key_pem(),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.encoding).unwrap()
    }
}

/// A JWKS endpoint whose document can be swapped; counts its requests.
struct Idp {
    url: String,
    doc: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
}

impl Idp {
    async fn start(keys: &[&SigningKey]) -> Self {
        use axum::routing::get;
        let doc = Arc::new(Mutex::new(Value::Null));
        let hits = Arc::new(AtomicUsize::new(0));
        let (d, h) = (doc.clone(), hits.clone());
        let app = axum::Router::new().route(
            "/.well-known/jwks",
            get(move || {
                let (d, h) = (d.clone(), h.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let body = d.lock().unwrap().clone();
                    axum::Json(body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let idp = Self { url: format!("http://{addr}/.well-known/jwks"), doc, hits };
        idp.publish(keys);
        idp
    }

    fn publish(&self, keys: &[&SigningKey]) {
        *self.doc.lock().unwrap() = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": ISSUER, "sub": "repo:org/app:ref:refs/heads/main", "aud": "coffer",
                       "iat": now(), "nbf": now(), "exp": now() + 300,
                       "repository": "org/app", "ref": "refs/heads/main"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

async fn ok(s: &TestServer, method: &str, path: &str, body: Value) -> Value {
    let (st, v) = s.call(method, path, Some(body)).await;
    assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{method} {path}: {st} {v}");
    v
}

async fn login(s: &TestServer, role: &str, jwt: &str) -> (StatusCode, Value) {
    s.call_as("", "POST", "auth/jwt/login", Some(json!({"role": role, "jwt": jwt}))).await
}

/// A dev server with `auth/jwt` configured against `idp` and the `ci` role.
async fn setup(idp: &Idp) -> TestServer {
    let s = TestServer::dev().await;
    ok(&s, "POST", "sys/auth/jwt", json!({"type": "jwt"})).await;
    ok(&s, "POST", "auth/jwt/config", json!({"jwks_url": idp.url, "bound_issuer": ISSUER})).await;
    ok(
        &s,
        "POST",
        "auth/jwt/role/ci",
        json!({"role_type": "jwt", "bound_audiences": ["coffer"], "user_claim": "sub",
               "bound_claims": {"repository": "org/app"}, "claim_mappings": {"repository": "repo"},
               "token_policies": ["ci"], "token_ttl": "10m"}),
    )
    .await;
    s
}

#[tokio::test]
async fn jwt_login_issues_a_token_with_the_mapped_claims() {
    let k1 = SigningKey::new("k1");
    let idp = Idp::start(&[&k1]).await;
    let s = setup(&idp).await;

    let cfg = ok(&s, "GET", "auth/jwt/config", json!(null)).await;
    assert_eq!(cfg["data"]["jwks_url"], idp.url);
    assert_eq!(cfg["data"]["bound_issuer"], ISSUER);
    assert_eq!(cfg["data"]["status"], "valid");
    let role = ok(&s, "GET", "auth/jwt/role/ci", json!(null)).await;
    assert_eq!(role["data"]["bound_audiences"], json!(["coffer"]));
    assert_eq!(role["data"]["claim_mappings"], json!({"repository": "repo"}));
    assert_eq!(role["data"]["token_ttl"], 600);
    let (st, list) = s.call("LIST", "auth/jwt/role", None).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["data"]["keys"], json!(["ci"]));

    let (st, v) = login(&s, "ci", &k1.sign(&claims(json!({})))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let auth = &v["auth"];
    assert_eq!(auth["metadata"], json!({"role": "ci", "repo": "org/app"}));
    assert_eq!(auth["policies"], json!(["ci", "default"]));
    assert_eq!(auth["lease_duration"], 600);
    assert_eq!(auth["orphan"], true);
    let token = auth["client_token"].as_str().unwrap();
    let (st, me) = s.call_as(token, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK, "{me}");
    assert_eq!(me["data"]["meta"]["repo"], "org/app");
    assert_eq!(me["data"]["meta"]["role"], "ci");
    assert!(me["data"]["path"].as_str().unwrap().starts_with("auth/jwt/login"), "{me}");
}

#[tokio::test]
async fn jwt_login_failures_are_400_with_openbao_messages() {
    let k1 = SigningKey::new("k1");
    let idp = Idp::start(&[&k1]).await;
    let s = setup(&idp).await;

    let cases = [
        (
            claims(json!({"aud": "other"})),
            "error validating token: invalid audience (aud) claim: audience claim does not match any expected audience",
        ),
        (
            claims(json!({"aud": ["other", "coffer-x"]})),
            "error validating token: invalid audience (aud) claim: audience claim does not match any expected audience",
        ),
        (
            claims(json!({"repository": "evil/repo"})),
            "error validating claims: claim \"repository\" does not match any associated bound claim values",
        ),
        (
            claims(json!({"exp": now() - 600, "iat": now() - 900, "nbf": now() - 900})),
            "error validating token: token is expired",
        ),
        (claims(json!({"iss": "https://evil.example"})), "error validating token: invalid issuer (iss) claim"),
    ];
    for (c, msg) in cases {
        let jwt = k1.sign(&c);
        let (st, v) = login(&s, "ci", &jwt).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{c}: {v}");
        assert_eq!(v["errors"], json!([msg]), "{c}");
        assert!(!v.to_string().contains(&jwt));
    }
    // Another key with the same kid: bad signature.
    let impostor = SigningKey::new("k1");
    let (st, v) = login(&s, "ci", &impostor.sign(&claims(json!({})))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = login(&s, "ci", "abc.def.ghi").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = s.call_as("", "POST", "auth/jwt/login", Some(json!({"jwt": k1.sign(&claims(json!({})))}))).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, json!({"errors": ["missing role"]})));
    let (st, v) = login(&s, "nope", &k1.sign(&claims(json!({})))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn jwt_key_rotation_is_picked_up_through_one_refresh() {
    let k1 = SigningKey::new("k1");
    let idp = Idp::start(&[&k1]).await;
    let s = setup(&idp).await;
    assert_eq!(idp.hits(), 1, "the config write fetches the JWKS once");
    let (st, v) = login(&s, "ci", &k1.sign(&claims(json!({})))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(idp.hits(), 1, "known kids come from the cache");

    // The issuer rotates to k2: the first token with the new kid refreshes the JWKS.
    let k2 = SigningKey::new("k2");
    idp.publish(&[&k2]);
    let (st, v) = login(&s, "ci", &k2.sign(&claims(json!({})))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(idp.hits(), 2);

    // Unknown kids within the next minute do not reach the issuer again (SEC-12).
    let k3 = SigningKey::new("k3");
    idp.publish(&[&k2, &k3]);
    for _ in 0..5 {
        let (st, v) = login(&s, "ci", &k3.sign(&claims(json!({})))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    }
    assert_eq!(idp.hits(), 2);
    // Rewriting the configuration fetches the current keys.
    ok(&s, "POST", "auth/jwt/config", json!({"jwks_url": idp.url, "bound_issuer": ISSUER})).await;
    let (st, v) = login(&s, "ci", &k3.sign(&claims(json!({})))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn jwt_config_and_role_writes_are_checked() {
    let k1 = SigningKey::new("k1");
    let s = TestServer::dev().await;
    ok(&s, "POST", "sys/auth/jwt", json!({"type": "jwt"})).await;
    let (st, v) = s
        .call(
            "POST",
            "auth/jwt/config",
            Some(json!({"jwt_validation_pubkeys": [k1.public_pem], "jwks_url": "https://127.0.0.1:1/jwks"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["errors"][0],
        "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs', 'oidc_discovery_url', or 'provider_config' must be set"
    );
    let (st, v) = s.call("POST", "auth/jwt/config", Some(json!({"jwks_url": "http://127.0.0.1:1/jwks"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["errors"][0].as_str().unwrap().starts_with("error checking jwks_url"), "{v}");
    let (st, v) = s
        .call(
            "POST",
            "auth/jwt/config",
            Some(json!({"jwt_validation_pubkeys": [k1.public_pem], "jwt_supported_algs": ["HS256"]})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    ok(&s, "POST", "auth/jwt/config", json!({"jwt_validation_pubkeys": [k1.public_pem], "bound_issuer": ISSUER})).await;

    let bad_roles = [
        (json!({"role_type": "jwt", "bound_audiences": ["coffer"]}), "a user claim must be defined on the role"),
        (json!({"role_type": "oidc", "bound_audiences": ["coffer"], "user_claim": "sub"}), "OIDC"),
        (json!({"user_claim": "sub"}), "bound_audiences"),
        (json!({"user_claim": "sub", "bound_audiences": ["coffer"], "token_policies": ["Root"]}), "root"),
    ];
    for (body, needle) in bad_roles {
        let (st, v) = s.call("POST", "auth/jwt/role/bad", Some(body.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["errors"][0].as_str().unwrap().contains(needle), "{body}: {v}");
    }
    let (st, _) = s.call("GET", "auth/jwt/role/bad", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // PEM keys: a good login, then deletion of the role.
    ok(&s, "POST", "auth/jwt/role/pem", json!({"bound_audiences": "coffer", "user_claim": "sub"})).await;
    let (st, v) = login(&s, "pem", &k1.sign(&claims(json!({})))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    ok(&s, "DELETE", "auth/jwt/role/pem", json!(null)).await;
    let (st, _) = login(&s, "pem", &k1.sign(&claims(json!({})))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sec10_alg_none_and_hs256_with_the_public_key_are_refused_end_to_end() {
    let k1 = SigningKey::new("k1");
    let s = TestServer::dev().await;
    ok(&s, "POST", "sys/auth/jwt", json!({"type": "jwt"})).await;
    ok(&s, "POST", "auth/jwt/config", json!({"jwt_validation_pubkeys": [k1.public_pem], "bound_issuer": ISSUER})).await;
    ok(&s, "POST", "auth/jwt/role/ci", json!({"bound_audiences": ["coffer"], "user_claim": "sub"})).await;
    let payload = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    for alg in ["none", "None", "nOnE"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let (st, v) = login(&s, "ci", &format!("{header}.{payload}.")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{alg}: {v}");
    }
    for secret in [k1.public_pem.clone(), k1.public_pem.trim_end().to_string()] {
        let jwt = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(json!({})),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        let (st, v) = login(&s, "ci", &jwt).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    }
    // The genuine token still works.
    let (st, v) = login(&s, "ci", &k1.sign(&claims(json!({})))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn sec21_the_jwt_and_the_issued_token_never_reach_the_audit_log() {
    let k1 = SigningKey::new("k1");
    let idp = Idp::start(&[&k1]).await;
    let s = setup(&idp).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (st, v) = s
        .call("PUT", "sys/audit/file", Some(json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let jwt = k1.sign(&claims(json!({})));
    let (st, v) = login(&s, "ci", &jwt).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap().to_string();
    let files = vec![("audit.log".to_string(), std::fs::read(&log).unwrap())];
    let signature = jwt.rsplit('.').next().unwrap();
    for secret in [jwt.as_str(), signature, token.as_str()] {
        let hits = crate::security::find(&files, secret);
        assert!(hits.is_empty(), "found in the audit log: {hits:?}");
    }
    let text = String::from_utf8(files[0].1.clone()).unwrap();
    assert!(text.contains("\"path\":\"auth/jwt/login\""), "the login is on record");
}

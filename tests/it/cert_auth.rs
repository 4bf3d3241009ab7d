//! TLS certificate auth (`auth/cert/`): certificates made here with rcgen, a TLS server on port
//! 0, logins over connections that present a client identity. Covers SEC-13 (pinned leaf
//! compared whole, client-auth usage required), SEC-14 (a CRL holds at the first login after a
//! restart), SEC-15 (renewal only with the same certificate) and the refusals of issue 20.

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::tls::{self_signed, start_tls, Pki};

/// A CA: its certificate and key.
pub(crate) struct Ca {
    pub(crate) cert: rcgen::Certificate,
    key: KeyPair,
}

pub(crate) fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    Ca { cert: p.self_signed(&key).unwrap(), key }
}

/// An intermediate CA signed by `parent`.
fn intermediate(parent: &Ca, name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    Ca { cert: p.signed_by(&key, &parent.cert, &parent.key).unwrap(), key }
}

/// What a leaf looks like.
pub(crate) struct Leaf<'a> {
    cn: &'a str,
    dns: &'a [&'a str],
    uris: &'a [&'a str],
    eku: Vec<ExtendedKeyUsagePurpose>,
    serial: u64,
    expired: bool,
}

impl Default for Leaf<'_> {
    fn default() -> Self {
        Leaf {
            cn: "app1",
            dns: &[],
            uris: &[],
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
            serial: 1,
            expired: false,
        }
    }
}

/// A client identity: the PEM of leaf (+ chain) and key, and the leaf's PEM alone.
pub(crate) struct Ident {
    pub(crate) pem: String,
    leaf_pem: String,
}

fn leaf_params(l: &Leaf<'_>) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, l.cn);
    for d in l.dns {
        p.subject_alt_names.push(SanType::DnsName((*d).try_into().unwrap()));
    }
    for u in l.uris {
        p.subject_alt_names.push(SanType::URI((*u).try_into().unwrap()));
    }
    p.extended_key_usages = l.eku.clone();
    p.serial_number = Some(SerialNumber::from(l.serial));
    if l.expired {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    p
}

/// A leaf signed by `issuer`, presented with `chain` after it.
fn leaf_with_key(issuer: &Ca, l: &Leaf<'_>, key: &KeyPair, chain: &[&Ca]) -> Ident {
    let cert = leaf_params(l).signed_by(key, &issuer.cert, &issuer.key).unwrap();
    let mut pem = cert.pem();
    for c in chain {
        pem.push_str(&c.cert.pem());
    }
    pem.push_str(&key.serialize_pem());
    Ident { pem, leaf_pem: cert.pem() }
}

pub(crate) fn leaf(issuer: &Ca, l: &Leaf<'_>) -> Ident {
    leaf_with_key(issuer, l, &KeyPair::generate().unwrap(), &[])
}

fn crl(issuer: &Ca, serials: &[u64]) -> String {
    let params = CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2024, 1, 1),
        next_update: rcgen::date_time_ymd(2099, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(*s),
                revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    params.signed_by(&issuer.cert, &issuer.key).unwrap().pem().unwrap()
}

/// A TLS server, initialised, unsealed, with `cert` auth enabled.
pub(crate) struct Env {
    dir: tempfile::TempDir,
    pub(crate) pki: Pki,
    pub(crate) running: Option<coffer::server::Running>,
    keys: Vec<String>,
    pub(crate) root: String,
}

impl Env {
    pub(crate) async fn start() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let pki = self_signed(dir.path(), 0o600);
        let running = start_tls(&pki, dir.path()).await;
        let mut env = Env { dir, pki, running: Some(running), keys: Vec::new(), root: String::new() };
        let (s, v) =
            env.call(None, "PUT", "sys/init", None, Some(json!({"secret_shares": 1, "secret_threshold": 1}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        env.keys = vec![v["keys"][0].as_str().unwrap().to_string()];
        env.root = v["root_token"].as_str().unwrap().to_string();
        env.unseal().await;
        let root = env.root.clone();
        let (s, v) = env.call(None, "POST", "sys/auth/cert", Some(&root), Some(json!({"type": "cert"}))).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        env
    }

    async fn unseal(&self) {
        let (s, v) = self.call(None, "PUT", "sys/unseal", None, Some(json!({"key": self.keys[0]}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["sealed"], false);
    }

    async fn restart(&mut self) {
        self.running.take().unwrap().stop().await;
        self.running = Some(start_tls(&self.pki, self.dir.path()).await);
        self.unseal().await;
    }

    fn client(&self, ident: Option<&Ident>) -> reqwest::Client {
        let addr = self.running.as_ref().unwrap().addr;
        let mut b = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.pki.cert_pem.as_bytes()).unwrap())
            .resolve("localhost", addr)
            .timeout(Duration::from_secs(10));
        if let Some(i) = ident {
            b = b.identity(reqwest::Identity::from_pem(i.pem.as_bytes()).unwrap());
        }
        b.build().unwrap()
    }

    pub(crate) async fn call(
        &self,
        ident: Option<&Ident>,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let port = self.running.as_ref().unwrap().addr.port();
        let url = format!("https://localhost:{port}/v1/{path}");
        let mut req = self.client(ident).request(method.parse().unwrap(), url);
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn write_role(&self, name: &str, body: Value) {
        let (s, v) = self.call(None, "POST", &format!("auth/cert/certs/{name}"), Some(&self.root), Some(body)).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    }

    async fn login(&self, ident: Option<&Ident>, body: Value) -> (StatusCode, Value) {
        self.call(ident, "POST", "auth/cert/login", None, Some(body)).await
    }
}

fn errors(v: &Value) -> String {
    v["errors"].to_string()
}

const INVALID: &str = "invalid certificate or no client certificate supplied";

#[tokio::test]
async fn a_ca_signed_certificate_logs_in_and_others_are_refused() {
    let env = Env::start().await;
    let root = ca("root ca");
    env.write_role(
        "web",
        json!({"certificate": root.cert.pem(), "allowed_common_names": ["app*"], "token_policies": "app",
               "token_ttl": "10m", "display_name": "webapps"}),
    )
    .await;
    let (s, v) = env.call(None, "GET", "auth/cert/certs/web", Some(&env.root), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"]["allowed_common_names"], json!(["app*"]));
    assert_eq!(v["data"]["token_ttl"], 600);
    assert_eq!(v["data"]["display_name"], "webapps");
    let (s, v) = env.call(None, "LIST", "auth/cert/certs", Some(&env.root), None).await;
    assert_eq!((s, v["data"]["keys"].clone()), (StatusCode::OK, json!(["web"])));

    let good = leaf(&root, &Leaf { serial: 77, ..Leaf::default() });
    let (s, v) = env.login(Some(&good), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let auth = &v["auth"];
    assert_eq!(auth["metadata"]["cert_name"], "web");
    assert_eq!(auth["metadata"]["common_name"], "app1");
    assert_eq!(auth["metadata"]["serial_number"], "77");
    assert_eq!(auth["policies"], json!(["app", "default"]));
    assert_eq!(auth["lease_duration"], 600);
    let token = auth["client_token"].as_str().unwrap();
    let (s, v) = env.call(None, "GET", "auth/token/lookup-self", Some(token), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["display_name"], "cert-webapps");
    // Naming the role works; naming another does not.
    assert_eq!(env.login(Some(&good), json!({"name": "web"})).await.0, StatusCode::OK);
    let (s, v) = env.login(Some(&good), json!({"name": "other"})).await;
    assert_eq!((s, errors(&v).contains(INVALID)), (StatusCode::BAD_REQUEST, true), "{v}");

    // A connection without a client certificate is served, and its login refused as Vault does.
    let (s, _) = env.call(None, "GET", "sys/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = env.login(None, json!({})).await;
    assert_eq!((s, errors(&v)), (StatusCode::BAD_REQUEST, json!(["no client certificate found"]).to_string()));

    // Another CA.
    let other = ca("other ca");
    let (s, v) = env.login(Some(&leaf(&other, &Leaf::default())), json!({})).await;
    assert_eq!((s, errors(&v).contains(INVALID)), (StatusCode::BAD_REQUEST, true), "another CA: {v}");
    // Expired.
    let (s, v) = env.login(Some(&leaf(&root, &Leaf { expired: true, ..Leaf::default() })), json!({})).await;
    assert_eq!((s, errors(&v).contains(INVALID)), (StatusCode::BAD_REQUEST, true), "expired: {v}");
    // Server-auth only, and no extended key usage at all.
    for eku in [vec![ExtendedKeyUsagePurpose::ServerAuth], vec![]] {
        let (s, v) = env.login(Some(&leaf(&root, &Leaf { eku: eku.clone(), ..Leaf::default() })), json!({})).await;
        assert_eq!((s, errors(&v).contains(INVALID)), (StatusCode::BAD_REQUEST, true), "{eku:?}: {v}");
    }
    // A chain through an intermediate of an unrelated root, presented in full.
    let stray = intermediate(&other, "stray intermediate");
    let ident = leaf_with_key(&stray, &Leaf::default(), &KeyPair::generate().unwrap(), &[&stray]);
    let (s, v) = env.login(Some(&ident), json!({})).await;
    assert_eq!((s, errors(&v).contains(INVALID)), (StatusCode::BAD_REQUEST, true), "unrelated intermediate: {v}");
    // The same through an intermediate of the trusted root is taken.
    let inter = intermediate(&root, "good intermediate");
    let ident = leaf_with_key(&inter, &Leaf::default(), &KeyPair::generate().unwrap(), &[&inter]);
    assert_eq!(env.login(Some(&ident), json!({})).await.0, StatusCode::OK);
    // The trusted CA, but not the role's names.
    let (s, v) = env.login(Some(&leaf(&root, &Leaf { cn: "db1", ..Leaf::default() })), json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(errors(&v).contains("no chain matching all constraints"), "{v}");
}

#[tokio::test]
async fn spiffe_and_dns_sans_are_matched_with_globs() {
    let env = Env::start().await;
    let root = ca("mesh ca");
    env.write_role(
        "mesh",
        json!({"certificate": root.cert.pem(), "allowed_uri_sans": "spiffe://td/ns/prod/*",
               "allowed_dns_sans": ["*.svc.local"]}),
    )
    .await;
    let ok = leaf(&root, &Leaf { uris: &["spiffe://td/ns/prod/sa/api"], dns: &["api.svc.local"], ..Leaf::default() });
    assert_eq!(env.login(Some(&ok), json!({})).await.0, StatusCode::OK);
    for (uris, dns) in [
        (&["spiffe://td/ns/dev/sa/api"][..], &["api.svc.local"][..]),
        (&["spiffe://td/ns/prod/sa/api"][..], &["api.example.com"][..]),
        (&[][..], &["api.svc.local"][..]),
    ] {
        let id = leaf(&root, &Leaf { uris, dns, ..Leaf::default() });
        let (s, v) = env.login(Some(&id), json!({})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uris:?} {dns:?}: {v}");
    }
}

#[tokio::test]
async fn sec13_a_pinned_leaf_is_compared_whole() {
    let env = Env::start().await;
    let root = ca("root ca");
    let key = KeyPair::generate().unwrap();
    let pinned = leaf_with_key(&root, &Leaf { cn: "pinned", serial: 5, ..Leaf::default() }, &key, &[]);
    env.write_role("pin", json!({"certificate": pinned.leaf_pem})).await;
    let (s, v) = env.login(Some(&pinned), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // The same key and issuer, but another CN, another serial, another SAN: refused.
    for l in [
        Leaf { cn: "admin", serial: 5, ..Leaf::default() },
        Leaf { cn: "pinned", serial: 6, ..Leaf::default() },
        Leaf { cn: "pinned", serial: 5, dns: &["x.example.com"], ..Leaf::default() },
    ] {
        let forged = leaf_with_key(&root, &l, &key, &[]);
        let (s, v) = env.login(Some(&forged), json!({})).await;
        assert_eq!((s, errors(&v).contains(INVALID)), (StatusCode::BAD_REQUEST, true), "{}: {v}", l.cn);
    }
    // A pinned leaf without the client-auth usage is refused even when presented exactly.
    let server_only =
        leaf(&root, &Leaf { cn: "srv", eku: vec![ExtendedKeyUsagePurpose::ServerAuth], ..Leaf::default() });
    env.write_role("srv", json!({"certificate": server_only.leaf_pem})).await;
    let (s, v) = env.login(Some(&server_only), json!({"name": "srv"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn sec14_a_revoked_certificate_is_refused_at_the_first_login_after_a_restart() {
    let mut env = Env::start().await;
    let root = ca("root ca");
    env.write_role("web", json!({"certificate": root.cert.pem()})).await;
    let revoked = leaf(&root, &Leaf { serial: 1001, ..Leaf::default() });
    let kept = leaf(&root, &Leaf { serial: 1002, ..Leaf::default() });
    assert_eq!(env.login(Some(&revoked), json!({})).await.0, StatusCode::OK);
    let (s, v) =
        env.call(None, "POST", "auth/cert/crls/main", Some(&env.root), Some(json!({"crl": crl(&root, &[1001])}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = env.call(None, "GET", "auth/cert/crls/main", Some(&env.root), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"]["serials"], json!({"1001": {}}));
    assert_eq!(env.login(Some(&revoked), json!({})).await.0, StatusCode::BAD_REQUEST);

    env.restart().await;
    // The very first login after the restart.
    let (s, v) = env.login(Some(&revoked), json!({})).await;
    assert_eq!((s, errors(&v).contains(INVALID)), (StatusCode::BAD_REQUEST, true), "{v}");
    assert_eq!(env.login(Some(&kept), json!({})).await.0, StatusCode::OK);
    // Deleting the CRL lets the certificate in again.
    let (s, _) = env.call(None, "DELETE", "auth/cert/crls/main", Some(&env.root), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(env.login(Some(&revoked), json!({})).await.0, StatusCode::OK);
}

#[tokio::test]
async fn sec15_a_cert_token_renews_only_with_the_same_certificate() {
    let env = Env::start().await;
    let root = ca("root ca");
    env.write_role("web", json!({"certificate": root.cert.pem(), "token_ttl": "10m", "token_max_ttl": "1h"})).await;
    let a = leaf(&root, &Leaf { serial: 1, ..Leaf::default() });
    // Same CN, same CA, another certificate.
    let b = leaf(&root, &Leaf { serial: 2, ..Leaf::default() });
    let (s, v) = env.login(Some(&a), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap().to_string();
    let accessor = v["auth"]["accessor"].as_str().unwrap().to_string();

    let (s, v) = env.call(Some(&a), "POST", "auth/token/renew-self", Some(&token), Some(json!({}))).await;
    assert_eq!(s, StatusCode::OK, "same certificate: {v}");
    for ident in [Some(&b), None] {
        let (s, v) = env.call(ident, "POST", "auth/token/renew-self", Some(&token), Some(json!({}))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "renew-self: {v}");
        let (s, v) = env.call(ident, "POST", "auth/token/renew", Some(&env.root), Some(json!({"token": token}))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "renew: {v}");
        let (s, v) = env
            .call(ident, "POST", "auth/token/renew-accessor", Some(&env.root), Some(json!({"accessor": accessor})))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "renew-accessor: {v}");
    }
    // Tokens of other logins renew as before, with or without a certificate.
    let (s, v) = env.call(None, "POST", "auth/token/create", Some(&env.root), Some(json!({"ttl": "10m"}))).await;
    assert_eq!(s, StatusCode::OK);
    let plain = v["auth"]["client_token"].as_str().unwrap().to_string();
    let (s, _) = env.call(Some(&b), "POST", "auth/token/renew-self", Some(&plain), Some(json!({}))).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn attackers_cannot_write_roles_or_crls() {
    let env = Env::start().await;
    let root = ca("root ca");
    let body = json!({"certificate": root.cert.pem()});
    for path in ["auth/cert/certs/web", "auth/cert/crls/main"] {
        let (s, _) = env.call(None, "POST", path, None, Some(body.clone())).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path} without a token");
        let (s, _) = env.call(None, "POST", path, Some("not-a-token"), Some(body.clone())).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path} with a bad token");
    }
    // A logged-in client (default policy) cannot add a role trusting its own CA.
    env.write_role("web", json!({"certificate": root.cert.pem()})).await;
    let (_, v) = env.login(Some(&leaf(&root, &Leaf::default())), json!({})).await;
    let token = v["auth"]["client_token"].as_str().unwrap().to_string();
    let evil = ca("evil ca");
    let (s, _) = env
        .call(None, "POST", "auth/cert/certs/evil", Some(&token), Some(json!({"certificate": evil.cert.pem()})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.call(None, "LIST", "auth/cert/certs", Some(&token), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Spellings: upper case, a nested name, an unknown collection, the wrong verb on login.
    let (s, _) = env.call(None, "POST", "auth/cert/certs/Web", Some(&env.root), Some(body.clone())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for path in ["auth/cert/certs/web/extra", "auth/cert/cert/web", "auth/cert/Certs/web"] {
        let (s, _) = env.call(None, "POST", path, Some(&env.root), Some(body.clone())).await;
        assert!(s == StatusCode::NOT_FOUND || s == StatusCode::METHOD_NOT_ALLOWED, "{path}: {s}");
    }
    let (s, _) = env.call(None, "GET", "auth/cert/login", None, None).await;
    assert!(s == StatusCode::METHOD_NOT_ALLOWED || s == StatusCode::FORBIDDEN, "{s}");

    // Bad and oversize input.
    for bad in [json!({"certificate": "not pem"}), json!({"certificate": ""}), json!({}), json!({"certificate": 5})] {
        let (s, v) = env.call(None, "POST", "auth/cert/certs/bad", Some(&env.root), Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let huge = root.cert.pem().repeat(1000);
    let (s, _) =
        env.call(None, "POST", "auth/cert/certs/big", Some(&env.root), Some(json!({"certificate": huge}))).await;
    assert!(s == StatusCode::BAD_REQUEST || s == StatusCode::PAYLOAD_TOO_LARGE, "{s}");
    // Over the server's body limit (1 MiB in tests): 413 before the body is parsed.
    let body = json!({"certificate": "A".repeat(2 << 20)});
    let (s, _) = env.call(None, "POST", "auth/cert/certs/big", Some(&env.root), Some(body.clone())).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, _) = env.call(None, "POST", "auth/cert/login", None, Some(body)).await;
    assert!(s == StatusCode::PAYLOAD_TOO_LARGE || s == StatusCode::BAD_REQUEST, "{s}");
    let (s, _) = env.call(None, "POST", "auth/cert/crls/bad", Some(&env.root), Some(json!({"crl": "nope"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.call(None, "GET", "auth/cert/certs/big", Some(&env.root), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

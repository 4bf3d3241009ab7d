//! Verification keys: PEM public keys and JWKS documents read into keys typed by family (RSA,
//! EC P-256, EC P-384, Ed25519; never a symmetric key, SEC-10), the bounded HTTP fetch of a JWKS
//! or an OIDC discovery document (5 s, 1 MiB, no redirects), and the per-mount JWKS cache. A
//! `kid` the cache does not know triggers at most one refresh per 60 s (SEC-12); keys older than
//! an hour are refreshed on use, and the old set stays in use while the issuer cannot be reached.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use serde_json::Value;

use super::validate::{alg_from_name, token_err};
use crate::base::error::ApiError;

/// Timeout of one HTTP fetch (connect, headers and body).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS or discovery document read, bytes.
const MAX_DOCUMENT: usize = 1 << 20;
/// Keys read from one JWKS at most.
const MAX_JWKS_KEYS: usize = 100;
/// A `kid` miss refreshes the JWKS at most this often.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Keys older than this are refreshed on their next use.
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// Mounts whose keys are cached at most (the cache starts over past this).
const MAX_CACHED_MOUNTS: usize = 1024;

/// The kind of a public key; it fixes the algorithms the key can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA, 2048 to 4096 bits: RS256/384/512 and PS256/384/512.
    Rsa,
    /// ECDSA on P-256: ES256.
    P256,
    /// ECDSA on P-384: ES384.
    P384,
    /// Ed25519: EdDSA.
    Ed25519,
}

impl KeyType {
    /// The algorithms a key of this type verifies.
    pub fn algorithms(self) -> &'static [Algorithm] {
        match self {
            KeyType::Rsa => &[
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            KeyType::P256 => &[Algorithm::ES256],
            KeyType::P384 => &[Algorithm::ES384],
            KeyType::Ed25519 => &[Algorithm::EdDSA],
        }
    }
}

/// A public key that can verify token signatures.
#[derive(Clone)]
pub struct VerifyKey {
    /// The JWK's `kid` (PEM keys have none).
    pub kid: Option<String>,
    /// Key family and curve.
    pub key_type: KeyType,
    /// The JWK's `alg`, which narrows the family to one algorithm.
    pub alg: Option<Algorithm>,
    /// The key in `jsonwebtoken`'s form.
    pub key: DecodingKey,
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// Whether this key may verify a signature made with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.key_type.algorithms().contains(&alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// The keys of a mount. `by_kid`: a JWKS, where a token's `kid` selects among the keys.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// The keys.
    pub keys: Vec<VerifyKey>,
    /// Keys are chosen by `kid` (JWKS); PEM keys are all tried.
    pub by_kid: bool,
}

impl KeySet {
    /// Keys that may have signed a token with this `alg` and `kid`.
    pub fn candidates<'a>(&'a self, alg: Algorithm, kid: Option<&'a str>) -> impl Iterator<Item = &'a VerifyKey> + 'a {
        self.keys.iter().filter(move |k| k.accepts(alg) && (!self.by_kid || kid.is_none() || k.kid.as_deref() == kid))
    }

    /// Whether some key carries this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// Reads one DER length at `*i`.
fn der_len(b: &[u8], i: &mut usize) -> Option<usize> {
    let first = *b.get(*i)?;
    *i += 1;
    if first < 0x80 {
        return Some(usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for _ in 0..n {
        len = (len << 8) | usize::from(*b.get(*i)?);
        *i += 1;
    }
    Some(len)
}

/// Bits of a big-endian unsigned integer.
fn bit_len(n: &[u8]) -> usize {
    let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
    match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// The modulus size of a PKCS#1 `RSAPublicKey` (SEQUENCE { INTEGER n, INTEGER e }).
fn rsa_der_bits(der: &[u8]) -> Option<usize> {
    if *der.first()? != 0x30 {
        return None;
    }
    let mut i = 1;
    der_len(der, &mut i)?;
    if *der.get(i)? != 0x02 {
        return None;
    }
    i += 1;
    let len = der_len(der, &mut i)?;
    Some(bit_len(der.get(i..i.checked_add(len)?)?))
}

fn check_rsa_bits(bits: usize) -> Result<(), String> {
    if (2048..=4096).contains(&bits) {
        Ok(())
    } else {
        Err(format!("RSA keys must have 2048 to 4096 bits (this one has {bits})"))
    }
}

/// The curve of an EC SPKI, from its curve OID.
fn ec_curve(spki_der: &[u8]) -> Option<KeyType> {
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    let has = |oid: &[u8]| spki_der.windows(oid.len()).any(|w| w == oid);
    if has(P256) {
        Some(KeyType::P256)
    } else if has(P384) {
        Some(KeyType::P384)
    } else {
        None
    }
}

/// Reads one `PUBLIC KEY` (SPKI: RSA, EC P-256/P-384, Ed25519) or `RSA PUBLIC KEY` (PKCS#1)
/// PEM block. Errors never contain the input.
pub fn from_pem(pem: &str) -> Result<VerifyKey, String> {
    let text = pem.trim();
    if text.contains("PRIVATE KEY") {
        return Err("a private key was given; only public keys are accepted".into());
    }
    if text.matches("-----BEGIN ").count() != 1 {
        return Err("expected exactly one PEM block".into());
    }
    let spki = text.starts_with("-----BEGIN PUBLIC KEY-----");
    if !spki && !text.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
        return Err("expected a \"PUBLIC KEY\" or \"RSA PUBLIC KEY\" PEM block".into());
    }
    let bad = || "not a supported public key (RSA, EC P-256/P-384 or Ed25519)".to_string();
    let key = |key_type, key| Ok(VerifyKey { kid: None, key_type, alg: None, key });
    if let Ok(k) = DecodingKey::from_rsa_pem(text.as_bytes()) {
        let bits = match k.kind() {
            DecodingKeyKind::SecretOrDer(der) => rsa_der_bits(der).ok_or_else(bad)?,
            DecodingKeyKind::RsaModulusExponent { n, .. } => bit_len(n),
        };
        check_rsa_bits(bits)?;
        return key(KeyType::Rsa, k);
    }
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    let der = STANDARD.decode(body).map_err(|_| bad())?;
    if let Ok(k) = DecodingKey::from_ec_pem(text.as_bytes()) {
        let len = match k.kind() {
            DecodingKeyKind::SecretOrDer(point) => point.len(),
            DecodingKeyKind::RsaModulusExponent { .. } => 0,
        };
        return match (ec_curve(&der), len) {
            (Some(KeyType::P256), 65) => key(KeyType::P256, k),
            (Some(KeyType::P384), 97) => key(KeyType::P384, k),
            _ => Err("unsupported elliptic curve (P-256 and P-384 are supported)".into()),
        };
    }
    if let Ok(k) = DecodingKey::from_ed_pem(text.as_bytes()) {
        return match k.kind() {
            DecodingKeyKind::SecretOrDer(x) if x.len() == 32 => key(KeyType::Ed25519, k),
            _ => Err(bad()),
        };
    }
    Err(bad())
}

/// One JWK as a verification key; `None` for keys that cannot sign tokens Coffer accepts
/// (symmetric `oct` keys, encryption keys, unknown types or curves, odd sizes).
fn jwk_key(k: &Value) -> Option<VerifyKey> {
    let obj = k.as_object()?;
    let s = |name: &str| obj.get(name).and_then(Value::as_str);
    if obj.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return None;
    }
    let alg = match obj.get("alg") {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) => Some(alg_from_name(a)?),
        Some(_) => return None,
    };
    let kid = match obj.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return None,
    };
    let b = |name: &str| s(name).and_then(|t| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')).ok());
    let (key_type, key) = match s("kty")? {
        "RSA" => {
            let n: Vec<u8> = b("n")?.into_iter().skip_while(|x| *x == 0).collect();
            let e = b("e")?;
            if check_rsa_bits(bit_len(&n)).is_err() || e.is_empty() || e.len() > 8 {
                return None;
            }
            (KeyType::Rsa, DecodingKey::from_rsa_raw_components(&n, &e))
        }
        "EC" => {
            let (key_type, len) = match s("crv")? {
                "P-256" => (KeyType::P256, 32),
                "P-384" => (KeyType::P384, 48),
                _ => return None,
            };
            let (x, y) = (b("x")?, b("y")?);
            if x.len() != len || y.len() != len {
                return None;
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (key_type, DecodingKey::from_ec_der(&point))
        }
        "OKP" if s("crv")? == "Ed25519" => {
            let x = b("x")?;
            if x.len() != 32 {
                return None;
            }
            (KeyType::Ed25519, DecodingKey::from_ed_der(&x))
        }
        _ => return None,
    };
    if alg.is_some_and(|a| !key_type.algorithms().contains(&a)) {
        return None;
    }
    Some(VerifyKey { kid, key_type, alg, key })
}

/// Reads a JWKS document (`{"keys":[…]}`); keys Coffer cannot use are skipped.
pub fn parse_jwks(doc: &Value) -> Result<KeySet, String> {
    let keys = doc.get("keys").and_then(Value::as_array).ok_or("the JWKS has no \"keys\" array")?;
    let keys: Vec<VerifyKey> = keys.iter().take(MAX_JWKS_KEYS).filter_map(jwk_key).collect();
    if keys.is_empty() {
        return Err("the JWKS holds no usable signing key (RSA, EC P-256/P-384 or Ed25519)".into());
    }
    Ok(KeySet { keys, by_kid: true })
}

/// Where a mount's remote keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The JWKS URL (configured, or found through discovery).
    pub jwks_url: String,
    /// PEM CA bundle that replaces the built-in roots; empty = the built-in roots.
    pub ca_pem: String,
}

impl Remote {
    fn cache_source(&self) -> String {
        format!("{}\n{}", self.jwks_url, self.ca_pem)
    }
}

/// GETs a JSON document: http(s) only, 5 s, at most 1 MiB, no redirects. Errors name no URL.
pub async fn fetch_json(url: &str, ca_pem: &str) -> Result<Value, String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "invalid URL".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the URL must use http or https".into());
    }
    let mut builder = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("coffer/", env!("CARGO_PKG_VERSION")));
    if !ca_pem.trim().is_empty() {
        let certs = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
            .map_err(|_| "the CA PEM could not be parsed".to_string())?;
        if certs.is_empty() {
            return Err("the CA PEM holds no certificate".into());
        }
        builder = builder.tls_built_in_root_certs(false);
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    let client = builder.build().map_err(|e| e.without_url().to_string())?;
    let mut resp = client
        .get(parsed)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("request failed: {}", e.without_url()))?;
    if !resp.status().is_success() {
        return Err(format!("unexpected HTTP status {}", resp.status().as_u16()));
    }
    if resp.content_length().is_some_and(|l| l > MAX_DOCUMENT as u64) {
        return Err("the response is larger than 1 MiB".into());
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        resp.chunk().await.map_err(|e| format!("reading the response failed: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err("the response is larger than 1 MiB".into());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|_| "the response is not valid JSON".to_string())
}

/// Fetches and reads a JWKS.
pub async fn fetch_jwks(remote: &Remote) -> Result<KeySet, String> {
    parse_jwks(&fetch_json(&remote.jwks_url, &remote.ca_pem).await?)
}

/// OIDC discovery: `<url>/.well-known/openid-configuration` → (`jwks_uri`, `issuer`). The issuer
/// must be the discovery URL (OpenID Connect Discovery §4.3).
pub async fn discover(url: &str, ca_pem: &str) -> Result<(String, String), String> {
    let base = url.trim_end_matches('/');
    let doc = fetch_json(&format!("{base}/.well-known/openid-configuration"), ca_pem).await?;
    let field = |k: &str| doc.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
    let issuer = field("issuer").ok_or("the discovery document has no \"issuer\"")?;
    let jwks_uri = field("jwks_uri").ok_or("the discovery document has no \"jwks_uri\"")?;
    if issuer.trim_end_matches('/') != base {
        return Err("the discovery document's issuer does not match oidc_discovery_url".into());
    }
    Ok((jwks_uri, issuer))
}

/// The cached keys of one mount.
#[derive(Default)]
struct Entry {
    /// What the keys were fetched from ([`Remote::cache_source`]).
    source: String,
    keys: Option<Arc<KeySet>>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
}

#[derive(Default)]
struct MountCache {
    state: Mutex<Entry>,
    /// Held while fetching: one refresh per mount at a time, the others wait and re-check.
    refresh: tokio::sync::Mutex<()>,
}

static CACHE: LazyLock<Mutex<HashMap<String, Arc<MountCache>>>> = LazyLock::new(Default::default);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn mount_cache(cache_key: &str) -> Arc<MountCache> {
    let mut all = lock(&CACHE);
    if !all.contains_key(cache_key) && all.len() >= MAX_CACHED_MOUNTS {
        all.clear();
    }
    all.entry(cache_key.to_string()).or_default().clone()
}

/// Stores keys just fetched by a configuration write (this does not count against the refresh
/// rate limit, so the first unknown `kid` afterwards can still refresh at once).
pub fn prime(cache_key: &str, remote: &Remote, set: KeySet, now: Instant) {
    let mc = mount_cache(cache_key);
    *lock(&mc.state) =
        Entry { source: remote.cache_source(), keys: Some(Arc::new(set)), fetched: Some(now), last_attempt: None };
}

/// Forgets a mount's keys (its configuration changed to another key source).
pub fn forget(cache_key: &str) {
    lock(&CACHE).remove(cache_key);
}

/// The keys of a mount with a remote JWKS, for a token with this `kid`. Fetches when nothing is
/// cached, when the keys are over an hour old, or when `kid` is unknown, but at most once per
/// [`REFRESH_INTERVAL`]; a failed fetch keeps the old keys. The caller still has to find a key.
pub async fn remote_keys(
    cache_key: &str,
    remote: &Remote,
    kid: Option<&str>,
    now: Instant,
) -> Result<Arc<KeySet>, ApiError> {
    let source = remote.cache_source();
    let mc = mount_cache(cache_key);
    let usable = |e: &Entry| -> Option<Arc<KeySet>> {
        let keys = e.keys.clone().filter(|_| e.source == source)?;
        let young = e.fetched.is_some_and(|f| now.saturating_duration_since(f) < MAX_KEY_AGE);
        (young && kid.is_none_or(|k| keys.has_kid(k))).then_some(keys)
    };
    if let Some(keys) = usable(&lock(&mc.state)) {
        return Ok(keys);
    }
    let _refreshing = mc.refresh.lock().await;
    let current = {
        let mut e = lock(&mc.state);
        if let Some(keys) = usable(&e) {
            return Ok(keys);
        }
        if e.source != source {
            *e = Entry { source: source.clone(), ..Entry::default() };
        }
        let recent = e.last_attempt.is_some_and(|t| now.saturating_duration_since(t) < REFRESH_INTERVAL);
        if recent {
            return e.keys.clone().ok_or_else(|| token_err("the issuer's keys could not be fetched"));
        }
        e.last_attempt = Some(now);
        e.keys.clone()
    };
    match fetch_jwks(remote).await {
        Ok(set) => {
            let set = Arc::new(set);
            let mut e = lock(&mc.state);
            if e.source == source {
                e.keys = Some(set.clone());
                e.fetched = Some(now);
            }
            Ok(set)
        }
        Err(reason) => {
            tracing::warn!(mount = cache_key, error = %reason, "JWKS refresh failed");
            current.ok_or_else(|| token_err("the issuer's keys could not be fetched"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::validate::tests::{ec_pair, rsa_public_pem};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ec_jwk(public_pem: &str, kid: &str) -> Value {
        let body: String = public_pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body).unwrap();
        let point = &der[der.len() - 65..];
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
               "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])})
    }

    #[test]
    fn pem_keys_are_typed() {
        assert_eq!(from_pem(&rsa_public_pem(false)).unwrap().key_type, KeyType::Rsa);
        assert_eq!(from_pem(&rsa_public_pem(true)).unwrap().key_type, KeyType::Rsa);
        let (private, public) = ec_pair();
        assert_eq!(from_pem(&public).unwrap().key_type, KeyType::P256);
        let e = from_pem(&private).unwrap_err();
        assert!(e.contains("private key"), "{e}");
        assert!(!e.contains("BEGIN"), "{e}");
        assert!(from_pem("not a key").is_err());
        assert!(from_pem(&format!("{public}\n{public}")).is_err());
        let k = from_pem(&public).unwrap();
        assert!(k.accepts(Algorithm::ES256));
        assert!(!k.accepts(Algorithm::ES384) && !k.accepts(Algorithm::RS256) && !k.accepts(Algorithm::HS256));
        let r = from_pem(&rsa_public_pem(false)).unwrap();
        assert!(r.accepts(Algorithm::RS256) && r.accepts(Algorithm::PS512) && !r.accepts(Algorithm::HS256));
        assert!(!format!("{r:?}").contains("MII"));
    }

    #[test]
    fn jwks_skips_symmetric_and_odd_keys() {
        let (_, public) = ec_pair();
        let doc = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "tiny-rsa"},
            {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "short"},
            {"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "short-ed"},
            ec_jwk(&public, "enc").as_object().cloned().map(|mut m| { m.insert("use".into(), json!("enc")); m }).unwrap(),
            ec_jwk(&public, "wrong-alg").as_object().cloned().map(|mut m| { m.insert("alg".into(), json!("RS256")); m }).unwrap(),
            ec_jwk(&public, "hs-alg").as_object().cloned().map(|mut m| { m.insert("alg".into(), json!("HS256")); m }).unwrap(),
            ec_jwk(&public, "good"),
        ]});
        let set = parse_jwks(&doc).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.keys[0].kid.as_deref(), Some("good"));
        assert!(parse_jwks(&json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})).is_err());
        assert!(parse_jwks(&json!({"nokeys": []})).is_err());
    }

    /// A JWKS server on 127.0.0.1:0 that counts requests; the document can be swapped.
    async fn jwks_server(doc: Arc<Mutex<Value>>, hits: Arc<AtomicUsize>) -> String {
        use axum::routing::get;
        let app = axum::Router::new().route(
            "/jwks",
            get(move || {
                let doc = doc.clone();
                let hits = hits.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    axum::Json(lock(&doc).clone())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/jwks")
    }

    #[tokio::test]
    async fn sec12_unknown_kid_refreshes_at_most_once_per_minute() {
        let (_, public) = ec_pair();
        let doc = Arc::new(Mutex::new(json!({"keys": [ec_jwk(&public, "k1")]})));
        let hits = Arc::new(AtomicUsize::new(0));
        let url = jwks_server(doc.clone(), hits.clone()).await;
        let remote = Remote { jwks_url: url, ca_pem: String::new() };
        let mount = format!("test-{}", uuid::Uuid::new_v4());
        let t0 = Instant::now();

        // A configuration write fetched the keys once.
        prime(&mount, &remote, fetch_jwks(&remote).await.unwrap(), t0);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // Known kid and no kid: from the cache.
        assert!(remote_keys(&mount, &remote, Some("k1"), t0).await.unwrap().has_kid("k1"));
        remote_keys(&mount, &remote, None, t0).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // An unknown kid refreshes once; a flood of unknown kids within the minute does not.
        for i in 0..50 {
            let ks = remote_keys(&mount, &remote, Some(&format!("attacker-{i}")), t0 + Duration::from_secs(i % 59))
                .await
                .unwrap();
            assert!(!ks.has_kid(&format!("attacker-{i}")));
        }
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        // A rotation published now is seen only after the interval.
        lock(&doc).get_mut("keys").and_then(Value::as_array_mut).unwrap().push(ec_jwk(&public, "k2"));
        let ks = remote_keys(&mount, &remote, Some("k2"), t0 + Duration::from_secs(30)).await.unwrap();
        assert!(!ks.has_kid("k2"));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        let ks = remote_keys(&mount, &remote, Some("k2"), t0 + Duration::from_secs(61)).await.unwrap();
        assert!(ks.has_kid("k2"));
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        // Concurrent misses share one refresh.
        let t1 = t0 + Duration::from_secs(200);
        let futs: Vec<_> = (0..10)
            .map(|i| {
                let remote = remote.clone();
                let mount = mount.clone();
                tokio::spawn(async move { remote_keys(&mount, &remote, Some(&format!("x{i}")), t1).await.map(|_| ()) })
            })
            .collect();
        for f in futs {
            f.await.unwrap().unwrap();
        }
        assert_eq!(hits.load(Ordering::SeqCst), 4);
        forget(&mount);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_old_keys() {
        let (_, public) = ec_pair();
        let doc = Arc::new(Mutex::new(json!({"keys": [ec_jwk(&public, "k1")]})));
        let hits = Arc::new(AtomicUsize::new(0));
        let url = jwks_server(doc.clone(), hits.clone()).await;
        let remote = Remote { jwks_url: url, ca_pem: String::new() };
        let mount = format!("test-{}", uuid::Uuid::new_v4());
        let t0 = Instant::now();
        assert!(remote_keys(&mount, &remote, Some("k1"), t0).await.unwrap().has_kid("k1"));
        *lock(&doc) = json!({"garbage": true});
        let later = t0 + MAX_KEY_AGE + Duration::from_secs(1);
        assert!(remote_keys(&mount, &remote, Some("k1"), later).await.unwrap().has_kid("k1"));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        forget(&mount);
    }

    #[tokio::test]
    async fn fetch_is_bounded() {
        use axum::routing::get;
        let app = axum::Router::new()
            .route("/big", get(|| async { "x".repeat(MAX_DOCUMENT + 10) }))
            .route("/redirect", get(|| async { axum::response::Redirect::temporary("/big") }))
            .route("/status", get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "{}") }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let e = fetch_json(&format!("http://{addr}/big"), "").await.unwrap_err();
        assert!(e.contains("1 MiB"), "{e}");
        let e = fetch_json(&format!("http://{addr}/redirect"), "").await.unwrap_err();
        assert!(e.contains("307"), "{e}");
        let e = fetch_json(&format!("http://{addr}/status"), "").await.unwrap_err();
        assert!(e.contains("500"), "{e}");
        assert!(fetch_json("file:///etc/passwd", "").await.is_err());
        assert!(fetch_json("http://127.0.0.1:1/x", "not a pem").await.is_err());
    }
}

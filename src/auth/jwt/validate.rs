//! Token checks, free of I/O: the compact form, a strict JSON reading of header and claims (no
//! duplicate keys at any depth, SEC-11), the header rules (an allow-listed asymmetric `alg`, no
//! `jku`/`x5u`/`crit`, `kid` only as an opaque string, SEC-10/12), the signature through
//! `jsonwebtoken` with keys typed by family, the time claims as JSON integers (SEC-11), and the
//! role's bindings: issuer, exact audience (SEC-09), subject, bound claims, user claim, claim
//! mappings. Error messages name claims, never the token or a claim's value.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::keys::KeySet;
use super::role::JwtRole;
use crate::base::error::ApiError;

/// Longest token accepted, bytes.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;
/// Longest `kid` accepted, bytes.
const MAX_KID_LEN: usize = 512;
/// Leeway for `exp`, `nbf` and `iat` when the role does not set one, seconds.
pub const DEFAULT_LEEWAY: u64 = 60;
/// Signing algorithms Coffer verifies: asymmetric only (never `none`, never HMAC).
pub const SUPPORTED_ALGS: &[&str] = &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// The algorithm of an exact (case-sensitive) name, if it is one Coffer verifies.
pub fn alg_from_name(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// 400 `error validating token: …`.
pub fn token_err(msg: &str) -> ApiError {
    ApiError::bad_request(format!("error validating token: {msg}"))
}

/// 400 `error validating claims: …`.
pub fn claims_err(msg: &str) -> ApiError {
    ApiError::bad_request(format!("error validating claims: {msg}"))
}

fn malformed() -> ApiError {
    token_err("malformed token")
}

/// A JSON value read strictly: an object with a repeated key is an error at any depth.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom("duplicate key"));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Base64url (no padding) → strict JSON object. `None` for anything else, duplicates included.
fn strict_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice::<Strict>(&bytes).ok()?.0 {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// A token whose form and header passed; the signature is not checked yet.
pub struct Parsed<'a> {
    /// The compact token.
    pub token: &'a str,
    /// The header's algorithm (on the allow-list).
    pub alg: Algorithm,
    /// The header's key id: only ever compared with the `kid` of configured keys.
    pub kid: Option<String>,
    /// The claims, read strictly.
    pub claims: Map<String, Value>,
}

impl fmt::Debug for Parsed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parsed").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// Reads a compact JWS and applies the header and claim-type rules; `allowed` is the mount's
/// algorithm allow-list.
pub fn parse<'a>(token: &'a str, allowed: &[Algorithm]) -> Result<Parsed<'a>, ApiError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(malformed());
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else { return Err(malformed()) };
    let b64url = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(b64url(header) && b64url(payload) && b64url(signature)) {
        return Err(malformed());
    }
    let header = strict_object(header).ok_or_else(malformed)?;
    let alg_name = match header.get("alg") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(token_err("missing or invalid \"alg\" header")),
    };
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(token_err("unsigned tokens (alg \"none\") are not accepted"));
    }
    if alg_name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("hs")) {
        return Err(token_err("symmetric (HMAC) signing algorithms are not accepted"));
    }
    let alg = alg_from_name(alg_name)
        .filter(|a| allowed.contains(a))
        .ok_or_else(|| token_err("the token's signing algorithm is not allowed"))?;
    // Key URLs in the header would let the token choose its own key (RFC 8725 §3.10).
    for p in ["jku", "x5u"] {
        if header.contains_key(p) {
            return Err(token_err(&format!("the \"{p}\" header parameter is not accepted")));
        }
    }
    if header.contains_key("crit") {
        return Err(token_err("critical header extensions are not supported"));
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if k.len() <= MAX_KID_LEN => Some(k.clone()),
        Some(_) => return Err(token_err("invalid \"kid\" header")),
    };
    let claims =
        strict_object(payload).ok_or_else(|| token_err("the claims are not a JSON object without duplicate keys"))?;
    numeric_date(&claims, "exp")?.ok_or_else(|| token_err("missing \"exp\" claim"))?;
    numeric_date(&claims, "nbf")?;
    numeric_date(&claims, "iat")?;
    Ok(Parsed { token, alg, kid, claims })
}

/// A NumericDate claim: absent, or a JSON integer ≥ 0 (not a string, null, float or negative).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, ApiError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(_) => Err(token_err(&format!("invalid \"{name}\" claim: expected a non-negative integer"))),
    }
}

/// Checks the signature against the keys that may have made it: keys of the algorithm's family
/// (and of the `alg` a JWK names) and, for a JWKS, of the token's `kid` when it has one. Runs
/// `jsonwebtoken`'s own `exp`/`nbf` checks as well.
pub fn verify_signature(p: &Parsed<'_>, set: &KeySet, leeway: u64) -> Result<(), ApiError> {
    let mut validation = Validation::new(p.alg);
    validation.leeway = leeway;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let mut tried = false;
    for key in set.candidates(p.alg, p.kid.as_deref()) {
        tried = true;
        match jsonwebtoken::decode::<Value>(p.token, &key.key, &validation) {
            Ok(_) => return Ok(()),
            Err(e) => match e.kind() {
                // These come after a good signature.
                ErrorKind::ExpiredSignature => return Err(token_err("token is expired")),
                ErrorKind::ImmatureSignature => return Err(token_err("token is not valid yet")),
                ErrorKind::InvalidClaimFormat(_) | ErrorKind::MissingRequiredClaim(_) => {
                    return Err(token_err("invalid time claims"))
                }
                _ => continue,
            },
        }
    }
    if tried {
        Err(token_err("error verifying token signature"))
    } else {
        Err(token_err("no known key matches the token's key id and algorithm"))
    }
}

/// Leeway of a role setting: 0 = the default, negative = none.
pub fn leeway(setting: i64) -> u64 {
    match setting {
        0 => DEFAULT_LEEWAY,
        s if s < 0 => 0,
        s => s.unsigned_abs(),
    }
}

/// The time claims against `now` (Unix seconds) with the role's leeways.
pub fn check_times(claims: &Map<String, Value>, role: &JwtRole, now: u64) -> Result<(), ApiError> {
    let exp = numeric_date(claims, "exp")?.ok_or_else(|| token_err("missing \"exp\" claim"))?;
    if exp.saturating_add(leeway(role.expiration_leeway)) < now {
        return Err(token_err("token is expired"));
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > now.saturating_add(leeway(role.not_before_leeway)) {
            return Err(token_err("token is not valid yet"));
        }
    }
    if let Some(iat) = numeric_date(claims, "iat")? {
        if iat > now.saturating_add(leeway(role.clock_skew_leeway)) {
            return Err(token_err("token was issued in the future"));
        }
    }
    if role.max_age > 0 {
        let auth_time = numeric_date(claims, "auth_time")?
            .ok_or_else(|| claims_err("auth_time claim is required when the role sets max_age"))?;
        let limit = role.max_age.unsigned_abs().saturating_add(leeway(role.clock_skew_leeway));
        if now.saturating_sub(auth_time) > limit {
            return Err(claims_err("auth_time is beyond the role's max_age"));
        }
    }
    Ok(())
}

/// A claim by top-level name, or by JSON pointer when the name starts with `/`.
fn claim<'v>(claims: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    if name.starts_with('/') {
        let mut rest = name.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~"));
        let first = rest.next()?;
        let mut v = claims.get(&first)?;
        for seg in rest {
            v = match v {
                Value::Object(m) => m.get(&seg)?,
                Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    } else {
        claims.get(name)
    }
}

/// A scalar claim value as text (strings as they are, numbers and booleans in JSON form).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub use crate::base::glob::glob_match;

/// What a token that passed every check yields.
#[derive(Debug)]
pub struct Checked {
    /// The user claim (the token's display name and identity alias name).
    pub user: String,
    /// Metadata from the role's `claim_mappings`.
    pub meta: Map<String, Value>,
}

/// The role's bindings. `issuer` is the mount's `bound_issuer` (or the discovered issuer).
pub fn check_claims(claims: &Map<String, Value>, role: &JwtRole, issuer: Option<&str>) -> Result<Checked, ApiError> {
    if let Some(want) = issuer.filter(|i| !i.is_empty()) {
        if claims.get("iss").and_then(Value::as_str) != Some(want) {
            return Err(token_err("invalid issuer (iss) claim"));
        }
    }
    // SEC-09: exact match against a non-empty list; a missing, empty or odd-typed `aud` fails.
    let bad_aud = || token_err("invalid audience (aud) claim: audience claim does not match any expected audience");
    let auds: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().map(Value::as_str).collect::<Option<Vec<_>>>().ok_or_else(bad_aud)?,
        _ => return Err(bad_aud()),
    };
    if role.bound_audiences.is_empty() || !auds.iter().any(|a| role.bound_audiences.iter().any(|b| b == a)) {
        return Err(bad_aud());
    }
    if !role.bound_subject.is_empty() && claims.get("sub").and_then(Value::as_str) != Some(role.bound_subject.as_str())
    {
        return Err(token_err("invalid subject (sub) claim"));
    }
    let glob = role.bound_claims_type == "glob";
    for (name, expected) in &role.bound_claims {
        let allowed: Vec<&str> = match expected {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let actual = claim(claims, name).ok_or_else(|| claims_err(&format!("claim {name:?} is missing")))?;
        let values: Vec<String> = match actual {
            Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
            v => scalar_text(v).into_iter().collect(),
        };
        let matched =
            values.iter().any(|v| allowed.iter().any(|want| if glob { glob_match(want, v) } else { want == v }));
        if !matched {
            return Err(claims_err(&format!("claim {name:?} does not match any associated bound claim values")));
        }
    }
    let user_value =
        if role.user_claim_json_pointer { claim(claims, &role.user_claim) } else { claims.get(&role.user_claim) };
    let user = match user_value {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(claims_err(&format!("claim {:?} could not be converted to string", role.user_claim))),
        None => return Err(claims_err(&format!("claim {:?} not found in token", role.user_claim))),
    };
    if !role.groups_claim.is_empty() {
        let ok = match claim(claims, &role.groups_claim) {
            Some(Value::String(_)) => true,
            Some(Value::Array(items)) => items.iter().all(Value::is_string),
            _ => false,
        };
        if !ok {
            return Err(claims_err(&format!(
                "groups claim {:?} is missing or not a list of strings",
                role.groups_claim
            )));
        }
    }
    let mut meta = Map::new();
    for (source, target) in &role.claim_mappings {
        if let Some(v) = claim(claims, source) {
            let text =
                scalar_text(v).ok_or_else(|| claims_err(&format!("error converting claim {source:?} to string")))?;
            meta.insert(target.clone(), Value::String(text));
        }
    }
    Ok(Checked { user, meta })
}

/// Everything after [`parse`] for a token and the keys that may verify it: signature, time
/// claims and the role's bindings.
pub fn finish(
    p: &Parsed<'_>,
    set: &KeySet,
    role: &JwtRole,
    issuer: Option<&str>,
    now: u64,
) -> Result<Checked, ApiError> {
    let lib_leeway = leeway(role.expiration_leeway).max(leeway(role.not_before_leeway));
    verify_signature(p, set, lib_leeway)?;
    check_times(&p.claims, role, now)?;
    check_claims(&p.claims, role, issuer)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::auth::jwt::keys::{self, VerifyKey};
    use crate::base::schedule::{Clock, SystemClock};
    use jsonwebtoken::EncodingKey;
    use serde_json::json;

    /// A 2048-bit RSA key made for these tests only.
    pub const RSA_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDcsM3tIQ7niJlY
F0DVeein64UfjdAaS2ZWEK470ulJNXGieIZ3S5NWy0NHkLrtJVg1rRdOVLwK6bRB
MjRHkprxznEGMcuFwBwgP539t52pZoGpdKLHR3v5rcJdZzyfSDqelQitl2tupUXB
lNDUohQ3eEcPsk7OoS8QNu1pTbtBSD5uWKRRePN7Ov3JQ+uzH2Ozca0hogw2DijS
+sEmTCAOF4T+CCChu2mdErXjOKzrbG9rVMpvljuKhP5ojpKWfJszBnZkDzX0J90M
w79Gx7J0lFWRUy27rlqJQbFv3cObLUgq7hZ/ddlJvq9DuHpXheAIt37cmHpaurRy
D3XjgDGPAgMBAAECggEAapnKtq6/vM5KR/dffV6YJ7iHwsClE3Z1VcBT8RjFT/QN
Uk4GocwzPPsNIh4CdPeTfsX/2nnqpRjTVaSzBRmHV6MBDF10MkSkMV2ZastNUFzv
59Mrp7fbZjTtDGIIMeZZTm2t1fAs2DLkGYhRQUyTGGI0bRwTnhLUoW/uyO1ftL2T
rcHQX/kpwYwGulSu3tEBGW87oMBIq6DxkJHxKpZAzk3K7End6H51COVxguzGPv5i
fIaxkCNnuDSkt1VAVe1opD7vmn1qzGdQRzfVZJPzwQ4H4vaR0JUF23e9Kj/1OPhX
1hNsbxk18c6231Ro+UGaeSSPbngxJXxoRtIXEpVY+QKBgQDttDlEnwgtgI/OIqhU
hpPdWq53kzAUndwiQkQ1He3jVqUlIg5PI8ybDXuCeOFdaqm2+bLgNP9cyTpKyXav
lqWHvIOe0PrZrSdPf3jL7bNJwPh5gTrNrUPpWRtM3WssjuJk1MU222OuaUvhsFyK
2rFhvU/2Y3gXNpPg3tsPsoNWtwKBgQDtrVhv8v4/A0EtkdJEkTkFE1jEH3dzXiro
XnlGgIjgL9ekyVl+7Da14pwmlSunDXhScAejX6W7FU+P/LTZq3fwL+FbnMqnrA7b
Zjl5Xgarvb1CNA215HqapzxKdbjnsLNpXSkmAhEZhK2Wr6HiSNjxehwIuLlllP2Q
wYTW6n7j6QKBgF8iEw1wrIAxhNxWKJJzrfgYU90Nbl/B8hlP9iZgDRZAViXvZFSu
GjQwCC9mm6OcjcHqW3m6HD2RV6AY00RhAWy6uN61+r9lumbpuHm9b1TkQ021t8gb
QSPCAtgXgc46fUcnlKpo0ZM7FyCDSfZUoktgzgDpPGXl9Pc5mejFZCUvAoGAZLYB
NV6nsRe19JNHn9pRaP8rq98RhIcwc0ok5WTtmuFq5N6U151MCYI+XHL1DlI82+Gw
ut96oG2FSyPvlhR8PABt453qmWXk3b7RN8ZJ2VgK7BSWgq6P7RxUBdEgSryrKUha
eUqC6Gc6DxHY7MOleZ0eZ+uuU4bwcvgtS8wNfJECgYAT1JSnv1GnAdQv2ORPvTho
X5rOraraUXEN1ZedJFe54TlMTGBBKQ9zjV8gtoUPLeubOBeniQvh8bWkMhEGlZk1
dtArFqQcWnXJNkgfdBZO1KdM0RmH4JZpnRY3BpVKdtFIe2OOHQQC+94THaD3909S
a1QGNNfBumoFe/lR7M6Gtg==
-----END PRIVATE KEY-----";

    pub fn now() -> u64 {
        u64::try_from(SystemClock.now().timestamp()).unwrap()
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    /// A fresh P-256 key pair: (private PKCS#8 PEM, public SPKI PEM).
    pub fn ec_pair() -> (String, String) {
        let kp = rcgen::KeyPair::generate().unwrap();
        (kp.serialize_pem(), kp.public_key_pem())
    }

    /// Signs raw header and payload JSON text (so tests can send what no encoder would).
    pub fn sign_raw(header: &str, payload: &str, key: &EncodingKey, alg: Algorithm) -> String {
        let msg = format!("{}.{}", b64(header), b64(payload));
        let sig = jsonwebtoken::crypto::sign(msg.as_bytes(), key, alg).unwrap();
        format!("{msg}.{sig}")
    }

    pub fn role() -> JwtRole {
        JwtRole {
            bound_audiences: vec!["A".into()],
            user_claim: "sub".into(),
            bound_claims: json!({"repository": "org/app"}).as_object().cloned().unwrap(),
            claim_mappings: [("repository".to_string(), "repo".to_string())].into_iter().collect(),
            ..JwtRole::default()
        }
    }

    fn claims_with(extra: Value) -> String {
        let mut c = json!({"iss": "https://issuer", "sub": "repo:org/app", "aud": "A", "exp": now() + 300,
                           "iat": now(), "repository": "org/app"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() && k.starts_with('-') {
                c.as_object_mut().unwrap().remove(&k[1..]);
            } else {
                c[k] = v.clone();
            }
        }
        c.to_string()
    }

    struct Fixture {
        enc: EncodingKey,
        set: KeySet,
        public_pem: String,
    }

    fn ec_fixture() -> Fixture {
        let (private, public) = ec_pair();
        let key = keys::from_pem(&public).unwrap();
        Fixture {
            enc: EncodingKey::from_ec_pem(private.as_bytes()).unwrap(),
            set: KeySet { keys: vec![key], by_kid: false },
            public_pem: public,
        }
    }

    fn all_algs() -> Vec<Algorithm> {
        SUPPORTED_ALGS.iter().filter_map(|a| alg_from_name(a)).collect()
    }

    fn run(token: &str, set: &KeySet, role: &JwtRole) -> Result<Checked, ApiError> {
        let p = parse(token, &all_algs())?;
        finish(&p, set, role, Some("https://issuer"), now())
    }

    fn es256(f: &Fixture, payload: &str) -> String {
        sign_raw(r#"{"alg":"ES256","typ":"JWT"}"#, payload, &f.enc, Algorithm::ES256)
    }

    fn assert_rejected(r: Result<Checked, ApiError>, token: &str) {
        let e = r.expect_err("token must be rejected");
        assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        let msg = e.errors.join(" ");
        assert!(token.len() < 8 || !msg.contains(token), "the error must not echo the token: {msg}");
    }

    #[test]
    fn a_good_token_passes_and_maps_claims() {
        let f = ec_fixture();
        let t = es256(&f, &claims_with(json!({})));
        let c = run(&t, &f.set, &role()).unwrap();
        assert_eq!(c.user, "repo:org/app");
        assert_eq!(c.meta["repo"], "org/app");
    }

    #[test]
    fn sec09_audience_must_match_exactly() {
        let f = ec_fixture();
        for aud in [
            json!("B"),
            json!(["B", "C"]),
            json!(""),
            json!("A "),
            json!(" A"),
            json!("a"),
            json!("AA"),
            json!([]),
            json!(null),
            json!(1),
            json!(["A", 1]),
            json!({"A": true}),
        ] {
            let t = es256(&f, &claims_with(json!({ "aud": aud })));
            assert_rejected(run(&t, &f.set, &role()), &t);
        }
        let t = es256(&f, &claims_with(json!({"-aud": null})));
        let e = run(&t, &f.set, &role()).unwrap_err();
        assert!(e.errors[0].contains("audience"), "{e:?}");
        // A list that contains the bound audience passes.
        let t = es256(&f, &claims_with(json!({"aud": ["B", "A"]})));
        assert!(run(&t, &f.set, &role()).is_ok());
        // A role without bound audiences rejects every token, with or without `aud`.
        let mut r = role();
        r.bound_audiences.clear();
        for extra in [json!({}), json!({"-aud": null})] {
            let t = es256(&f, &claims_with(extra));
            assert_rejected(run(&t, &f.set, &r), &t);
        }
    }

    #[test]
    fn sec09_empty_bound_claim_list_denies() {
        let f = ec_fixture();
        let mut r = role();
        r.bound_claims = json!({"repository": []}).as_object().cloned().unwrap();
        let t = es256(&f, &claims_with(json!({})));
        assert_rejected(run(&t, &f.set, &r), &t);
    }

    #[test]
    fn bound_claims_exact_list_and_glob() {
        let f = ec_fixture();
        let t = es256(&f, &claims_with(json!({"repository": "org/app-2"})));
        let e = run(&t, &f.set, &role()).unwrap_err();
        assert_eq!(
            e.errors[0],
            "error validating claims: claim \"repository\" does not match any associated bound claim values"
        );
        let mut r = role();
        r.bound_claims = json!({"repository": ["x/y", "org/app-2"]}).as_object().cloned().unwrap();
        assert!(run(&t, &f.set, &r).is_ok());
        r.bound_claims = json!({"repository": "org/*"}).as_object().cloned().unwrap();
        assert!(run(&t, &f.set, &r).is_err(), "string type never globs");
        r.bound_claims_type = "glob".into();
        assert!(run(&t, &f.set, &r).is_ok());
        r.bound_claims = json!({"repository": "other/*"}).as_object().cloned().unwrap();
        assert!(run(&t, &f.set, &r).is_err());
        // A missing bound claim fails; nested claims are reached by JSON pointer.
        r.bound_claims = json!({"environment": "prod"}).as_object().cloned().unwrap();
        assert!(run(&t, &f.set, &r).is_err());
        r.bound_claims = json!({"/ctx/env": "prod"}).as_object().cloned().unwrap();
        let t = es256(&f, &claims_with(json!({"ctx": {"env": "prod"}})));
        assert!(run(&t, &f.set, &r).is_ok());
    }

    #[test]
    fn globs() {
        assert!(glob_match("org/*", "org/app"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(glob_match("refs/heads/*", "refs/heads/feature/x"));
        assert!(!glob_match("org/*", "evil/org/app"));
        assert!(!glob_match("a*c", "ab"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }

    #[test]
    fn subject_issuer_and_user_claim() {
        let f = ec_fixture();
        let mut r = role();
        r.bound_subject = "repo:org/app".into();
        let t = es256(&f, &claims_with(json!({})));
        assert!(run(&t, &f.set, &r).is_ok());
        let t = es256(&f, &claims_with(json!({"sub": "repo:org/app "})));
        assert_rejected(run(&t, &f.set, &r), &t);
        let t = es256(&f, &claims_with(json!({"iss": "https://evil"})));
        assert_rejected(run(&t, &f.set, &role()), &t);
        let t = es256(&f, &claims_with(json!({"-iss": null})));
        assert_rejected(run(&t, &f.set, &role()), &t);
        let t = es256(&f, &claims_with(json!({"-sub": null})));
        assert_rejected(run(&t, &f.set, &role()), &t);
        let t = es256(&f, &claims_with(json!({"sub": 5})));
        assert_rejected(run(&t, &f.set, &role()), &t);
    }

    #[test]
    fn sec10_alg_none_in_any_case_is_rejected() {
        let f = ec_fixture();
        let payload = claims_with(json!({}));
        for alg in ["none", "None", "nOnE", "NONE"] {
            for sig in ["", "AA"] {
                let t = format!("{}.{}.{sig}", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64(&payload));
                assert_rejected(run(&t, &f.set, &role()), &t);
            }
        }
    }

    #[test]
    fn sec10_hs256_signed_with_public_key_is_rejected() {
        // Both PEM header styles of the RSA public key, the EC public key, with and without a
        // trailing newline: HMAC tokens never verify, whatever the secret.
        let rsa = keys::from_pem(&rsa_public_pem(false)).unwrap();
        let rsa1 = keys::from_pem(&rsa_public_pem(true)).unwrap();
        let f = ec_fixture();
        let set = KeySet { keys: vec![rsa, rsa1, f.set.keys[0].clone()], by_kid: false };
        let payload = claims_with(json!({}));
        let mut secrets = vec![rsa_public_pem(false), rsa_public_pem(true), f.public_pem.clone()];
        secrets.extend(secrets.clone().into_iter().map(|s| format!("{}\n", s.trim_end())));
        for secret in secrets {
            for (alg, name) in [(Algorithm::HS256, "HS256"), (Algorithm::HS384, "HS384"), (Algorithm::HS512, "HS512")] {
                let t = sign_raw(
                    &format!(r#"{{"alg":"{name}"}}"#),
                    &payload,
                    &EncodingKey::from_secret(secret.as_bytes()),
                    alg,
                );
                assert_rejected(run(&t, &set, &role()), &t);
                // Even an allow-list that (wrongly) names HMAC algorithms does not let them in.
                let p = parse(&t, &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);
                assert!(p.is_err());
            }
        }
    }

    #[test]
    fn sec10_keys_are_typed_by_family_and_allow_list() {
        let f = ec_fixture();
        let payload = claims_with(json!({}));
        // An ES256 signature presented as RS256 or ES384 fails.
        let good = es256(&f, &payload);
        let sig = good.rsplit('.').next().unwrap();
        for alg in ["RS256", "PS256", "ES384", "EdDSA"] {
            let t = format!("{}.{}.{sig}", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64(&payload));
            assert_rejected(run(&t, &f.set, &role()), &t);
        }
        // ES256 not on the allow-list.
        let e = parse(&good, &[Algorithm::RS256]).unwrap_err();
        assert!(e.errors[0].contains("not allowed"), "{e:?}");
        // Unknown and lowercase names.
        for alg in ["es256", "ES512", "RSA-OAEP", ""] {
            let t = format!("{}.{}.{sig}", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64(&payload));
            assert!(parse(&t, &all_algs()).is_err(), "{alg}");
        }
        // RS256 with the RSA key works, and the RSA key never verifies ES256.
        let rsa_enc = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let rsa_set = KeySet { keys: vec![keys::from_pem(&rsa_public_pem(false)).unwrap()], by_kid: false };
        for (alg, name) in [(Algorithm::RS256, "RS256"), (Algorithm::PS256, "PS256"), (Algorithm::RS512, "RS512")] {
            let t = sign_raw(&format!(r#"{{"alg":"{name}"}}"#), &payload, &rsa_enc, alg);
            assert!(run(&t, &rsa_set, &role()).is_ok(), "{name}");
        }
        assert_rejected(run(&good, &rsa_set, &role()), &good);
    }

    #[test]
    fn sec11_exp_of_wrong_type_is_rejected() {
        let f = ec_fixture();
        let far = "9999999999";
        for exp in [
            format!("\"{far}\""),
            "null".into(),
            "1e400".into(),
            "-1".into(),
            format!("-{far}"),
            "1.5e9".into(),
            format!("{far}.0"),
            "true".into(),
            "[9999999999]".into(),
            "{}".into(),
        ] {
            let payload = format!(
                r#"{{"sub":"repo:org/app","aud":"A","iss":"https://issuer","repository":"org/app","exp":{exp}}}"#
            );
            let t = es256(&f, &payload);
            assert_rejected(run(&t, &f.set, &role()), &t);
        }
        // exp is required.
        let t = es256(&f, &claims_with(json!({"-exp": null})));
        assert_rejected(run(&t, &f.set, &role()), &t);
        // Expired beyond the leeway fails, within it passes.
        let t = es256(&f, &claims_with(json!({"exp": now() - 120})));
        let e = run(&t, &f.set, &role()).unwrap_err();
        assert!(e.errors[0].contains("expired"), "{e:?}");
        let t = es256(&f, &claims_with(json!({"exp": now() - 30})));
        assert!(run(&t, &f.set, &role()).is_ok());
    }

    #[test]
    fn sec11_nbf_and_iat_of_wrong_type_are_rejected() {
        let f = ec_fixture();
        for (claim, v) in [
            ("nbf", json!("0")),
            ("nbf", json!(null)),
            ("nbf", json!(-5)),
            ("nbf", json!(1.5)),
            ("iat", json!("0")),
            ("iat", json!(-1)),
        ] {
            let t = es256(&f, &claims_with(json!({ claim: v })));
            assert_rejected(run(&t, &f.set, &role()), &t);
        }
        let t = es256(&f, &claims_with(json!({"nbf": now() + 600})));
        assert_rejected(run(&t, &f.set, &role()), &t);
        let t = es256(&f, &claims_with(json!({"iat": now() + 600})));
        assert_rejected(run(&t, &f.set, &role()), &t);
        let t = es256(&f, &claims_with(json!({"nbf": now() + 30, "iat": now() + 30})));
        assert!(run(&t, &f.set, &role()).is_ok());
    }

    #[test]
    fn sec11_duplicate_claims_are_rejected() {
        let f = ec_fixture();
        let exp = now() + 300;
        let base = r#""sub":"repo:org/app","aud":"A","iss":"https://issuer","repository":"org/app""#;
        for payload in [
            format!(r#"{{{base},"exp":1,"exp":{exp}}}"#),
            format!(r#"{{{base},"exp":{exp},"exp":1}}"#),
            format!(r#"{{{base},"exp":{exp},"aud":"B"}}"#),
            format!(r#"{{"aud":"B",{base},"exp":{exp}}}"#),
            format!(r#"{{{base},"exp":{exp},"ctx":{{"a":1,"a":2}}}}"#),
        ] {
            let t = es256(&f, &payload);
            assert_rejected(run(&t, &f.set, &role()), &t);
        }
        // A duplicate header parameter, too.
        let payload = format!(r#"{{{base},"exp":{exp}}}"#);
        let t = sign_raw(r#"{"alg":"ES256","alg":"ES256"}"#, &payload, &f.enc, Algorithm::ES256);
        assert_rejected(run(&t, &f.set, &role()), &t);
        // The same payload without the duplicate passes.
        assert!(run(&es256(&f, &payload), &f.set, &role()).is_ok());
    }

    #[test]
    fn sec12_embedded_jwk_and_jku_are_not_trusted() {
        let f = ec_fixture();
        // The attacker signs with their own key and embeds it (or points to it).
        let (attacker_private, _) = ec_pair();
        let attacker = EncodingKey::from_ec_pem(attacker_private.as_bytes()).unwrap();
        let attacker_kp = rcgen::KeyPair::from_pem(&attacker_private).unwrap();
        let raw = attacker_kp.public_key_raw();
        let (x, y) = (URL_SAFE_NO_PAD.encode(&raw[1..33]), URL_SAFE_NO_PAD.encode(&raw[33..65]));
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
        let payload = claims_with(json!({}));
        let headers = [
            json!({"alg": "ES256", "jwk": jwk}),
            json!({"alg": "ES256", "jku": "https://attacker.example/jwks.json"}),
            json!({"alg": "ES256", "x5u": "https://attacker.example/cert.pem"}),
            json!({"alg": "ES256", "kid": "../../etc/passwd", "jku": "https://attacker.example/jwks.json"}),
        ];
        for h in headers {
            let t = sign_raw(&h.to_string(), &payload, &attacker, Algorithm::ES256);
            assert_rejected(run(&t, &f.set, &role()), &t);
        }
        // jku/x5u are refused even on a token signed by the trusted key.
        for h in [json!({"alg": "ES256", "jku": "https://x"}), json!({"alg": "ES256", "x5u": "https://x"})] {
            let t = sign_raw(&h.to_string(), &payload, &f.enc, Algorithm::ES256);
            assert_rejected(run(&t, &f.set, &role()), &t);
        }
        // An embedded jwk is ignored: a token of the trusted key still verifies against it.
        let t = sign_raw(&json!({"alg": "ES256", "jwk": jwk}).to_string(), &payload, &f.enc, Algorithm::ES256);
        assert!(run(&t, &f.set, &role()).is_ok());
    }

    #[test]
    fn sec12_kid_is_an_opaque_map_key() {
        let (private, public) = ec_pair();
        let enc = EncodingKey::from_ec_pem(private.as_bytes()).unwrap();
        let mut key: VerifyKey = keys::from_pem(&public).unwrap();
        key.kid = Some("k1".into());
        let set = KeySet { keys: vec![key], by_kid: true };
        let payload = claims_with(json!({}));
        let sign = |h: Value| sign_raw(&h.to_string(), &payload, &enc, Algorithm::ES256);
        assert!(run(&sign(json!({"alg": "ES256", "kid": "k1"})), &set, &role()).is_ok());
        assert!(run(&sign(json!({"alg": "ES256"})), &set, &role()).is_ok());
        for kid in [json!("K1"), json!("k1 "), json!("../k1"), json!("k1' OR '1'='1"), json!(1), json!(["k1"])] {
            let t = sign(json!({"alg": "ES256", "kid": kid}));
            assert_rejected(run(&t, &set, &role()), &t);
        }
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let f = ec_fixture();
        let good = es256(&f, &claims_with(json!({})));
        let mut bad = vec![
            String::new(),
            "abc.def.ghi".into(),
            "a.b".into(),
            format!("{good}.x"),
            format!("{good}="),
            format!(" {good}"),
            good.replacen('.', "..", 1),
            "x".repeat(MAX_TOKEN_LEN + 1),
        ];
        // A flipped signature bit.
        let mut chars: Vec<char> = good.chars().collect();
        let last = chars.len() - 5;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        bad.push(chars.into_iter().collect());
        // Claims that are not an object; crit.
        bad.push(es256(&f, "[1,2]"));
        bad.push(sign_raw(r#"{"alg":"ES256","crit":["exp"]}"#, &claims_with(json!({})), &f.enc, Algorithm::ES256));
        for t in bad {
            assert_rejected(run(&t, &f.set, &role()), &t);
        }
    }

    #[test]
    fn p384_and_ed25519_keys_verify_only_their_algorithm() {
        let payload = claims_with(json!({}));
        for (alg_id, alg, name) in [
            (&rcgen::PKCS_ECDSA_P384_SHA384, Algorithm::ES384, "ES384"),
            (&rcgen::PKCS_ED25519, Algorithm::EdDSA, "EdDSA"),
        ] {
            let kp = rcgen::KeyPair::generate_for(alg_id).unwrap();
            let key = keys::from_pem(&kp.public_key_pem()).unwrap();
            let enc = if alg == Algorithm::EdDSA {
                EncodingKey::from_ed_pem(kp.serialize_pem().as_bytes()).unwrap()
            } else {
                EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap()
            };
            let set = KeySet { keys: vec![key], by_kid: false };
            let t = sign_raw(&format!(r#"{{"alg":"{name}"}}"#), &payload, &enc, alg);
            assert!(run(&t, &set, &role()).is_ok(), "{name}");
            let sig = t.rsplit('.').next().unwrap();
            for other in ["ES256", "RS256", "EdDSA", "ES384"].into_iter().filter(|o| *o != name) {
                let forged = format!("{}.{}.{sig}", b64(&format!(r#"{{"alg":"{other}"}}"#)), b64(&payload));
                assert_rejected(run(&forged, &set, &role()), &forged);
            }
        }
        // Non-ASCII alg values are refused without slicing into a character.
        for alg in ["H\u{e9}", "\u{e9}S256", "\u{e9}"] {
            let t = format!("{}.{}.AA", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64(&payload));
            assert!(parse(&t, &all_algs()).is_err());
        }
    }

    #[test]
    fn errors_never_show_claim_values() {
        let f = ec_fixture();
        let t = es256(&f, &claims_with(json!({"aud": "SECRET-AUD", "repository": "SECRET-REPO", "sub": "SECRET-SUB"})));
        let e = run(&t, &f.set, &role()).unwrap_err();
        assert!(!e.errors.join(" ").contains("SECRET"), "{e:?}");
        let mut r = role();
        r.bound_audiences = vec!["SECRET-AUD".into()];
        let e = run(&t, &f.set, &r).unwrap_err();
        assert!(!e.errors.join(" ").contains("SECRET"), "{e:?}");
    }

    #[test]
    fn leeways() {
        assert_eq!(leeway(0), 60);
        assert_eq!(leeway(-1), 0);
        assert_eq!(leeway(10), 10);
        let f = ec_fixture();
        let mut r = role();
        r.expiration_leeway = -1;
        let t = es256(&f, &claims_with(json!({"exp": now() - 5})));
        assert!(run(&t, &f.set, &r).is_err());
        assert!(run(&t, &f.set, &role()).is_ok());
    }

    #[test]
    fn max_age_needs_a_recent_auth_time() {
        let f = ec_fixture();
        let mut r = role();
        r.max_age = 300;
        let t = es256(&f, &claims_with(json!({})));
        assert!(run(&t, &f.set, &r).is_err());
        let t = es256(&f, &claims_with(json!({"auth_time": now() - 10})));
        assert!(run(&t, &f.set, &r).is_ok());
        let t = es256(&f, &claims_with(json!({"auth_time": now() - 1000})));
        assert!(run(&t, &f.set, &r).is_err());
    }

    #[test]
    fn claim_mappings_stringify_scalars_and_refuse_objects() {
        let f = ec_fixture();
        let mut r = role();
        r.claim_mappings =
            [("n".to_string(), "num".to_string()), ("b".to_string(), "flag".to_string())].into_iter().collect();
        let t = es256(&f, &claims_with(json!({"n": 42, "b": true})));
        let c = run(&t, &f.set, &r).unwrap();
        assert_eq!(c.meta["num"], "42");
        assert_eq!(c.meta["flag"], "true");
        let t = es256(&f, &claims_with(json!({"n": {"x": 1}})));
        assert!(run(&t, &f.set, &r).is_err());
    }

    /// The test RSA public key as SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM.
    pub fn rsa_public_pem(pkcs1: bool) -> String {
        if pkcs1 {
            RSA_PUBLIC_PKCS1.to_string()
        } else {
            RSA_PUBLIC_SPKI.to_string()
        }
    }

    const RSA_PUBLIC_SPKI: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3LDN7SEO54iZWBdA1Xno
p+uFH43QGktmVhCuO9LpSTVxoniGd0uTVstDR5C67SVYNa0XTlS8Cum0QTI0R5Ka
8c5xBjHLhcAcID+d/bedqWaBqXSix0d7+a3CXWc8n0g6npUIrZdrbqVFwZTQ1KIU
N3hHD7JOzqEvEDbtaU27QUg+blikUXjzezr9yUPrsx9js3GtIaIMNg4o0vrBJkwg
DheE/gggobtpnRK14zis62xva1TKb5Y7ioT+aI6SlnybMwZ2ZA819CfdDMO/Rsey
dJRVkVMtu65aiUGxb93Dmy1IKu4Wf3XZSb6vQ7h6V4XgCLd+3Jh6Wrq0cg9144Ax
jwIDAQAB
-----END PUBLIC KEY-----";
    const RSA_PUBLIC_PKCS1: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEA3LDN7SEO54iZWBdA1Xnop+uFH43QGktmVhCuO9LpSTVxoniGd0uT
VstDR5C67SVYNa0XTlS8Cum0QTI0R5Ka8c5xBjHLhcAcID+d/bedqWaBqXSix0d7
+a3CXWc8n0g6npUIrZdrbqVFwZTQ1KIUN3hHD7JOzqEvEDbtaU27QUg+blikUXjz
ezr9yUPrsx9js3GtIaIMNg4o0vrBJkwgDheE/gggobtpnRK14zis62xva1TKb5Y7
ioT+aI6SlnybMwZ2ZA819CfdDMO/RseydJRVkVMtu65aiUGxb93Dmy1IKu4Wf3XZ
Sb6vQ7h6V4XgCLd+3Jh6Wrq0cg9144AxjwIDAQAB
-----END RSA PUBLIC KEY-----";
}

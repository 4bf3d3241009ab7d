//! Builds Vault-format audit entries (API-CONTRACT §10): the `auth`, `request` and `response`
//! objects of one request, hashed for one device and serialised straight to bytes (no copies of
//! the request or response data).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use super::hash::Hasher;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::core::mounts::MountEntry;
use crate::core::tokens::TokenEntry;

/// The version string Vault writes as `mount_running_version`.
const RUNNING_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"), "+builtin.coffer");

/// Who made a request, as far as the pipeline got before the entry was written.
#[derive(Clone, Copy, Default)]
pub struct Caller<'a> {
    /// The token entry, once authenticated.
    pub token: Option<&'a TokenEntry>,
    /// The token as sent, for its HMAC (never written raw unless `log_raw`).
    pub secret: Option<&'a str>,
    /// The ACL decision: allowed, and the policies that granted it.
    pub decision: Option<(bool, &'a [String])>,
}

/// The caller's token and accessor as one device writes them (hashed once per request).
pub struct Hashed {
    token: Option<String>,
    accessor: Option<String>,
}

impl Hashed {
    /// Hashes the caller's token and accessor for one device.
    pub fn new(h: &Hasher, caller: &Caller<'_>) -> Hashed {
        Hashed {
            token: caller.secret.map(|s| h.secret(s).into_owned()),
            accessor: caller
                .token
                .filter(|t| !t.row.accessor.is_empty())
                .map(|t| h.accessor(&t.row.accessor).into_owned()),
        }
    }
}

/// Any JSON value with every string at any depth hashed for one device.
struct Data<'a>(&'a Value, &'a Hasher);

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Hashing { v: self.0, h: self.1, measure: false }.serialize(s)
    }
}

/// A value as [`Data`] writes it; when `measure`, each hash is replaced by a placeholder of the
/// same length, so the written size is known without computing a single HMAC.
struct Hashing<'a> {
    v: &'a Value,
    h: &'a Hasher,
    measure: bool,
}

/// As long as `hmac-sha256:` and 64 hex digits.
const HASH_PLACEHOLDER: &str = "hmac-sha256:0000000000000000000000000000000000000000000000000000000000000000";

impl Serialize for Hashing<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let inner = |v| Hashing { v, h: self.h, measure: self.measure };
        match self.v {
            Value::String(_) if self.measure && !self.h.is_raw() => s.serialize_str(HASH_PLACEHOLDER),
            Value::String(x) => s.serialize_str(&self.h.secret(x)),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(&inner(i))?;
                }
                seq.end()
            }
            Value::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, &inner(v))?;
                }
                map.end()
            }
            other => other.serialize(s),
        }
    }
}

/// True when `v`, as one device writes it, takes at most `max` bytes. Stops writing (into
/// nothing) as soon as the budget is spent.
fn fits(v: &Value, h: &Hasher, max: usize) -> bool {
    serde_json::to_writer(&mut Budget(max), &Hashing { v, h, measure: true }).is_ok()
}

/// A writer that only counts down the bytes left, and fails once they run out.
struct Budget(usize);

impl std::io::Write for Budget {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.checked_sub(buf.len()).ok_or(std::io::ErrorKind::WriteZero)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What stands in for data over the entry budget: the HMAC of its compact JSON text and the
/// text's length (`data_hmac`, `data_size`).
#[derive(Serialize)]
struct Oversize {
    data_hmac: String,
    data_size: usize,
}

impl Oversize {
    fn of(v: &impl Serialize, h: &Hasher) -> Oversize {
        let (data_hmac, data_size) = h.hash_json(v);
        Oversize { data_hmac, data_size }
    }
}

/// An object whose listed keys are hashed (tokens) or hashed as accessors; the rest stays.
struct Keyed<'a> {
    v: &'a Value,
    h: &'a Hasher,
    secrets: &'static [&'static str],
    accessors: &'static [&'static str],
}

impl Serialize for Keyed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(m) = self.v.as_object() else {
            return self.v.serialize(s);
        };
        let mut map = s.serialize_map(Some(m.len()))?;
        for (k, v) in m {
            match v.as_str() {
                Some(x) if self.secrets.contains(&k.as_str()) => map.serialize_entry(k, &self.h.secret(x))?,
                Some(x) if self.accessors.contains(&k.as_str()) => map.serialize_entry(k, &self.h.accessor(x))?,
                _ => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
struct Granting<'a> {
    name: &'a str,
    namespace_id: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct PolicyResults<'a> {
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    granting_policies: Option<Vec<Granting<'a>>>,
}

#[derive(Serialize, Default)]
struct AuthObject<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accessor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policies: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_policies: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_results: Option<PolicyResults<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_ttl: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_issue_time: Option<String>,
}

fn to_bytes(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec())
}

/// The `auth` object, serialised.
pub fn auth(hashed: &Hashed, caller: &Caller<'_>) -> Vec<u8> {
    let mut a = AuthObject { client_token: hashed.token.as_deref(), ..AuthObject::default() };
    match caller.token {
        Some(t) => {
            a.accessor = hashed.accessor.as_deref();
            a.display_name = Some(&t.row.display_name);
            a.policies = Some(&t.policies);
            a.token_policies = Some(&t.policies);
            a.policy_results = caller.decision.map(|(allowed, granting)| PolicyResults {
                allowed,
                granting_policies: allowed.then(|| {
                    granting.iter().map(|p| Granting { name: p, namespace_id: "root", kind: "acl" }).collect()
                }),
            });
            if !t.meta.is_empty() {
                a.metadata = Some(Value::Object(t.meta.clone()));
            }
            a.entity_id = t.identity.as_ref().map(|i| i.entity_id());
            a.token_type = Some(&t.row.token_type);
            a.token_ttl = (t.row.ttl > 0).then_some(t.row.ttl);
            a.token_issue_time =
                DateTime::from_timestamp(t.row.creation_time, 0).map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
        None if caller.secret.is_none() => a.token_type = Some("default"),
        None => {}
    }
    to_bytes(&a)
}

#[derive(Serialize, Default)]
struct MountFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_point: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_accessor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_running_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_running_plugin_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mount_class: Option<&'static str>,
}

fn mount_fields(mount: Option<&MountEntry>, plugin: bool) -> MountFields<'_> {
    match mount {
        Some(m) => MountFields {
            mount_point: Some(&m.api_path),
            mount_type: Some(&m.row.kind),
            mount_accessor: Some(&m.row.accessor),
            mount_running_version: (!plugin).then_some(RUNNING_VERSION),
            mount_running_plugin_version: plugin.then_some(RUNNING_VERSION),
            mount_class: Some(if m.row.table_name == "auth" { "auth" } else { "secret" }),
        },
        None => MountFields::default(),
    }
}

#[derive(Serialize)]
struct Namespace {
    id: &'static str,
}

#[derive(Serialize)]
struct RequestObject<'a> {
    id: &'a str,
    operation: &'static str,
    #[serde(flatten)]
    mount: MountFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token_accessor: Option<&'a str>,
    namespace: Namespace,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Data<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrap_ttl: Option<u64>,
}

/// The `request` object, serialised. Data that would take more than `max_data` bytes is
/// replaced by its HMAC and size.
pub fn request(h: &Hasher, hashed: &Hashed, req: &Request, mount: Option<&MountEntry>, max_data: usize) -> Vec<u8> {
    let body = RequestObject {
        id: &req.id,
        operation: req.operation.as_str(),
        mount: mount_fields(mount, false),
        client_token: hashed.token.as_deref(),
        client_token_accessor: hashed.accessor.as_deref(),
        namespace: Namespace { id: "root" },
        path: &req.path,
        data: None,
        remote_address: req.client_addr.map(|a| a.ip().to_string()),
        remote_port: req.client_addr.map(|a| a.port()),
        wrap_ttl: req.wrap_ttl,
    };
    if req.data.is_empty() {
        return to_bytes(&body);
    }
    if !map_fits(&req.data, h, max_data) {
        return to_bytes(&RequestOversize { body, oversize: Oversize::of(&req.data, h) });
    }
    let data = DataMap(&req.data, h);
    to_bytes(&RequestWithData { body, data })
}

/// [`fits`] for a request body.
fn map_fits(m: &serde_json::Map<String, Value>, h: &Hasher, max: usize) -> bool {
    // Braces, quotes, colons and commas: at most 4 bytes per entry besides key and value.
    let mut left = max.saturating_sub(2);
    for (k, v) in m {
        let Some(rest) = left.checked_sub(k.len() + 4) else {
            return false;
        };
        left = rest;
        let mut counted = Budget(left);
        if serde_json::to_writer(&mut counted, &Hashing { v, h, measure: true }).is_err() {
            return false;
        }
        left = counted.0;
    }
    true
}

/// A request body (a JSON object) hashed for one device.
struct DataMap<'a>(&'a serde_json::Map<String, Value>, &'a Hasher);

impl Serialize for DataMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, &Data(v, self.1))?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct RequestWithData<'a> {
    #[serde(flatten)]
    body: RequestObject<'a>,
    data: DataMap<'a>,
}

#[derive(Serialize)]
struct RequestOversize<'a> {
    #[serde(flatten)]
    body: RequestObject<'a>,
    #[serde(flatten)]
    oversize: Oversize,
}

#[derive(Serialize)]
struct ResponseObject<'a> {
    #[serde(flatten)]
    mount: MountFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<Keyed<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Data<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrap_info: Option<Keyed<'a>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    oversize: Option<Oversize>,
}

/// The `response` object of a served (or refused) request, serialised. Data that would take
/// more than `max_data` bytes is replaced by its HMAC and size.
pub fn response(
    h: &Hasher,
    mount: Option<&MountEntry>,
    result: &Result<Response, ApiError>,
    max_data: usize,
) -> Vec<u8> {
    let mut r = ResponseObject {
        mount: mount_fields(mount, true),
        auth: None,
        data: None,
        warnings: None,
        wrap_info: None,
        oversize: None,
    };
    let error;
    match result {
        Ok(Response::Envelope { data, auth, warnings, .. }) => {
            r.auth = auth.as_ref().map(|v| Keyed { v, h, secrets: &["client_token"], accessors: &["accessor"] });
            r.data = data.as_ref().filter(|d| !d.is_null()).map(|d| Data(d, h));
            r.warnings = (!warnings.is_empty()).then_some(warnings.as_slice());
        }
        Ok(Response::Bare { body, .. }) => r.data = Some(Data(body, h)),
        Ok(Response::Wrapped { wrap_info }) => {
            r.wrap_info =
                Some(Keyed { v: wrap_info, h, secrets: &["token"], accessors: &["accessor", "wrapped_accessor"] });
        }
        Ok(Response::NoContent | Response::Status(_) | Response::Text { .. } | Response::Binary { .. }) => {}
        Err(e) => {
            if let Some(msg) = error_text(e) {
                error = json!({ "error": msg });
                r.data = Some(Data(&error, h));
            }
        }
    }
    if let Some(Data(v, _)) = r.data.as_ref().filter(|d| !fits(d.0, h, max_data)) {
        r.oversize = Some(Oversize::of(*v, h));
        r.data = None;
    }
    to_bytes(&r)
}

/// Vault's multierror text for the top-level `error` field, if the error has a message.
pub fn error_text(e: &ApiError) -> Option<String> {
    match e.errors.len() {
        0 => None,
        1 => e.errors.first().map(|m| format!("1 error occurred:\n\t* {m}\n\n")),
        n => Some(format!("{n} errors occurred:\n\t* {}\n\n", e.errors.join("\n\t* "))),
    }
}

/// One entry line body (without `seq`/`prev_hash`), fields in Vault's order:
/// `{"time","type","auth","request",["response"],["error"]}`. `auth`, `request` and `response`
/// are serialised JSON objects.
pub fn line(
    kind: &str,
    time: &DateTime<Utc>,
    auth: &[u8],
    request: &[u8],
    response: Option<&[u8]>,
    error: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + auth.len() + request.len() + response.map_or(0, <[u8]>::len));
    out.extend_from_slice(b"{\"time\":\"");
    out.extend_from_slice(time.to_rfc3339_opts(SecondsFormat::Nanos, true).as_bytes());
    out.extend_from_slice(b"\",\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"auth\":");
    out.extend_from_slice(auth);
    out.extend_from_slice(b",\"request\":");
    out.extend_from_slice(request);
    if let Some(r) = response {
        out.extend_from_slice(b",\"response\":");
        out.extend_from_slice(r);
    }
    if let Some(e) = error {
        out.extend_from_slice(b",\"error\":");
        out.extend_from_slice(&to_bytes(&e));
    }
    out.push(b'}');
    out
}

/// A system event line body: `{"time","type":"event","event":{"kind", …data}}`.
pub fn event(time: &DateTime<Utc>, kind: &str, data: Value) -> Vec<u8> {
    let mut ev = data.as_object().cloned().unwrap_or_default();
    ev.insert("kind".into(), json!(kind));
    to_bytes(&json!({
        "time": time.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "type": "event",
        "event": ev,
    }))
}

/// An alert line body: `{"time","type":"alert","alert":{…}}`. The identity's `accessor` is
/// written as the device writes accessors (hashed unless `hmac_accessor = false`); the rest of an
/// alert holds no secret (`core::alerts::payload`).
pub fn alert(time: &DateTime<Utc>, alert: &Value, h: &Hasher) -> Vec<u8> {
    let mut body = alert.clone();
    if let Some(acc) = body.pointer_mut("/identity/accessor") {
        if let Some(text) = acc.as_str() {
            *acc = json!(h.accessor(text));
        }
    }
    to_bytes(&json!({
        "time": time.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "type": "alert",
        "alert": body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::logical::Operation;
    use crate::base::schedule::{Clock, SystemClock};
    use crate::crypto::Key;

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn strings_at_any_depth_are_hashed_and_other_values_stay() {
        let h = Hasher::new(&Key::from_slice(&[2; 32]).unwrap(), true, false);
        let v = json!({"data": {"pass": "p", "list": ["a", 1]}, "version": 2, "gone": null, "e": ""});
        let out = parse(&to_bytes(&Data(&v, &h)));
        assert_eq!(out["data"]["pass"], json!(h.hash("p")));
        assert_eq!(out["data"]["list"], json!([h.hash("a"), 1]));
        assert_eq!(out["version"], 2);
        assert_eq!(out["gone"], Value::Null);
        assert_eq!(out["e"], json!(h.hash("")));
    }

    #[test]
    fn request_and_response_objects_hash_secrets_and_keep_structure() {
        let h = Hasher::new(&Key::from_slice(&[1; 32]).unwrap(), true, false);
        let mut req = Request::new(Operation::Update, "secret/data/app");
        req.data.insert("data".into(), json!({"pass": "hunter2", "n": 3, "list": ["x", true]}));
        let caller = Caller { secret: Some("s.tok"), ..Default::default() };
        let hashed = Hashed::new(&h, &caller);
        let r = parse(&request(&h, &hashed, &req, None, 1 << 16));
        assert_eq!(r["data"]["data"]["pass"], json!(h.hash("hunter2")));
        assert_eq!(r["data"]["data"]["n"], 3);
        assert_eq!(r["data"]["data"]["list"], json!([h.hash("x"), true]));
        assert_eq!(r["client_token"], json!(h.hash("s.tok")));
        assert_eq!(r["operation"], "update");
        assert_eq!(r["namespace"]["id"], "root");
        let resp = Ok(Response::Envelope {
            status: http::StatusCode::OK,
            data: Some(json!({"keys": ["a"]})),
            warnings: vec![],
            auth: Some(json!({"client_token": "s.new", "accessor": "acc", "policies": ["p"]})),
            repeat_top_level: false,
            lease: None,
        });
        let out_bytes = response(&h, None, &resp, 1 << 16);
        let out = parse(&out_bytes);
        assert_eq!(out["data"]["keys"][0], json!(h.hash("a")));
        assert_eq!(out["auth"]["client_token"], json!(h.hash("s.new")));
        assert_eq!(out["auth"]["accessor"], json!(h.hash("acc")));
        assert_eq!(out["auth"]["policies"][0], "p");
        let req_bytes = request(&h, &hashed, &req, None, 1 << 16);
        let l = line(
            "response",
            &SystemClock.now(),
            &auth(&hashed, &caller),
            &req_bytes,
            Some(&out_bytes),
            Some("e\n\"x\""),
        );
        let text = String::from_utf8(l).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("s.tok") && !text.contains("s.new"));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"], "e\n\"x\"");
        assert!(text.starts_with("{\"time\":\""), "Vault's field order");
    }

    #[test]
    fn data_over_the_budget_becomes_its_hmac_and_size() {
        let h = Hasher::new(&Key::from_slice(&[4; 32]).unwrap(), true, false);
        let mut req = Request::new(Operation::Update, "secret/data/big");
        let list: Vec<Value> = (0..2000).map(|i| json!(format!("s{i}"))).collect();
        req.data.insert("data".into(), json!({ "list": list }));
        let hashed = Hashed::new(&h, &Caller::default());
        let out = request(&h, &hashed, &req, None, 4096);
        assert!(out.len() < 4096, "{}", out.len());
        let r = parse(&out);
        assert!(r.get("data").is_none());
        let text = serde_json::to_string(&req.data).unwrap();
        assert_eq!(r["data_hmac"], json!(h.hash(&text)));
        assert_eq!(r["data_size"], json!(text.len()));
        // Under the budget, nothing changes; the measure counts each hash at its full length.
        let small = request(&h, &hashed, &Request::new(Operation::Update, "x"), None, 4096);
        assert!(parse(&small).get("data_hmac").is_none());
        let one = json!({"a": "b"});
        let written = to_bytes(&Data(&one, &h)).len();
        assert!(fits(&one, &h, written) && !fits(&one, &h, written - 1));
        let resp = Ok(Response::data(json!({ "list": (0..2000).collect::<Vec<_>>() })));
        let r = parse(&response(&h, None, &resp, 1024));
        assert!(r.get("data").is_none() && r["data_hmac"].is_string() && r["data_size"].as_u64() > Some(1024));
    }

    #[test]
    fn alert_lines_hash_the_accessor_as_requests_do() {
        let h = Hasher::new(&Key::from_slice(&[3; 32]).unwrap(), true, false);
        let a = json!({"id": 1, "kind": "denied_burst", "identity": {"accessor": "acc123", "entity_name": "alice"}});
        let line = parse(&alert(&SystemClock.now(), &a, &h));
        assert_eq!(line["type"], "alert");
        assert_eq!(line["alert"]["identity"]["accessor"], json!(h.accessor("acc123")));
        assert_ne!(line["alert"]["identity"]["accessor"], "acc123");
        assert_eq!(line["alert"]["identity"]["entity_name"], "alice");
        let plain = Hasher::new(&Key::from_slice(&[3; 32]).unwrap(), false, false);
        assert_eq!(parse(&alert(&SystemClock.now(), &a, &plain))["alert"]["identity"]["accessor"], "acc123");
        let none = json!({"id": 2, "kind": "sealed"});
        assert_eq!(parse(&alert(&SystemClock.now(), &none, &h))["alert"], none);
    }

    #[test]
    fn errors_use_vaults_multierror_text() {
        assert_eq!(error_text(&ApiError::permission_denied()).unwrap(), "1 error occurred:\n\t* permission denied\n\n");
        assert_eq!(error_text(&ApiError::not_found()), None);
        let h = Hasher::new(&Key::from_slice(&[1; 32]).unwrap(), true, false);
        let out = parse(&response(&h, None, &Err(ApiError::permission_denied()), 1 << 16));
        assert_eq!(out["data"]["error"], json!(h.hash("1 error occurred:\n\t* permission denied\n\n")));
    }
}

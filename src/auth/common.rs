//! What every auth method shares: the `token_*` settings of its roles and users (Vault's
//! "tokenutil" fields), issuing the login token, and (`role_store`) the named roles of jwt, aws
//! and cert.

pub mod role_store;

use std::net::IpAddr;

use http::StatusCode;
use ipnet::IpNet;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::Response;
use crate::base::params;
use crate::base::params::string_list;
use crate::core::engine::Call;
pub use crate::core::tokens::addr_allowed;
use crate::core::tokens::{policy_names, NewToken, DEFAULT_TTL};

/// The token settings a role or user carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenParams {
    /// Policies of issued tokens (`default` is added unless `token_no_default_policy`).
    pub token_policies: Vec<String>,
    /// TTL, seconds; 0 = the mount's default.
    pub token_ttl: i64,
    /// Maximum TTL, seconds; 0 = the mount's maximum.
    pub token_max_ttl: i64,
    /// Period, seconds; 0 = not periodic.
    pub token_period: i64,
    /// Uses allowed; 0 = unlimited.
    pub token_num_uses: i64,
    /// Networks the tokens may be used from.
    pub token_bound_cidrs: Vec<IpNet>,
    /// Do not add the `default` policy.
    pub token_no_default_policy: bool,
}

/// Parses a list of CIDRs (or bare addresses) given as an array or a comma-separated string.
pub fn cidr_list(data: &Map<String, Value>, key: &str) -> Result<Vec<IpNet>, ApiError> {
    string_list(data, key)?
        .iter()
        .map(|c| {
            c.parse::<IpNet>()
                .or_else(|_| c.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| ApiError::bad_request(format!("invalid CIDR in \"{key}\"")))
        })
        .collect()
}

impl TokenParams {
    /// Applies the `token_*` fields present in `data` (and the legacy `policies`, `ttl`, `max_ttl`,
    /// `period` aliases).
    pub fn update(&mut self, data: &Map<String, Value>) -> Result<(), ApiError> {
        let given = |key: &str| data.get(key).is_some_and(|v| !v.is_null());
        for key in ["token_policies", "policies"] {
            if given(key) {
                self.token_policies = policy_names(string_list(data, key)?)?;
            }
        }
        let dur = |k: &str, legacy: &str| -> Result<Option<i64>, ApiError> {
            Ok(params::duration_field(data, k)?.or(params::duration_field(data, legacy)?).map(|v| v as i64))
        };
        if let Some(v) = dur("token_ttl", "ttl")? {
            self.token_ttl = v;
        }
        if let Some(v) = dur("token_max_ttl", "max_ttl")? {
            self.token_max_ttl = v;
        }
        if let Some(v) = dur("token_period", "period")? {
            self.token_period = v;
        }
        if let Some(v) = params::u64_field(data, "token_num_uses")? {
            self.token_num_uses = i64::try_from(v).map_err(|_| ApiError::bad_request("token_num_uses is too large"))?;
        }
        for key in ["token_bound_cidrs", "bound_cidrs"] {
            if given(key) {
                self.token_bound_cidrs = cidr_list(data, key)?;
            }
        }
        if let Some(b) = params::bool_field(data, "token_no_default_policy")? {
            self.token_no_default_policy = b;
        }
        Ok(())
    }

    /// The fields as a role read shows them.
    pub fn to_json(&self) -> Map<String, Value> {
        let v = json!({
            "token_policies": self.token_policies,
            "policies": self.token_policies,
            "token_ttl": self.token_ttl,
            "token_max_ttl": self.token_max_ttl,
            "token_period": self.token_period,
            "token_num_uses": self.token_num_uses,
            "token_bound_cidrs": self.token_bound_cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "token_no_default_policy": self.token_no_default_policy,
            "token_explicit_max_ttl": 0,
            "token_type": "default",
        });
        v.as_object().cloned().unwrap_or_default()
    }
}

/// The mount's `default_lease_ttl` and `max_lease_ttl` (768h when unset).
fn mount_ttls(call: &Call<'_>) -> Result<(i64, i64), ApiError> {
    let cfg = call.mount.config()?;
    let get = |k: &str| cfg.get(k).and_then(Value::as_i64).filter(|v| *v > 0).unwrap_or(DEFAULT_TTL);
    Ok((get("default_lease_ttl"), get("max_lease_ttl")))
}

/// Issues the orphan token of a successful login and answers with Vault's `auth` block.
pub async fn login(
    call: &Call<'_>,
    p: &TokenParams,
    display_name: &str,
    meta: Map<String, Value>,
) -> Result<Response, ApiError> {
    let identity = crate::base::identity::Identity {
        mount_accessor: call.mount.row.accessor.clone(),
        name: display_name.to_string(),
        metadata: meta.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect(),
    };
    let (mount_default, mount_max) = mount_ttls(call)?;
    let max = if p.token_max_ttl > 0 { p.token_max_ttl.min(mount_max) } else { mount_max };
    let ttl = if p.token_period > 0 {
        p.token_period
    } else if p.token_ttl > 0 {
        p.token_ttl.min(max)
    } else {
        mount_default.min(max)
    };
    let mut policies = p.token_policies.clone();
    if !p.token_no_default_policy && !policies.iter().any(|x| x == "default") {
        policies.push("default".into());
    }
    let mount_name = call.mount.row.path.trim_end_matches('/');
    let new = NewToken {
        policies,
        meta,
        display_name: format!("{mount_name}-{display_name}").trim_end_matches('-').to_string(),
        path: format!("auth/{}{}", call.mount.row.path, call.path),
        ttl,
        // Vault shows `explicit_max_ttl 0` on a login token (unless the role sets one) and applies
        // the role's or mount's limit at renewal; Coffer keeps that limit in `max_ttl` (D110).
        explicit_max_ttl: 0,
        max_ttl: if p.token_period > 0 { 0 } else { max },
        period: p.token_period,
        num_uses: p.token_num_uses,
        renewable: true,
        parent: None,
        bound_cidrs: p.token_bound_cidrs.clone(),
        identity: Some(identity),
    };
    let now = call.host.now();
    let (token, entry) = call.host.issue_token(new, now).await?;
    Ok(Response::Envelope {
        status: StatusCode::OK,
        data: None,
        warnings: Vec::new(),
        auth: Some(entry.auth_block(Some(token.expose_secret()), now)),
        repeat_top_level: false,
        lease: None,
    })
}

/// The `token_*` fields of a role or user as OpenBao's read shows them.
pub fn token_fields(p: &TokenParams, token_type: &str) -> Map<String, Value> {
    let mut m = p.to_json();
    m.remove("policies");
    m.insert("token_bound_cidrs".into(), Value::from(show_cidrs(&p.token_bound_cidrs)));
    m.insert("token_strictly_bind_ip".into(), Value::Bool(false));
    m.insert("token_type".into(), Value::from(token_type));
    m
}

/// Reads `token_type`: only service tokens exist in Coffer. Returns the value to store.
pub fn token_type_field(data: &Map<String, Value>, current: &str) -> Result<String, ApiError> {
    match crate::base::params::str_field(data, "token_type")? {
        None => Ok(current.to_string()),
        Some(t @ ("default" | "service" | "default-service")) => Ok(t.to_string()),
        Some("batch" | "default-batch") => Err(ApiError::bad_request("batch tokens are not supported by Coffer")),
        Some(_) => Err(ApiError::bad_request("invalid 'token_type' value")),
    }
}

/// Token metadata key of a cert-login token: the SHA-256 (hex) of the certificate it logged in
/// with. Renewal must present the same certificate (SEC-15).
pub const RENEW_FINGERPRINT: &str = "cert_sha256";

/// The fingerprint a cert-login token records: the SHA-256 (hex) of the leaf certificate's DER.
pub fn cert_fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}

/// SEC-15: a token that records a certificate fingerprint renews only over a connection that
/// presents that same certificate; other tokens are not affected.
pub fn check_renewal(meta: &Map<String, Value>, req: &crate::base::logical::Request) -> Result<(), ApiError> {
    let Some(want) = meta.get(RENEW_FINGERPRINT).and_then(Value::as_str) else { return Ok(()) };
    let Some(leaf) = req.peer_certs.as_ref().and_then(|c| c.first()) else {
        return Err(ApiError::bad_request("no client certificate found"));
    };
    if crate::crypto::ct_eq(cert_fingerprint(leaf).as_bytes(), want.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::bad_request("the client certificate does not match the one used to log in"))
    }
}

/// OpenBao's 500 with a Go multierror text (plugin errors such as `role_id already in use`).
pub fn multierror_500(msg: &str) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("1 error occurred:\n\t* {msg}\n\n"))
}

/// Maps a storage failure to an opaque 500.
pub fn store_err(e: crate::store::StoreError) -> ApiError {
    e.into()
}

/// CIDRs as Vault shows them: a single-host network as the bare address.
pub fn show_cidrs(cidrs: &[IpNet]) -> Vec<String> {
    cidrs
        .iter()
        .map(|c| if c.prefix_len() == c.max_prefix_len() { c.addr().to_string() } else { c.to_string() })
        .collect()
}

/// The name in a `<prefix><name>` path (`role/web`), one segment in its normal form; any other
/// path is 404 and a name not in its normal form 400.
pub fn named<'a>(path: &'a str, prefix: &str, what: &str) -> Result<&'a str, ApiError> {
    let Some(raw) = path.strip_prefix(prefix) else { return Err(ApiError::unsupported_path()) };
    if raw.contains('/') {
        return Err(ApiError::unsupported_path());
    }
    crate::base::names::check(what, raw, crate::base::names::Case::Lower)
}

/// The name an existence check asks about: `<prefix><name>` with the name in its normal form.
pub fn named_for_exists<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let path = path.trim_end_matches('/');
    path.strip_prefix(prefix).filter(|n| crate::base::names::problem(n, crate::base::names::Case::Lower).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;

    #[test]
    fn host_cidrs_show_as_addresses() {
        let nets: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        assert_eq!(show_cidrs(&nets), vec!["127.0.0.1", "10.0.0.0/8"]);
    }

    #[test]
    fn token_fields_look_like_openbao() {
        let p = TokenParams { token_policies: vec!["app".into()], token_ttl: 1200, ..Default::default() };
        let m = token_fields(&p, "default");
        assert!(!m.contains_key("policies"));
        assert_eq!(m["token_strictly_bind_ip"], false);
        assert_eq!(m["token_ttl"], 1200);
        assert_eq!(m["token_type"], "default");
    }

    #[test]
    fn batch_tokens_are_refused() {
        let d = serde_json::json!({"token_type": "batch"}).as_object().cloned().unwrap();
        assert!(token_type_field(&d, "default").is_err());
        let d = serde_json::json!({"token_type": "service"}).as_object().cloned().unwrap();
        assert_eq!(token_type_field(&d, "default").unwrap(), "service");
    }
}

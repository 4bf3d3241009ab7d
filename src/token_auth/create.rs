//! `auth/token/create`, `create-orphan` and `create/<role>`: policy subset rules, orphan rules,
//! TTL resolution; the `root` policy can never be attached.

use chrono::Utc;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::roles::TokenRole;
use crate::engine::Call;
use crate::error::ApiError;
use crate::logical::{Request, Response};
use crate::params;
use crate::policy;
use crate::tokens::{NewToken, DEFAULT_TTL};

/// Reads a list of names given as an array or a comma-separated string.
pub fn string_list(data: &Map<String, Value>, key: &str) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::bad_request(format!("invalid value for \"{key}\": expected a list of strings"));
    match data.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect()),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().map(String::from).ok_or_else(bad)).collect(),
        Some(_) => Err(bad()),
    }
}

/// Normalises policy names, refusing `root` in any spelling (SEC-05).
pub fn policy_names(raw: Vec<String>) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for p in raw {
        if policy::is_root_name(&p) {
            return Err(ApiError::bad_request("the root policy cannot be attached to a token"));
        }
        let n = policy::normalize_name(&p).map_err(ApiError::bad_request)?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

fn display_name(raw: Option<&str>) -> String {
    let cleaned: String = raw
        .unwrap_or("")
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    let cleaned = cleaned.trim_matches('-');
    if cleaned.is_empty() {
        "token".to_string()
    } else {
        format!("token-{cleaned}")
    }
}

fn string_meta(data: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let Some(meta) = params::object_field(data, "meta")? else { return Ok(Map::new()) };
    for (k, v) in meta {
        if !v.is_string() {
            return Err(ApiError::bad_request(format!("meta value of key {k:?} must be a string")));
        }
    }
    Ok(meta.clone())
}

/// Creates a child (or orphan) token of the caller.
pub async fn create(call: &Call<'_>, req: &Request, role_name: Option<&str>) -> Result<Response, ApiError> {
    let d = &req.data;
    let caller = call.token;
    let privileged = caller.is_root() || call.sudo;
    let role = match role_name {
        Some(name) => Some(TokenRole::load(call, name).await?.ok_or_else(|| ApiError::bad_request("unknown role"))?),
        None => None,
    };
    if params::str_field(d, "type")?.is_some_and(|t| t != "service" && t != "default") {
        return Err(ApiError::bad_request("only service tokens are supported"));
    }
    if params::str_field(d, "id")?.is_some_and(|id| !id.is_empty()) && !privileged {
        return Err(ApiError::bad_request("root or sudo privileges required to specify token id"));
    }
    let orphan_path = call.path.trim_end_matches('/') == "create-orphan";
    let no_parent = params::bool_field(d, "no_parent")?.unwrap_or(false);
    let orphan = orphan_path || no_parent || role.as_ref().is_some_and(|r| r.orphan);
    if no_parent && !orphan_path && !role.as_ref().is_some_and(|r| r.orphan) && !privileged {
        return Err(ApiError::bad_request("root or sudo privileges required to create orphan token"));
    }
    let mut policies = policy_names(string_list(d, "policies")?)?;
    if policies.is_empty() {
        // Inherit the caller's policies; `root` is never inherited (only init makes root tokens).
        policies = caller.policies.iter().filter(|p| p.as_str() != "root").cloned().collect();
    }
    let no_default = params::bool_field(d, "no_default_policy")?.unwrap_or(false);
    policies.retain(|p| !(no_default && p == "default"));
    if !no_default && !policies.iter().any(|p| p == "default") {
        policies.push("default".into());
    }
    let requested: Vec<&String> = policies.iter().filter(|p| p.as_str() != "default").collect();
    if let Some(r) = &role {
        r.check_policies(&requested)?;
    } else if !privileged && requested.iter().any(|p| !caller.policies.contains(p)) {
        return Err(ApiError::bad_request("child policies must be subset of parent"));
    }
    let period =
        params::duration_field(d, "period")?.map(|p| p as i64).or(role.as_ref().map(|r| r.token_period)).unwrap_or(0);
    let explicit_max = params::duration_field(d, "explicit_max_ttl")?
        .map(|p| p as i64)
        .or(role.as_ref().map(|r| r.token_explicit_max_ttl))
        .unwrap_or(0);
    let mut ttl = if period > 0 { period } else { params::duration_field(d, "ttl")?.map(|t| t as i64).unwrap_or(0) };
    if ttl == 0 {
        ttl = DEFAULT_TTL;
    }
    if explicit_max > 0 {
        ttl = ttl.min(explicit_max);
    }
    ttl = ttl.min(DEFAULT_TTL.max(period));
    let num_uses = params::u64_field(d, "num_uses")?.unwrap_or(0);
    let renewable = params::bool_field(d, "renewable")?.unwrap_or(true) && role.as_ref().is_none_or(|r| r.renewable);
    let new = NewToken {
        policies,
        meta: string_meta(d)?,
        display_name: display_name(params::str_field(d, "display_name")?),
        path: format!("auth/token/{}", call.path.trim_end_matches('/')),
        ttl,
        explicit_max_ttl: explicit_max,
        period,
        num_uses: i64::try_from(num_uses).map_err(|_| ApiError::bad_request("num_uses is too large"))?,
        renewable,
        parent: if orphan { None } else { Some(caller.row.hash.clone()) },
        bound_cidrs: Vec::new(),
        // A child acts for the same login identity as its parent (orphans start without one).
        identity: if orphan { None } else { caller.identity.clone() },
    };
    let now = Utc::now();
    let (token, entry) = call.core.tokens.create(&call.core.store, new, now).await?;
    Ok(Response::Envelope {
        status: axum::http::StatusCode::OK,
        data: None,
        warnings: Vec::new(),
        auth: Some(entry.auth_block(Some(token.expose_secret()), now)),
        repeat_top_level: false,
        lease: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_and_display_names() {
        let d = json!({"a": "x, y,,z", "b": ["p"]}).as_object().cloned().unwrap();
        assert_eq!(string_list(&d, "a").unwrap(), vec!["x", "y", "z"]);
        assert_eq!(string_list(&d, "b").unwrap(), vec!["p"]);
        assert_eq!(display_name(Some("CI Runner")), "token-ci-runner");
        assert_eq!(display_name(None), "token");
    }

    #[test]
    fn root_is_refused_in_any_spelling() {
        for r in ["root", "ROOT", " root ", "Root"] {
            assert!(policy_names(vec![r.into()]).is_err(), "{r}");
        }
        // Names are checked, never folded (SEC-33): `App` is refused, repeats are dropped.
        assert!(policy_names(vec!["App".into()]).is_err());
        assert_eq!(policy_names(vec!["app".into(), "app".into()]).unwrap(), vec!["app"]);
    }
}

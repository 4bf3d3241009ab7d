//! `auth/token/create`, `create-orphan` and `create/<role>`: policy subset rules, orphan rules,
//! TTL resolution; the `root` policy can never be attached.

use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::roles::TokenRole;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::engine::Call;
use crate::core::tokens::{lesser, policy_names, NewToken, TokenEntry, DEFAULT_TTL};

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
    let Some(meta) = params::map_field(data, "meta")? else { return Ok(Map::new()) };
    for (k, v) in &meta {
        if !v.is_string() {
            return Err(ApiError::bad_request(format!("meta value of key {k:?} must be a string")));
        }
    }
    Ok(meta)
}

/// Creates a child (or orphan) token of the caller. A new token is never less restricted than
/// its creator (SEC-32): a use-limited token creates none, the policies are a subset of the
/// creator's (or within the role's allow-list), `period`, `no_parent` and an `explicit_max_ttl`
/// past the creator's own need sudo, and the creator's `bound_cidrs` carry over.
pub async fn create(call: &Call<'_>, req: &Request, role_name: Option<&str>) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let d = &req.data;
    let caller = call.token;
    // A use-limited token would escape its count through children (Vault's rule). The use this
    // request spent is already counted, so the last one shows as -1.
    if caller.row.num_uses != 0 {
        return Err(ApiError::bad_request("restricted use token cannot generate child tokens"));
    }
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
    let now = core.clock.now();
    let policies = token_policies(d, caller, role.as_ref(), privileged)?;
    let period = lesser(requested_period(d, privileged)?, role.as_ref().map_or(0, |r| r.token_period));
    let explicit_max = explicit_max_ttl(d, caller, role.as_ref(), privileged, now.timestamp())?;
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
    // The creator's network binding carries over to every token it makes, orphans included
    // (stricter than Vault, which drops it for orphans and role tokens).
    let bound_cidrs = caller.bound_cidrs.clone();
    let new = NewToken {
        policies,
        meta: string_meta(d)?,
        display_name: display_name(params::str_field(d, "display_name")?),
        path: format!("auth/token/{}", call.path.trim_end_matches('/')),
        ttl,
        explicit_max_ttl: explicit_max,
        max_ttl: 0,
        period,
        num_uses: i64::try_from(num_uses).map_err(|_| ApiError::bad_request("num_uses is too large"))?,
        renewable,
        parent: if orphan { None } else { Some(caller.row.hash.clone()) },
        bound_cidrs,
        // A child acts for the same login identity as its parent (orphans start without one).
        identity: if orphan { None } else { caller.identity.clone() },
    };
    let (token, entry) = core.tokens.create(&core.store, new, now).await?;
    Ok(Response::Envelope {
        status: http::StatusCode::OK,
        data: None,
        warnings: Vec::new(),
        auth: Some(entry.auth_block(Some(token.expose_secret()), now)),
        repeat_top_level: false,
        lease: None,
    })
}

/// The new token's policies. A role with an allow-list decides on its own (as Vault); otherwise
/// the policies must be a subset of the caller's unless the caller has sudo on the path. A role
/// with only a deny-list still needs the subset (stricter than Vault, see D50).
fn token_policies(
    d: &Map<String, Value>,
    caller: &TokenEntry,
    role: Option<&TokenRole>,
    privileged: bool,
) -> Result<Vec<String>, ApiError> {
    let mut policies = policy_names(params::string_list(d, "policies")?)?;
    let allow_listed = role.is_some_and(TokenRole::has_allow_list);
    if policies.is_empty() {
        policies = match role {
            // As Vault: a role's allow-list is the default set.
            Some(r) if !r.allowed_policies.is_empty() => r.allowed_policies.clone(),
            // Inherit the caller's policies; `root` is never inherited (only init makes root tokens).
            _ => caller.policies.iter().filter(|p| p.as_str() != "root").cloned().collect(),
        };
    }
    let no_default = params::bool_field(d, "no_default_policy")?.unwrap_or(false);
    policies.retain(|p| !(no_default && p == "default"));
    if !no_default && !policies.iter().any(|p| p == "default") {
        policies.push("default".into());
    }
    let requested: Vec<&String> = policies.iter().filter(|p| p.as_str() != "default").collect();
    if let Some(r) = role {
        r.check_policies(&requested)?;
    }
    if !allow_listed && !privileged && requested.iter().any(|p| !caller.policies.contains(p)) {
        return Err(ApiError::bad_request("child policies must be subset of parent"));
    }
    Ok(policies)
}

/// `period` from the request, which needs sudo (a role's period does not, as in Vault).
fn requested_period(d: &Map<String, Value>, privileged: bool) -> Result<i64, ApiError> {
    let period = params::duration_field(d, "period")?.map_or(0, |p| p as i64);
    if period > 0 && !privileged {
        return Err(ApiError::bad_request("root or sudo privileges required to create periodic token"));
    }
    Ok(period)
}

/// The new token's explicit max TTL (seconds, 0 = none). Without sudo it never ends after the
/// caller's own hard limit: a longer request is refused, and no request inherits what is left of
/// the caller's.
fn explicit_max_ttl(
    d: &Map<String, Value>,
    caller: &TokenEntry,
    role: Option<&TokenRole>,
    privileged: bool,
    now: i64,
) -> Result<i64, ApiError> {
    let asked = params::duration_field(d, "explicit_max_ttl")?.map_or(0, |m| i64::try_from(m).unwrap_or(i64::MAX));
    let chosen = lesser(asked, role.map_or(0, |r| r.token_explicit_max_ttl));
    let parent = &caller.row;
    let parent_cap = crate::core::tokens::lifetime_cap(parent);
    if privileged || parent_cap <= 0 {
        return Ok(chosen);
    }
    let left = (parent.creation_time.saturating_add(parent_cap) - now).max(1);
    if asked > left {
        return Err(ApiError::bad_request(
            "root or sudo privileges required to set an explicit_max_ttl beyond the parent token's",
        ));
    }
    Ok(lesser(chosen, left))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_and_display_names() {
        let d = json!({"a": "x, y,,z", "b": ["p"]}).as_object().cloned().unwrap();
        assert_eq!(params::string_list(&d, "a").unwrap(), vec!["x", "y", "z"]);
        assert_eq!(params::string_list(&d, "b").unwrap(), vec!["p"]);
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

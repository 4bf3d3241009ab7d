//! Token roles (`auth/token/roles/<name>`): limits on the policies and lifetimes of tokens made
//! through `auth/token/create/<name>`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::base::error::ApiError;
use crate::base::glob::glob_match;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::base::params::string_list;
use crate::core::engine::Call;
use crate::core::tokens::policy_names;

const KIND: &str = "token/role";

/// A stored token role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenRole {
    /// Policies tokens may get (empty, with no glob either: a subset of the creator's unless the
    /// creator has sudo on `auth/token/create/<role>`).
    pub allowed_policies: Vec<String>,
    /// Policies tokens may never get.
    pub disallowed_policies: Vec<String>,
    /// Globs (`*`) of policies tokens may get.
    #[serde(default)]
    pub allowed_policies_glob: Vec<String>,
    /// Globs (`*`) of policies tokens may never get.
    #[serde(default)]
    pub disallowed_policies_glob: Vec<String>,
    /// Tokens are orphans.
    pub orphan: bool,
    /// Tokens can be renewed.
    pub renewable: bool,
    /// Period, seconds.
    pub token_period: i64,
    /// Explicit max TTL, seconds.
    pub token_explicit_max_ttl: i64,
}

fn quoted(list: &[String]) -> String {
    list.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(" ")
}

impl TokenRole {
    /// Loads a role.
    pub async fn load(call: &Call<'_>, name: &str) -> Result<Option<Self>, ApiError> {
        let raw = call.host.whole_core()?.store.entry_get(KIND, &name.to_lowercase()).await.map_err(ApiError::from)?;
        raw.map(|r| crate::base::stored::parse("token role", &r)).transpose()
    }

    /// Whether the role names the policies its tokens may get (otherwise they must be a subset
    /// of the creator's).
    pub fn has_allow_list(&self) -> bool {
        !self.allowed_policies.is_empty() || !self.allowed_policies_glob.is_empty()
    }

    /// Checks requested policies against the role, with Vault's message.
    pub fn check_policies(&self, requested: &[&String]) -> Result<(), ApiError> {
        let allowed = |p: &String| {
            self.allowed_policies.contains(p) || self.allowed_policies_glob.iter().any(|g| glob_match(g, p))
        };
        let outside = self.has_allow_list() && requested.iter().any(|p| !allowed(p));
        let banned = requested.iter().any(|p| {
            self.disallowed_policies.contains(p) || self.disallowed_policies_glob.iter().any(|g| glob_match(g, p))
        });
        if outside || banned {
            let req: Vec<String> = requested.iter().map(|s| s.to_string()).collect();
            return Err(ApiError::bad_request(format!(
                "token policies ([{}]) must be subset of the role's allowed policies ([{}]) or glob policies ([{}])",
                quoted(&req),
                quoted(&self.allowed_policies),
                quoted(&self.allowed_policies_glob)
            )));
        }
        Ok(())
    }
}

/// `LIST auth/token/roles`.
pub async fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    let keys = call.host.whole_core()?.store.entry_list(KIND, "").await.map_err(ApiError::from)?;
    Response::keys(keys)
}

/// `GET|POST|DELETE auth/token/roles/<name>`.
pub async fn handle(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let name = name.trim().to_lowercase();
    if name.is_empty() || name.contains('/') {
        return Err(ApiError::bad_request("invalid role name"));
    }
    let store = &call.host.whole_core()?.store;
    match req.operation {
        Operation::Read => {
            let r = TokenRole::load(call, &name).await?.ok_or_else(ApiError::not_found)?;
            Ok(Response::data(json!({
                "name": name,
                "allowed_policies": r.allowed_policies,
                "disallowed_policies": r.disallowed_policies,
                "allowed_policies_glob": r.allowed_policies_glob,
                "disallowed_policies_glob": r.disallowed_policies_glob,
                "orphan": r.orphan,
                "renewable": r.renewable,
                "token_period": r.token_period,
                "token_explicit_max_ttl": r.token_explicit_max_ttl,
                "token_type": "service",
                "path_suffix": "",
            })))
        }
        op if op.is_write() => {
            let d = &req.data;
            let mut r =
                TokenRole::load(call, &name).await?.unwrap_or(TokenRole { renewable: true, ..Default::default() });
            if d.contains_key("allowed_policies") {
                r.allowed_policies = policy_names(string_list(d, "allowed_policies")?)?;
            }
            if d.contains_key("disallowed_policies") {
                r.disallowed_policies =
                    string_list(d, "disallowed_policies")?.into_iter().map(|p| p.trim().to_lowercase()).collect();
            }
            for (key, field) in [
                ("allowed_policies_glob", &mut r.allowed_policies_glob),
                ("disallowed_policies_glob", &mut r.disallowed_policies_glob),
            ] {
                if d.get(key).is_some_and(|v| !v.is_null()) {
                    *field = string_list(d, key)?.into_iter().map(|p| p.trim().to_lowercase()).collect();
                }
            }
            if glob_allows_root(&r.allowed_policies_glob) {
                return Err(ApiError::bad_request("the root policy cannot be allowed by a token role"));
            }
            if let Some(b) = params::bool_field(d, "orphan")? {
                r.orphan = b;
            }
            if let Some(b) = params::bool_field(d, "renewable")? {
                r.renewable = b;
            }
            if let Some(p) = params::duration_field(d, "token_period")?.or(params::duration_field(d, "period")?) {
                r.token_period = p as i64;
            }
            if let Some(m) =
                params::duration_field(d, "token_explicit_max_ttl")?.or(params::duration_field(d, "explicit_max_ttl")?)
            {
                r.token_explicit_max_ttl = m as i64;
            }
            let text = serde_json::to_string(&r).map_err(|e| ApiError::internal(&e))?;
            store.entry_put(KIND, &name, &text).await.map_err(ApiError::from)?;
            Ok(Response::NoContent)
        }
        Operation::Delete => {
            store.entry_delete(KIND, &name).await.map_err(ApiError::from)?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// A glob that would let `root` through.
fn glob_allows_root(globs: &[String]) -> bool {
    globs.iter().any(|g| glob_match(g, "root"))
}

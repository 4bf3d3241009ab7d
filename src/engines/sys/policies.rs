//! `sys/policies/acl[/<name>]`, the legacy `sys/policy[/<name>]` (hvac uses it; the text is
//! under `rules`), and `sys/capabilities`, `capabilities-self`, `capabilities-accessor`.

use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::engine::Call;
use crate::core::policy_store::checked_name;
use crate::core::tokens::TokenEntry;

/// `sys/policies/acl/<name>` and `sys/policy/<name>` (`legacy`).
pub async fn policy(call: &Call<'_>, name: &str, req: &Request, legacy: bool) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let (core, store) = (core, &core.store);
    let name = checked_name(name)?;
    if name == crate::core::wrapping::WRAPPING_POLICY
        && (req.operation.is_write() || req.operation == Operation::Delete)
    {
        // As Vault: the policy every wrapping token carries is built in and immutable.
        let verb = if req.operation == Operation::Delete { "delete" } else { "update" };
        return Err(ApiError::bad_request(format!("cannot {verb} \"{name}\" policy")));
    }
    match req.operation {
        Operation::Read => {
            let doc = core.policies.read(store, &name).await?;
            let doc = match doc {
                Some(d) => d,
                None if name == "root" => crate::core::policy_store::StoredPolicy {
                    policy: String::new(),
                    version: 0,
                    modified: String::new(),
                },
                None => return Err(ApiError::not_found()),
            };
            if legacy {
                return Ok(Response::sys_data(json!({"name": name, "rules": doc.policy})));
            }
            Ok(Response::data(json!({
                "name": name,
                "policy": doc.policy,
                "version": doc.version,
                "modified": doc.modified,
                "cas_required": false,
            })))
        }
        op if op.is_write() => {
            let text = params::str_field(&req.data, "policy")?
                .or(params::str_field(&req.data, "rules")?)
                .ok_or_else(|| ApiError::bad_request("'policy' parameter not supplied or empty"))?;
            core.policies.write(store, &name, text).await?;
            Ok(Response::NoContent)
        }
        Operation::Delete => {
            core.policies.delete(store, &name).await?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// `LIST sys/policies/acl` or `GET sys/policy`.
pub async fn list(call: &Call<'_>, legacy: bool) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let names = core.policies.list(&core.store).await?;
    if legacy {
        return Ok(Response::sys_data(json!({"keys": names, "policies": names})));
    }
    Ok(Response::data(json!({ "keys": names })))
}

fn paths(data: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let mut out = crate::base::params::string_list(data, "paths")?;
    if let Some(p) = params::str_field(data, "path")? {
        out.push(p.to_string());
    }
    if out.is_empty() {
        return Err(ApiError::bad_request("missing paths"));
    }
    Ok(out)
}

async fn capabilities_of(call: &Call<'_>, token: &TokenEntry, paths: Vec<String>) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let acl = core.policies.acl_for(&core.store, token).await?;
    let mut data = Map::new();
    for p in &paths {
        let clean = p.trim_start_matches('/');
        let caps = if acl.is_root() { vec!["root"] } else { acl.capabilities(clean).names() };
        data.insert(p.clone(), json!(caps));
    }
    if paths.len() == 1 {
        if let Some(v) = paths.first().and_then(|p| data.get(p)).cloned() {
            data.insert("capabilities".into(), v);
        }
    }
    Ok(Response::sys_data(Value::Object(data)))
}

/// `sys/capabilities` with `token`.
pub async fn capabilities(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let token = params::str_field(&req.data, "token")?.ok_or_else(|| ApiError::bad_request("missing token"))?;
    let core = call.host.whole_core()?;
    let t = core.tokens.find(&core.store, token, core.clock.now()).await?.ok_or_else(ApiError::permission_denied)?;
    capabilities_of(call, &t, paths(&req.data)?).await
}

/// `sys/capabilities-self`.
pub async fn capabilities_self(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    capabilities_of(call, call.token, paths(&req.data)?).await
}

/// `sys/capabilities-accessor` with `accessor`.
pub async fn capabilities_accessor(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let accessor =
        params::str_field(&req.data, "accessor")?.ok_or_else(|| ApiError::bad_request("missing accessor"))?;
    let core = call.host.whole_core()?;
    let t = core
        .tokens
        .find_by_accessor(&core.store, accessor, core.clock.now())
        .await?
        .ok_or_else(|| ApiError::bad_request("invalid accessor"))?;
    capabilities_of(call, &t, paths(&req.data)?).await
}

//! `sys/aws/keys[/<id>]`: make, list, read and delete the access keys of the AWS API. A key is
//! never less restricted than the token that made it, unless that token has sudo here.

use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::aws::keys::{self, AccessKey};
use crate::core::engine::Call;
use crate::core::tokens::{lifetime_cap, policy_names};

/// `sys/aws/keys` (LIST, or POST to make a key).
pub async fn collection(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    match req.operation {
        Operation::List => {
            let ids = keys::list(core).await?;
            let mut info = Map::new();
            for id in &ids {
                if let Some(k) = keys::load(core, id).await? {
                    info.insert(id.clone(), k.info());
                }
            }
            if ids.is_empty() {
                return Err(ApiError::not_found());
            }
            Ok(Response::data(json!({ "keys": ids, "key_info": info })))
        }
        op if op.is_write() => create(call, req).await,
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// `sys/aws/keys/<id>` (GET without the secret, DELETE).
pub async fn one(call: &Call<'_>, id: &str, req: &Request) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    if !keys::well_formed_id(id) {
        return Err(ApiError::bad_request("an access key id is 16 to 128 characters of A-Z, a-z, 0-9 and '_'"));
    }
    match req.operation {
        Operation::Read => match keys::load(core, id).await? {
            Some(k) => Ok(Response::data(k.info())),
            None => Err(ApiError::not_found()),
        },
        Operation::Delete => {
            keys::delete(core, id).await?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// `POST sys/aws/keys {"policies": [...], "ttl": "..."}`.
async fn create(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let d = &req.data;
    for k in d.keys() {
        if !matches!(k.as_str(), "policies" | "ttl") {
            return Err(ApiError::bad_request(format!("unknown field {k:?}: a key takes policies and ttl")));
        }
    }
    let caller = call.token;
    let privileged = caller.is_root() || call.sudo;
    // A use-limited token would escape its count through a key that never runs out.
    if caller.row.num_uses != 0 {
        return Err(ApiError::bad_request("a use-limited token cannot make access keys"));
    }
    let policies = policy_names(params::string_list(d, "policies")?)?;
    if policies.is_empty() {
        return Err(ApiError::bad_request("missing policies: a key needs at least one"));
    }
    if !privileged && policies.iter().any(|p| !caller.policies.contains(p)) {
        return Err(ApiError::bad_request(
            "a key's policies must be a subset of the caller's unless the caller has sudo on sys/aws/keys",
        ));
    }
    if !privileged && !caller.bound_cidrs.is_empty() {
        return Err(ApiError::bad_request("a token bound to CIDRs cannot make access keys without sudo"));
    }
    let now = call.host.now().timestamp();
    let ttl = params::duration_field(d, "ttl")?.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
    if ttl == Some(0) {
        return Err(ApiError::bad_request("ttl must be positive; leave it out for a key that does not expire"));
    }
    let mut expires = ttl.map(|t| now.saturating_add(t));
    // Without sudo a key never outlives the token that made it: not its hard limit, and not its
    // present expiry (a renewal later does not lengthen the key).
    let cap = lifetime_cap(&caller.row);
    let hard = (cap > 0).then(|| caller.row.creation_time.saturating_add(cap));
    let token_end = [hard, caller.row.expire_time].into_iter().flatten().min();
    if let (false, Some(end)) = (privileged, token_end) {
        if expires.is_some_and(|e| e > end) {
            return Err(ApiError::bad_request(
                "root or sudo privileges required to make a key that outlives the calling token",
            ));
        }
        expires = Some(expires.map_or(end, |e| e.min(end)));
    }
    let (id, secret) = keys::generate();
    let key = AccessKey { id, secret, policies, created: now, expires };
    keys::store(core, &key).await?;
    let mut data = key.info();
    if let Value::Object(m) = &mut data {
        m.insert(
            "secret_access_key".into(),
            Value::String(secrecy::ExposeSecret::expose_secret(&key.secret).to_string()),
        );
    }
    Ok(Response::data(data))
}

//! Response wrapping: an answer is stored in the cubbyhole of a fresh single-use token, and the
//! client gets only that token (`wrap_info`). `sys/wrapping/unwrap` hands the answer back once.

use chrono::SecondsFormat;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::logical::Response;
use crate::core::cubbyhole;
use crate::core::tokens::{NewToken, TokenEntry};
use crate::core::Core;

/// The policy every wrapping token carries (unwrap and lookup only).
pub const WRAPPING_POLICY: &str = "response-wrapping";
/// Its text.
pub const WRAPPING_POLICY_TEXT: &str = "path \"sys/wrapping/unwrap\" {\n  capabilities = [\"update\"]\n}\n\
path \"sys/wrapping/lookup\" {\n  capabilities = [\"update\"]\n}\n";
const SLOT: &str = "response";

fn invalid() -> ApiError {
    ApiError::bad_request("wrapping token is not valid or does not exist")
}

/// Stores `content` under a new wrapping token and returns the wrapped answer.
async fn store_wrapped(
    core: &Core,
    creation_path: &str,
    content: Value,
    ttl: u64,
    wrapped_accessor: Option<&str>,
) -> Result<Response, ApiError> {
    let ttl = i64::try_from(ttl.max(1)).map_err(|_| ApiError::bad_request("wrapping TTL is too large"))?;
    let now = core.clock.now();
    let new = NewToken {
        policies: vec![WRAPPING_POLICY.into()],
        display_name: WRAPPING_POLICY.into(),
        path: creation_path.to_string(),
        ttl,
        explicit_max_ttl: ttl,
        num_uses: 1,
        ..Default::default()
    };
    let (token, entry) = core.tokens.create(&core.store, new, now).await?;
    let creation_time = now.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let slot = json!({
        "response": content,
        "creation_path": creation_path,
        "creation_time": creation_time,
        "creation_ttl": ttl,
        "wrapped_accessor": wrapped_accessor,
    });
    cubbyhole::put(core, &entry.row.hash, SLOT, &slot).await?;
    let mut info = json!({
        "token": token.expose_secret(),
        "accessor": entry.row.accessor,
        "ttl": ttl,
        "creation_time": creation_time,
        "creation_path": creation_path,
    });
    if let Some(a) = wrapped_accessor {
        crate::base::json::set(&mut info, "wrapped_accessor", json!(a));
    }
    Ok(Response::Wrapped { wrap_info: info })
}

/// Wraps a successful answer that carries data or auth; anything else passes through.
pub async fn wrap(core: &Core, creation_path: &str, resp: Response, ttl: u64) -> Result<Response, ApiError> {
    let Response::Envelope { status, data, warnings, auth, lease, .. } = &resp else { return Ok(resp) };
    if !status.is_success() || (data.is_none() && auth.is_none()) {
        return Ok(resp);
    }
    let wrapped_accessor = auth.as_ref().and_then(|a| a["accessor"].as_str()).map(str::to_string);
    let mut content = json!({"data": data, "auth": auth, "warnings": warnings});
    if let Some(l) = lease {
        crate::base::json::set(&mut content, "lease_id", json!(l.id));
        crate::base::json::set(&mut content, "lease_duration", json!(l.duration));
        crate::base::json::set(&mut content, "renewable", json!(l.renewable));
    }
    store_wrapped(core, creation_path, content, ttl, wrapped_accessor.as_deref()).await
}

async fn slot_of(core: &Core, wrapping: &TokenEntry) -> Result<Value, ApiError> {
    if !wrapping.policies.iter().any(|p| p == WRAPPING_POLICY) {
        return Err(invalid());
    }
    cubbyhole::get(core, &wrapping.row.hash, SLOT).await?.ok_or_else(invalid)
}

async fn find(core: &Core, token: &str) -> Result<TokenEntry, ApiError> {
    let entry = core.tokens.find(&core.store, token, core.clock.now()).await?.ok_or_else(invalid)?;
    Ok((*entry).clone())
}

/// Returns the wrapped answer once and revokes the wrapping token.
pub async fn unwrap(core: &Core, wrapping: &TokenEntry) -> Result<Response, ApiError> {
    let slot = slot_of(core, wrapping).await?;
    core.tokens.revoke_tree(&core.store, &wrapping.row.hash).await?;
    let r = crate::base::json::field(&slot, "response");
    let warnings = r["warnings"].as_array().map(|w| w.iter().filter_map(|x| x.as_str().map(String::from)).collect());
    Ok(Response::Envelope {
        status: http::StatusCode::OK,
        data: Some(r["data"].clone()).filter(|d| !d.is_null()),
        warnings: warnings.unwrap_or_default(),
        auth: Some(r["auth"].clone()).filter(|a| !a.is_null()),
        repeat_top_level: false,
        lease: r["lease_id"].as_str().filter(|id| !id.is_empty()).map(|id| crate::base::logical::LeaseInfo {
            id: id.to_string(),
            duration: r["lease_duration"].as_i64().unwrap_or(0),
            renewable: r["renewable"].as_bool().unwrap_or(false),
        }),
    })
}

/// `sys/wrapping/unwrap` with a wrapping token given in the body.
pub async fn unwrap_token(core: &Core, token: &str) -> Result<Response, ApiError> {
    unwrap(core, &find(core, token).await?).await
}

/// `sys/wrapping/lookup`: creation facts, without using the token up.
pub async fn lookup(core: &Core, token: &str) -> Result<Response, ApiError> {
    let slot = slot_of(core, &find(core, token).await?).await?;
    Ok(Response::data(json!({
        "creation_path": crate::base::json::field(&slot, "creation_path"),
        "creation_time": crate::base::json::field(&slot, "creation_time"),
        "creation_ttl": crate::base::json::field(&slot, "creation_ttl"),
    })))
}

/// `sys/wrapping/rewrap`: the same answer under a new wrapping token; the old one dies.
pub async fn rewrap(core: &Core, token: &str) -> Result<Response, ApiError> {
    let old = find(core, token).await?;
    let slot = slot_of(core, &old).await?;
    let ttl = crate::base::json::field(&slot, "creation_ttl").as_u64().unwrap_or(300);
    let path = crate::base::json::field(&slot, "creation_path").as_str().unwrap_or("sys/wrapping/wrap").to_string();
    core.tokens.revoke_tree(&core.store, &old.row.hash).await?;
    store_wrapped(
        core,
        &path,
        crate::base::json::field(&slot, "response").clone(),
        ttl,
        crate::base::json::field(&slot, "wrapped_accessor").as_str(),
    )
    .await
}

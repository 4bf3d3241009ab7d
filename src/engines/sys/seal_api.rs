//! `sys/init`, `sys/unseal`, `sys/seal`, `sys/seal-status`, `sys/health`, `sys/leader`.

use base64::Engine as _;
use http::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::Core;

/// The version reported by status endpoints.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn cluster_fields(core: &Core, body: &mut Value) {
    if core.barrier.is_sealed() {
        return;
    }
    if let (Some(c), Some(obj)) = (core.cluster.load().as_ref().as_ref(), body.as_object_mut()) {
        obj.insert("cluster_name".into(), json!(c.name));
        obj.insert("cluster_id".into(), json!(c.id));
    }
}

/// `GET sys/seal-status` (also the body of `sys/unseal`).
pub async fn seal_status(core: &Core) -> Result<Response, ApiError> {
    let config = core.seal.config(core).await?;
    let (progress, nonce) = core.seal.progress().await;
    let sealed = core.barrier.is_sealed();
    let (t, n) = config.as_ref().map(|c| (c.secret_threshold, c.secret_shares)).unwrap_or((0, 0));
    let mut body = json!({
        "type": core.seal.kind_name(),
        "initialized": config.is_some(),
        "sealed": sealed,
        "t": t,
        "n": n,
        "progress": if sealed { progress } else { 0 },
        "nonce": if sealed { nonce } else { String::new() },
        "version": VERSION,
        "build_date": "",
        "migration": false,
        "recovery_seal": false,
        "storage_type": core.storage_type,
    });
    cluster_fields(core, &mut body);
    Ok(Response::bare(body))
}

/// `GET|HEAD sys/health` with Vault's status codes and overrides.
pub async fn health(core: &Core, req: &Request) -> Result<Response, ApiError> {
    let initialized = core.seal.config(core).await?.is_some();
    let sealed = core.barrier.is_sealed();
    let code = |key: &str, default: u16| -> Result<StatusCode, ApiError> {
        let invalid = || ApiError::bad_request(format!("invalid value for \"{key}\""));
        let c = match params::u64_field(&req.data, key)? {
            Some(c) => u16::try_from(c).map_err(|_| invalid())?,
            None => default,
        };
        StatusCode::from_u16(c).map_err(|_| invalid())
    };
    // With several nodes, the ones without the singleton lease serve everything but the
    // background work: Vault's performance standby (473 unless `perfstandbyok`).
    let perf_standby = initialized && !sealed && super::ha::ha_enabled(core) && !super::ha::is_leader(core);
    let perf_ok = params::bool_field(&req.data, "perfstandbyok")?.unwrap_or(false);
    let status = if !initialized {
        code("uninitcode", 501)?
    } else if sealed {
        code("sealedcode", 503)?
    } else if perf_standby && !perf_ok {
        code("performancestandbycode", 473)?
    } else {
        code("activecode", 200)?
    };
    let mut body = json!({
        "initialized": initialized,
        "sealed": sealed,
        "standby": !initialized || perf_standby,
        "performance_standby": perf_standby,
        "replication_performance_mode": if initialized { "disabled" } else { "unknown" },
        "replication_dr_mode": if initialized { "disabled" } else { "unknown" },
        "server_time_utc": core.clock.now().timestamp(),
        "version": VERSION,
    });
    cluster_fields(core, &mut body);
    Ok(Response::Bare { status, body })
}

/// `GET sys/init`.
pub async fn init_status(core: &Core) -> Result<Response, ApiError> {
    Ok(Response::bare(json!({"initialized": core.seal.config(core).await?.is_some()})))
}

/// `PUT sys/init`.
pub async fn init(core: &Core, req: &Request) -> Result<Response, ApiError> {
    let shares = params::u64_field(&req.data, "secret_shares")?.unwrap_or(0);
    let threshold = params::u64_field(&req.data, "secret_threshold")?.unwrap_or(0);
    for unsupported in ["pgp_keys", "root_token_pgp_key"] {
        if req.data.get(unsupported).is_some_and(|v| !v.is_null() && v != &json!([]) && v != &json!("")) {
            return Err(ApiError::bad_request(format!("{unsupported} is not supported")));
        }
    }
    let out = core.seal.init(core, shares, threshold).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Response::bare(json!({
        "keys": out.shares.iter().map(hex::encode).collect::<Vec<_>>(),
        "keys_base64": out.shares.iter().map(|s| b64.encode(&s[..])).collect::<Vec<_>>(),
        "root_token": out.root_token.expose_secret(),
    })))
}

/// `PUT sys/unseal` with `key` or `reset`.
pub async fn unseal(core: &Core, req: &Request) -> Result<Response, ApiError> {
    if params::bool_field(&req.data, "reset")?.unwrap_or(false) {
        core.seal.reset().await;
    } else {
        let key = params::str_field(&req.data, "key")?.ok_or_else(|| {
            ApiError::bad_request("'key' must be specified in request body as JSON, or 'reset' set to true")
        })?;
        core.seal.submit_share(core, key).await?;
    }
    seal_status(core).await
}

/// `PUT sys/seal` (the pipeline requires sudo).
pub async fn seal(core: &Core) -> Result<Response, ApiError> {
    core.seal_now().await;
    Ok(Response::NoContent)
}

//! `sys/key-status`, `sys/rotate` (new KEK term) and the background re-wrap of old DEKs.

use chrono::SecondsFormat;
use serde_json::json;

use crate::base::error::ApiError;
use crate::base::logical::Response;
use crate::core::Core;

/// `GET sys/key-status`.
pub fn status(core: &Core) -> Result<Response, ApiError> {
    let keys = core.barrier.keys().map_err(|_| ApiError::sealed())?;
    let term = keys.keyring.active();
    Ok(Response::sys_data(json!({
        "term": term.number,
        "install_time": term.installed.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "encryptions": core.barrier.encryptions(),
    })))
}

/// `PUT sys/rotate`: adds a KEK term, then re-wraps older DEKs in the background.
pub async fn rotate(core: &Core) -> Result<Response, ApiError> {
    let term = core.seal.rotate(core).await?;
    crate::crypto::keyring::crash::crash_point("before-first-write");
    core.changes.changed(crate::store::bus::Topic::Keyring);
    core.audit.event("key_rotation", json!({ "term": term }));
    core.rotated.notify_one();
    Ok(Response::NoContent)
}

/// `GET sys/rotate/config`: automatic rotation is not configured.
pub fn rotate_config() -> Result<Response, ApiError> {
    Ok(Response::sys_data(json!({"enabled": false, "interval": 0, "max_operations": 0})))
}

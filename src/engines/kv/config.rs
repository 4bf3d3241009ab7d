//! `kv/config`: engine-wide `max_versions`, `cas_required`, `delete_version_after`.

use serde_json::json;

use super::store_err;
use crate::base::duration;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::engine::Call;

/// `GET <mount>/config`.
pub async fn read(call: &Call<'_>) -> Result<Response, ApiError> {
    let c = call.host.storage().kv_config_get().await.map_err(store_err)?;
    Ok(Response::data(json!({
        "cas_required": c.cas_required,
        "delete_version_after": duration::format(c.delete_version_after as u64),
        "max_versions": c.max_versions,
        "metadata_cas_required": false,
    })))
}

/// `POST <mount>/config`: only the fields given change.
pub async fn write(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let store = call.host.storage();
    let mut c = store.kv_config_get().await.map_err(store_err)?;
    if let Some(m) = params::u64_field(&req.data, "max_versions")? {
        c.max_versions = i64::try_from(m).map_err(|_| ApiError::bad_request("max_versions is too large"))?;
    }
    if let Some(b) = params::bool_field(&req.data, "cas_required")? {
        c.cas_required = b;
    }
    if let Some(d) = params::duration_field(&req.data, "delete_version_after")? {
        c.delete_version_after =
            i64::try_from(d).map_err(|_| ApiError::bad_request("delete_version_after is too large"))?;
    }
    store.kv_config_put(&c).await.map_err(store_err)?;
    Ok(Response::NoContent)
}

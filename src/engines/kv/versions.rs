//! Soft delete, undelete and destroy of KV v2 versions.

use super::{check_key, store_err, timestamp};
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::engine::Call;

fn versions(req: &Request) -> Result<Vec<i64>, ApiError> {
    let v = params::int_list_field(&req.data, "versions")?;
    if v.is_empty() {
        return Err(ApiError::bad_request("no version number provided"));
    }
    Ok(v)
}

/// `DELETE <mount>/data/<path>`: soft-deletes the current version.
pub async fn delete_latest(call: &Call<'_>, key: &str) -> Result<Response, ApiError> {
    check_key(key)?;
    let store = call.host.storage();
    if let Some(meta) = store.kv_metadata_get(key).await.map_err(store_err)? {
        if meta.current_version > 0 {
            let now = timestamp(call.host.now());
            store.kv_set_deletion(key, &[meta.current_version], Some(&now)).await.map_err(store_err)?;
        }
    }
    Ok(Response::NoContent)
}

/// `POST <mount>/delete/<path>` with `versions`.
pub async fn delete(call: &Call<'_>, key: &str, req: &Request) -> Result<Response, ApiError> {
    check_key(key)?;
    let v = versions(req)?;
    let now = timestamp(call.host.now());
    call.host.storage().kv_set_deletion(key, &v, Some(&now)).await.map_err(store_err)?;
    Ok(Response::NoContent)
}

/// `POST <mount>/undelete/<path>` with `versions`.
pub async fn undelete(call: &Call<'_>, key: &str, req: &Request) -> Result<Response, ApiError> {
    check_key(key)?;
    let v = versions(req)?;
    call.host.storage().kv_set_deletion(key, &v, None).await.map_err(store_err)?;
    Ok(Response::NoContent)
}

/// `POST <mount>/destroy/<path>` with `versions`: the ciphertexts are removed for good.
pub async fn destroy(call: &Call<'_>, key: &str, req: &Request) -> Result<Response, ApiError> {
    check_key(key)?;
    let v = versions(req)?;
    call.host.storage().kv_destroy(key, &v).await.map_err(store_err)?;
    Ok(Response::NoContent)
}

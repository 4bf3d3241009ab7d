//! `sys/storage/raft/snapshot` (GET: take one; POST: restore one of this cluster) and
//! `sys/storage/raft/snapshot-force` (POST: restore any cluster's), Vault's paths, all sudo.

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::core::Core;

/// The restore path.
pub const RESTORE: &str = "sys/storage/raft/snapshot";
/// The forced restore path.
pub const RESTORE_FORCE: &str = "sys/storage/raft/snapshot-force";

/// Serves `path` (`storage/raft/snapshot` or `storage/raft/snapshot-force`).
pub async fn route(core: &Core, path: &str, req: Request) -> Result<Response, ApiError> {
    let force = path.ends_with("-force");
    match req.operation {
        Operation::Read if !force => {
            Ok(Response::Binary { content_type: "application/gzip", body: crate::core::snapshot::take(core).await? })
        }
        Operation::Update => {
            let body = req.raw.filter(|b| !b.is_empty()).ok_or_else(|| {
                ApiError::bad_request("the request body must be a snapshot (as `coffer operator snapshot save` writes)")
            })?;
            let max = core.snapshots.load().max_size;
            if force {
                crate::core::snapshot::restore_force(core, body, max).await?;
            } else {
                crate::core::snapshot::restore(core, body, max).await?;
            }
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

//! Lease-count quotas: a cap on the leases of one role (a `creds` path such as
//! `database/creds/readonly`, or every role when the path is empty) and on those one token holds.
//! A new lease past a cap is refused with 429.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Mutex, MutexGuard};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::Core;

/// Storage kind of quota entries.
const KIND: &str = "lease_quota";

/// Check-then-insert runs one at a time on this node while any quota applies, so concurrent
/// requests cannot both take the last slot. (Nodes sharing a database may overshoot by the
/// requests that race on different nodes.)
static ADMISSION: LazyLock<Mutex<()>> = LazyLock::new(|| Mutex::new(()));

/// One quota as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Quota {
    /// Its name.
    pub name: String,
    /// The role path it covers; empty for every role.
    pub path: String,
    /// Most leases of the role at once (0: no cap).
    pub max_leases: i64,
    /// Most leases of the role one token holds at once (0: no cap).
    pub max_leases_per_token: i64,
}

impl Quota {
    fn covers(&self, role: &str) -> bool {
        self.path.is_empty() || self.path == role
    }
}

fn exceeded() -> ApiError {
    ApiError::new(http::StatusCode::TOO_MANY_REQUESTS, "lease count quota exceeded")
}

async fn all(core: &Core) -> Result<Vec<Quota>, ApiError> {
    let mut out = Vec::new();
    for name in core.store.entry_list(KIND, "").await? {
        if let Some(text) = core.store.entry_get(KIND, &name).await? {
            out.push(crate::base::stored::parse("lease count quota", &text)?);
        }
    }
    Ok(out)
}

/// Refuses a new lease of `role` for `token` when a quota is full. The returned guard is held
/// until the lease is stored.
pub async fn admit(core: &Core, role: &str, token: Option<&[u8]>) -> Result<Option<MutexGuard<'static, ()>>, ApiError> {
    let quotas: Vec<Quota> = all(core).await?.into_iter().filter(|q| q.covers(role)).collect();
    if quotas.is_empty() {
        return Ok(None);
    }
    let guard = ADMISSION.lock().await;
    for q in &quotas {
        let scope = (!q.path.is_empty()).then_some(role);
        if q.max_leases > 0 {
            let n = match scope {
                Some(r) => core.store.secret_lease_count_role(r).await?,
                None => core.store.secret_lease_counts().await?.0,
            };
            if n >= q.max_leases {
                return Err(exceeded());
            }
        }
        if let (true, Some(t)) = (q.max_leases_per_token > 0, token) {
            if core.store.secret_lease_count_token(t, scope).await? >= q.max_leases_per_token {
                return Err(exceeded());
            }
        }
    }
    Ok(Some(guard))
}

fn count_field(req: &Request, key: &str) -> Result<i64, ApiError> {
    let n = params::u64_field(&req.data, key)?.unwrap_or(0);
    i64::try_from(n).map_err(|_| ApiError::bad_request(format!("{key} is too large")))
}

/// `sys/quotas/lease-count/<name>`: write, read, delete.
pub async fn endpoint(core: &Core, name: &str, req: &Request) -> Result<Response, ApiError> {
    let name = crate::base::names::check("quota name", name, crate::base::names::Case::Exact)?;
    match req.operation {
        Operation::Read => {
            let text = core.store.entry_get(KIND, name).await?.ok_or_else(ApiError::not_found)?;
            let q: Quota = crate::base::stored::parse("lease count quota", &text)?;
            Ok(Response::data(json!({
                "name": q.name,
                "path": q.path,
                "type": "lease-count",
                "max_leases": q.max_leases,
                "max_leases_per_token": q.max_leases_per_token,
            })))
        }
        Operation::Delete => {
            core.store.entry_delete(KIND, name).await?;
            Ok(Response::NoContent)
        }
        op if op.is_write() => {
            let path = params::str_field(&req.data, "path")?.unwrap_or("").trim_matches('/').to_string();
            let q = Quota {
                name: name.to_string(),
                path,
                max_leases: count_field(req, "max_leases")?,
                max_leases_per_token: count_field(req, "max_leases_per_token")?,
            };
            if q.max_leases == 0 && q.max_leases_per_token == 0 {
                return Err(ApiError::bad_request("set max_leases, max_leases_per_token or both"));
            }
            let text = serde_json::to_string(&q).map_err(|e| ApiError::internal(&e))?;
            core.store.entry_put(KIND, name, &text).await?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// `LIST sys/quotas/lease-count`.
pub async fn list(core: &Core) -> Result<Response, ApiError> {
    let keys = core.store.entry_list(KIND, "").await?;
    if keys.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Response::data(json!({ "keys": keys })))
}

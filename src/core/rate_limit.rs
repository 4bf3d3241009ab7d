//! Rate-limit quotas (`sys/quotas/rate-limit/<name>`), as Vault's: `rate` requests per
//! `interval` from one client address on this node, on every path under the quota's `path`
//! (empty: the whole API), with an optional `block_interval`. Checked at the HTTP edge, before
//! the token or the body; the most specific quota wins. Stored like other configuration, loaded
//! at unseal, and reloaded when another node changes them.

mod windows;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::Core;
use crate::store::SharedStore;

/// Storage kind of quota entries.
const KIND: &str = "rate_limit_quota";

/// Paths no quota applies to (Vault's default `rate_limit_exempt_paths`, as far as Coffer has
/// them): health and seal status must answer, and unsealing must work, whatever the load.
const EXEMPT: &[&str] =
    &["sys/health", "sys/seal-status", "sys/unseal", "sys/generate-root/attempt", "sys/generate-root/update"];

/// One quota as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Quota {
    /// Its name.
    pub name: String,
    /// Where it applies: empty for everywhere, `mount/` for a mount, a full path, or a path
    /// prefix ending in `*`.
    pub path: String,
    /// Requests allowed per interval.
    pub rate: f64,
    /// The interval, in seconds.
    pub interval: u64,
    /// How long a client that went over is refused, in seconds (0: until the interval ends).
    pub block_interval: u64,
}

impl Quota {
    /// How specifically this quota covers `path` (longer is more specific); `None` if not.
    fn covers(&self, path: &str) -> Option<usize> {
        let p = self.path.as_str();
        let hit = if p.is_empty() {
            true
        } else if let Some(prefix) = p.strip_suffix('*') {
            path.starts_with(prefix)
        } else if p.ends_with('/') {
            path.starts_with(p) || path == p.trim_end_matches('/')
        } else {
            path.trim_end_matches('/') == p
        };
        hit.then_some(p.len())
    }

    /// Requests allowed per interval (at least one).
    #[allow(clippy::cast_possible_truncation)] // the saturating float-to-integer `as` is meant
    fn allowed(&self) -> u64 {
        // `rate` is positive and finite; the cast saturates.
        (self.rate.floor() as u64).max(1)
    }
}

/// The quotas in force on this node and the per-client windows.
#[derive(Default)]
pub struct RateLimits {
    quotas: ArcSwap<Vec<Arc<Quota>>>,
    windows: windows::Windows,
}

/// 429 with Vault's text and `Retry-After`.
fn exceeded(path: &str, retry_after: Duration) -> ApiError {
    let mut e =
        ApiError::new(http::StatusCode::TOO_MANY_REQUESTS, format!("request path {path:?}: rate limit quota exceeded"));
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    e.retry_after = Some(u32::try_from(secs.max(1)).unwrap_or(u32::MAX));
    e
}

impl RateLimits {
    /// Counts a request to `path` from `client`; 429 when the client is over the quota.
    pub fn check(&self, path: &str, client: Option<IpAddr>) -> Result<(), ApiError> {
        let quotas = self.quotas.load();
        if quotas.is_empty() || EXEMPT.contains(&path.trim_end_matches('/')) {
            return Ok(());
        }
        let Some(client) = client else {
            return Ok(());
        };
        let Some(q) = quotas.iter().filter_map(|q| q.covers(path).map(|n| (n, q))).max_by_key(|(n, _)| *n).map(|x| x.1)
        else {
            return Ok(());
        };
        let interval = Duration::from_secs(q.interval.max(1));
        let block = Duration::from_secs(q.block_interval);
        self.windows.count(&q.name, client, q.allowed(), interval, block).map_err(|wait| exceeded(path, wait))
    }

    /// Loads the stored quotas (at unseal, and when another node changed them).
    pub async fn load(&self, store: &SharedStore) -> Result<(), ApiError> {
        let mut out = Vec::new();
        for name in store.entry_list(KIND, "").await? {
            if let Some(text) = store.entry_get(KIND, &name).await? {
                out.push(Arc::new(crate::base::stored::parse::<Quota>("rate limit quota", &text)?));
            }
        }
        self.quotas.store(Arc::new(out));
        self.windows.clear();
        Ok(())
    }

    /// Forgets everything (at seal).
    pub fn clear(&self) {
        self.quotas.store(Arc::new(Vec::new()));
        self.windows.clear();
    }
}

/// A duration field in seconds (`"1s"`, `"2m"` or a number), or `default` when absent.
fn seconds(req: &Request, key: &str, default: u64) -> Result<u64, ApiError> {
    Ok(params::duration_field(&req.data, key)?.unwrap_or(default))
}

/// `rate`: a positive number, given as a number or a numeric string.
fn rate_field(req: &Request) -> Result<Option<f64>, ApiError> {
    let bad = || ApiError::bad_request("invalid rate: the rate must be a positive number");
    let rate = match req.data.get("rate") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    rate.filter(|r| r.is_finite() && *r > 0.0).map(Some).ok_or_else(bad)
}

/// The stored form of a quota's `path`: a mount given without its trailing slash gets it, and a
/// path must lie under a mount.
fn quota_path(core: &Core, raw: &str) -> Result<String, ApiError> {
    let p = raw.trim_start_matches('/');
    if p.is_empty() {
        return Ok(String::new());
    }
    let table = core.mounts.load_full();
    match table.route(p.trim_end_matches('*')) {
        Some((mount, "")) => Ok(mount.api_path.clone()),
        Some(_) => Ok(p.to_string()),
        None => Err(ApiError::bad_request(format!("invalid mount path {p:?}"))),
    }
}

/// `sys/quotas/rate-limit/<name>`: write, read, delete.
pub async fn endpoint(core: &Core, name: &str, req: &Request) -> Result<Response, ApiError> {
    let name = crate::base::names::check("quota name", name, crate::base::names::Case::Exact)?;
    match req.operation {
        Operation::Read => {
            let text = core.store.entry_get(KIND, name).await?.ok_or_else(ApiError::not_found)?;
            let q: Quota = crate::base::stored::parse("rate limit quota", &text)?;
            Ok(Response::data(json!({
                "name": q.name,
                "path": q.path,
                "type": "rate-limit",
                "rate": q.rate,
                "interval": q.interval,
                "block_interval": q.block_interval,
                "role": "",
                "inheritable": q.path.is_empty(),
            })))
        }
        Operation::Delete => {
            core.store.entry_delete(KIND, name).await?;
            changed(core).await
        }
        op if op.is_write() => {
            let existing: Option<Quota> = match core.store.entry_get(KIND, name).await? {
                Some(text) => Some(crate::base::stored::parse("rate limit quota", &text)?),
                None => None,
            };
            let rate = rate_field(req)?
                .or(existing.as_ref().map(|q| q.rate))
                .ok_or_else(|| ApiError::bad_request("invalid rate: the rate must be a positive number"))?;
            let path = match params::str_field(&req.data, "path")? {
                Some(p) => quota_path(core, p)?,
                None => existing.as_ref().map(|q| q.path.clone()).unwrap_or_default(),
            };
            let q = Quota {
                name: name.to_string(),
                path,
                rate,
                interval: seconds(req, "interval", existing.as_ref().map_or(1, |q| q.interval))?.max(1),
                block_interval: seconds(req, "block_interval", existing.as_ref().map_or(0, |q| q.block_interval))?,
            };
            let text = serde_json::to_string(&q).map_err(|e| ApiError::internal(&e))?;
            core.store.entry_put(KIND, name, &text).await?;
            changed(core).await
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// Reloads this node's quotas and tells the other nodes.
async fn changed(core: &Core) -> Result<Response, ApiError> {
    core.rate_limits.load(&core.store).await?;
    core.changes.changed(crate::store::bus::Topic::Quotas);
    Ok(Response::NoContent)
}

/// `LIST sys/quotas/rate-limit`.
pub async fn list(core: &Core) -> Result<Response, ApiError> {
    let keys = core.store.entry_list(KIND, "").await?;
    if keys.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Response::data(json!({ "keys": keys })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(path: &str) -> Quota {
        Quota { name: "q".into(), path: path.into(), rate: 1.5, interval: 1, block_interval: 0 }
    }

    #[test]
    fn paths_match_globally_by_mount_exactly_and_by_glob() {
        assert_eq!(quota("").covers("secret/data/a"), Some(0));
        assert_eq!(quota("secret/").covers("secret/data/a"), Some(7));
        assert_eq!(quota("secret/").covers("secret"), Some(7));
        assert_eq!(quota("secret/").covers("secretive/x"), None);
        assert_eq!(quota("secret/data/a").covers("secret/data/a"), Some(13));
        assert_eq!(quota("secret/data/a").covers("secret/data/ab"), None);
        assert_eq!(quota("secret/data/a*").covers("secret/data/ab"), Some(14));
        assert_eq!(quota("").allowed(), 1);
    }

    #[test]
    fn the_most_specific_quota_wins_and_exempt_paths_are_free() {
        let limits = RateLimits::default();
        let mut global = quota("");
        global.rate = 100.0;
        let mut narrow = quota("secret/");
        narrow.name = "narrow".into();
        narrow.rate = 1.0;
        narrow.interval = 3600;
        limits.quotas.store(Arc::new(vec![Arc::new(global), Arc::new(narrow)]));
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        assert!(limits.check("secret/data/a", ip).is_ok());
        let e = limits.check("secret/data/a", ip).unwrap_err();
        assert_eq!(e.status.as_u16(), 429);
        assert_eq!(e.errors, vec!["request path \"secret/data/a\": rate limit quota exceeded".to_string()]);
        assert!(e.retry_after.is_some_and(|s| s > 0));
        assert!(limits.check("secret/data/a", Some(IpAddr::from([10, 0, 0, 2]))).is_ok(), "per client");
        assert!(limits.check("sys/mounts", ip).is_ok(), "the global quota is separate");
        for _ in 0..10 {
            assert!(limits.check("sys/health", ip).is_ok());
        }
    }
}

//! The system backend (`sys/`): the unauthenticated seal endpoints, and the authenticated ones
//! (mounts, key rotation, rekey, CLI discovery) as an engine.

mod alerts_api;
mod audit_api;
mod aws_keys;
mod bootstrap_api;
mod explain;
mod generate_root_api;
mod ha;
mod keys;
mod leases_api;
mod metrics_api;
mod mounts;
mod outbound_api;
mod password_policies;
mod policies;
mod rekey_api;
mod seal_api;
mod search;
mod snapshot_api;

use async_trait::async_trait;

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::engine::{Call, Engine};
use crate::core::Core;

/// True for the `sys/` endpoints served without a token (see [`unauthenticated`]); the HTTP edge
/// caps their bodies instead of checking a token before reading them.
pub fn is_unauthenticated(path: &str, op: Operation) -> bool {
    let path = path.trim_end_matches('/');
    matches!(path, "sys/health" | "sys/seal-status" | "sys/leader" | "sys/init" | "sys/unseal")
        || (path == "sys/wrapping/lookup" && op.is_write())
}

/// True for the requests whose body is a snapshot to restore (read as bytes, not as JSON, up to
/// `[snapshot] max_size`).
pub fn takes_snapshot(path: &str, op: Operation) -> bool {
    op.is_write() && matches!(path, snapshot_api::RESTORE | snapshot_api::RESTORE_FORCE)
}

/// True for every request served without a token: [`is_unauthenticated`], `sys/metrics` when
/// `[telemetry] unauthenticated_metrics_access` is on, and the generate-root endpoints when
/// `[seal] generate_root` is on.
pub fn served_without_token(core: &Core, path: &str, op: Operation) -> bool {
    is_unauthenticated(path, op) || metrics_api::is_open(core, path, op) || generate_root_api::is_open(core, path)
}

/// Answers the endpoints that work without a token and while sealed; `None` for everything else.
pub async fn unauthenticated(core: &Core, req: &Request) -> Option<Result<Response, ApiError>> {
    let path = req.path.trim_end_matches('/');
    let op = req.operation;
    if metrics_api::is_open(core, path, op) {
        return Some(metrics_api::read(core, req).await);
    }
    if let Some(answer) = generate_root_api::route(core, req).await {
        return Some(answer);
    }
    if !is_unauthenticated(path, op) {
        return None;
    }
    let write = op.is_write();
    Some(match path {
        "sys/health" if op == Operation::Read => seal_api::health(core, req).await,
        "sys/seal-status" if op == Operation::Read => seal_api::seal_status(core).await,
        "sys/leader" if op == Operation::Read => ha::leader(core).await,
        "sys/init" if op == Operation::Read => seal_api::init_status(core).await,
        "sys/init" if write => seal_api::init(core, req).await,
        "sys/unseal" if write => seal_api::unseal(core, req).await,
        "sys/wrapping/lookup" if write => match params::str_field(&req.data, "token") {
            _ if core.barrier.is_sealed() => Err(ApiError::sealed()),
            Ok(Some(t)) => crate::core::wrapping::lookup(core, t).await,
            Ok(None) => Err(ApiError::bad_request("missing token")),
            Err(e) => Err(e),
        },
        "sys/health" | "sys/seal-status" | "sys/leader" | "sys/init" | "sys/unseal" => {
            Err(ApiError { errors: Vec::new(), ..ApiError::unsupported_operation() })
        }
        _ => return None,
    })
}

/// The authenticated part of `sys/`.
pub struct System;

#[async_trait]
impl Engine for System {
    async fn before_auth(&self, core: &Core, req: &Request) -> Option<Result<Response, ApiError>> {
        unauthenticated(core, req).await
    }

    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError> {
        let core = call.host.whole_core()?;
        let path = call.path.trim_end_matches('/');
        let op = req.operation;
        let write = op.is_write();
        match path {
            "seal" if write => seal_api::seal(core).await,
            "policies/acl" if op == Operation::List => policies::list(&call, false).await,
            "policies/password" => password_policies::list(core, op).await,
            "policy" if op == Operation::Read || op == Operation::List => policies::list(&call, true).await,
            "policies/explain" if write => explain::explain(&call, &req).await,
            "policies/explain" => Err(ApiError::unsupported_operation()),
            "capabilities" if write => policies::capabilities(&call, &req).await,
            "capabilities-self" if write => policies::capabilities_self(&call, &req).await,
            "capabilities-accessor" if write => policies::capabilities_accessor(&call, &req).await,
            "mounts" if op == Operation::Read => mounts::list(core, "mounts"),
            "auth" if op == Operation::Read => mounts::list(core, "auth"),
            "config/outbound" => outbound_api::handle(core, &req).await,
            "key-status" if op == Operation::Read => keys::status(core),
            "bootstrap" if op == Operation::Read => bootstrap_api::status(core).await,
            "bootstrap/plan" if write => bootstrap_api::plan(core, &call, &req).await,
            "search" if write => search::search(&call, &req.data).await,
            "audit" if op == Operation::Read => audit_api::list(core),
            "metrics" if op == Operation::Read => metrics_api::read(core, &req).await,
            "ha-status" if op == Operation::Read => ha::status(core).await,
            "storage/raft/snapshot" | "storage/raft/snapshot-force" => snapshot_api::route(core, path, req).await,
            "rotate" | "rotate/keyring" if write => keys::rotate(core).await,
            "rotate/config" | "rotate/keyring/config" if op == Operation::Read => keys::rotate_config(),
            "wrapping/wrap" if write => match req.wrap_ttl {
                Some(_) => Ok(Response::data(serde_json::Value::Object(req.data))),
                None => Err(ApiError::bad_request("endpoint requires response wrapping to be used")),
            },
            "wrapping/unwrap" if write => match params::str_field(&req.data, "token")? {
                Some(t) => crate::core::wrapping::unwrap_token(core, t).await,
                None => crate::core::wrapping::unwrap(core, call.token).await,
            },
            "wrapping/rewrap" if write => {
                let t = params::str_field(&req.data, "token")?.ok_or_else(|| ApiError::bad_request("missing token"))?;
                crate::core::wrapping::rewrap(core, t).await
            }
            _ => {
                if let Some(rest) = path.strip_prefix("leases/") {
                    if let Some(r) = leases_api::route(&call, rest, &req).await {
                        return r;
                    }
                    Err(ApiError::unsupported_path())
                } else if path == "quotas/rate-limit" && op == Operation::List {
                    crate::core::rate_limit::list(core).await
                } else if let Some(name) = path.strip_prefix("quotas/rate-limit/") {
                    crate::core::rate_limit::endpoint(core, name, &req).await
                } else if path == "quotas/lease-count" || path.starts_with("quotas/lease-count/") {
                    let rest = path.trim_start_matches("quotas/lease-count").trim_start_matches('/');
                    leases_api::quotas(&call, rest, &req).await
                } else if let Some(rest) = path.strip_prefix("audit/") {
                    audit_api::device(core, rest, &req).await
                } else if let Some(name) = path.strip_prefix("audit-hash/") {
                    audit_api::hash(core, name, &req)
                } else if let Some(p) = path.strip_prefix("mounts/") {
                    mounts::mount_path(core, "mounts", p, &req).await
                } else if let Some(p) = path.strip_prefix("auth/") {
                    mounts::mount_path(core, "auth", p, &req).await
                } else if let Some(name) = path.strip_prefix("policies/acl/") {
                    policies::policy(&call, name, &req, false).await
                } else if let Some(rest) = path.strip_prefix("policies/password/") {
                    password_policies::handle(core, rest, &req).await
                } else if let Some(name) = path.strip_prefix("policy/") {
                    policies::policy(&call, name, &req, true).await
                } else if path == "alerts" || path.starts_with("alerts/") {
                    alerts_api::route(core, path, &req).await
                } else if path == "aws/keys" {
                    aws_keys::collection(&call, &req).await
                } else if let Some(id) = path.strip_prefix("aws/keys/") {
                    aws_keys::one(&call, id, &req).await
                } else if let Some(rest) = path.strip_prefix("rekey/") {
                    rekey_api::route(core, rekey_api::Api::Rekey, rest, &req).await
                } else if let Some(rest) = path.strip_prefix("rotate/root/") {
                    rekey_api::route(core, rekey_api::Api::RotateRoot, rest, &req).await
                } else if let Some(p) = path.strip_prefix("internal/ui/mounts/") {
                    mounts::ui_mount(core, p, op)
                } else {
                    Err(ApiError::unsupported_path())
                }
            }
        }
    }

    /// Explaining one's own decisions needs only a valid token; anything else is decided on
    /// `sys/policies/explain` itself (`update` and `sudo`).
    fn policy_checks(&self, _mount: &str, path: &str, req: &Request) -> Option<Vec<(String, Operation)>> {
        let own = path.trim_end_matches('/') == "policies/explain" && req.operation.is_write() && explain::is_own(req);
        own.then(Vec::new)
    }

    async fn exists(&self, call: Call<'_>, _req: &Request) -> Result<bool, ApiError> {
        let path = call.path.trim_end_matches('/');
        if let Some(name) = path.strip_prefix("alerts/rules/") {
            return alerts_api::exists(call.host.whole_core()?, name).await;
        }
        match path.strip_prefix("policies/acl/").or_else(|| path.strip_prefix("policy/")) {
            Some(name) => {
                let name = crate::core::policy_store::checked_name(name)?;
                let core = call.host.whole_core()?;
                Ok(core.policies.read(&core.store, &name).await?.is_some())
            }
            None => Ok(true),
        }
    }
}

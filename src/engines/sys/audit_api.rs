//! `sys/audit` (list, enable, disable), `sys/audit/<name>/public-key` and `sys/audit-hash/<name>`.

use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::audit::chain;
use crate::core::Core;

/// `GET sys/audit`.
pub fn list(core: &Core) -> Result<Response, ApiError> {
    Ok(Response::sys_data(core.audit.list()))
}

/// `sys/audit/<name>` and `sys/audit/<name>/public-key`.
pub async fn device(core: &Core, rest: &str, req: &Request) -> Result<Response, ApiError> {
    if let Some(name) = rest.strip_suffix("/public-key") {
        if req.operation != Operation::Read {
            return Err(ApiError::unsupported_operation());
        }
        let d =
            core.audit.device(name).ok_or_else(|| ApiError::bad_request(format!("unknown audit device {name:?}")))?;
        return Ok(Response::data(json!({
            "algorithm": "ed25519",
            "public_key": chain::public_key_base64(&d.public_key),
            "public_key_pem": chain::public_key_pem(&d.public_key),
            "key_id": chain::key_id(&d.public_key),
        })));
    }
    match req.operation {
        Operation::Create | Operation::Update => {
            let kind = params::str_field(&req.data, "type")?.unwrap_or_default();
            let description = params::str_field(&req.data, "description")?.unwrap_or_default();
            let options = params::map_field(&req.data, "options")?.unwrap_or_default();
            if params::bool_field(&req.data, "local")?.unwrap_or(false) {
                return Err(ApiError::bad_request("local audit devices need replication, which Coffer does not have"));
            }
            core.audit.enable(&core.store, &core.barrier, rest, kind, description, options).await?;
            core.changes.changed(crate::store::bus::Topic::Audit);
            Ok(Response::NoContent)
        }
        Operation::Delete => {
            core.audit.disable(&core.store, rest).await?;
            core.changes.changed(crate::store::bus::Topic::Audit);
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// `POST sys/audit-hash/<name>` `{"input": …}` → `{"hash": "hmac-sha256:…"}`.
pub fn hash(core: &Core, name: &str, req: &Request) -> Result<Response, ApiError> {
    if !req.operation.is_write() {
        return Err(ApiError::unsupported_operation());
    }
    let input = params::str_field(&req.data, "input")?.ok_or_else(|| ApiError::bad_request("missing input"))?;
    let d = core.audit.device(name).ok_or_else(|| ApiError::bad_request(format!("unknown audit device {name:?}")))?;
    Ok(Response::sys_data(json!({ "hash": Value::String(d.hasher.hash(input)) })))
}

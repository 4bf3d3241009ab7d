//! `sys/mounts`, `sys/mounts/<path>[/tune]`, `sys/auth` (list) and `sys/internal/ui/mounts/<path>`.

use chrono::SecondsFormat;
use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::Core;
use crate::store::MountRow;

/// `GET sys/mounts` or `GET sys/auth`: path → entry, in `data` and at the top level.
pub fn list(core: &Core, table: &str) -> Result<Response, ApiError> {
    let mut out = Map::new();
    for e in core.mounts.load().of_table(table) {
        out.insert(e.row.path.clone(), e.describe()?);
    }
    Ok(Response::sys_data(Value::Object(out)))
}

const RESERVED: &[&str] = &["sys/", "auth/", "cubbyhole/", "identity/"];

/// `sys/mounts/<path>` and `sys/mounts/<path>/tune`.
pub async fn mount_path(core: &Core, table_name: &str, rest: &str, req: &Request) -> Result<Response, ApiError> {
    let (path, tune) = match rest.strip_suffix("/tune") {
        Some(p) => (p, true),
        None => (rest, false),
    };
    let table = core.mounts.load_full();
    let path = match crate::base::names::mount_path(path) {
        Ok(p) => p,
        // A mount made before mount paths were checked (D59) stays reachable under its exact path,
        // to read, tune or disable it; no new mount gets such a path.
        Err(e) => {
            let exact = format!("{}/", path.strip_suffix('/').unwrap_or(path));
            let old = table.of_table(table_name).into_iter().any(|m| m.row.path == exact);
            if !old || (req.operation.is_write() && !tune) {
                return Err(e);
            }
            exact
        }
    };
    let existing = table.of_table(table_name).into_iter().find(|e| e.row.path == path);
    match (req.operation, tune) {
        (Operation::Read, false) => existing
            .ok_or_else(|| ApiError::bad_request(format!("no matching mount at \"{path}\"")))?
            .describe()
            .map(Response::sys_data),
        (Operation::Read, true) => {
            let e = existing.ok_or_else(|| ApiError::bad_request(format!("no mount at \"{path}\"")))?;
            let d = e.describe()?;
            let cfg = crate::base::json::field(&d, "config");
            let ttl = |k: &str| match cfg[k].as_u64() {
                Some(0) | None => json!(2_764_800),
                Some(v) => json!(v),
            };
            Ok(Response::sys_data(json!({
                "default_lease_ttl": ttl("default_lease_ttl"),
                "max_lease_ttl": ttl("max_lease_ttl"),
                "force_no_cache": cfg["force_no_cache"],
                "description": crate::base::json::field(&d, "description"),
                "options": crate::base::json::field(&d, "options"),
            })))
        }
        (op, true) if op.is_write() => {
            let e = existing.ok_or_else(|| ApiError::bad_request(format!("no mount at \"{path}\"")))?;
            let mut row = e.row.clone();
            if let Some(d) = params::str_field(&req.data, "description")? {
                row.description = d.to_string();
            }
            row.config = merge_config(e.config()?, &req.data)?;
            if let Some(opts) = params::map_field(&req.data, "options")? {
                let mut current = e.options()?;
                for (k, v) in opts {
                    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    if k == "version" {
                        // The version is stored in one form, a string (`"2"`); `2` and `"2"` both
                        // keep it, anything else would change the engine under the mount.
                        match current.get("version") {
                            Some(c) if text(c) != text(&v) => {
                                return Err(ApiError::bad_request(
                                    "changing the KV version of a mount is not supported",
                                ))
                            }
                            Some(_) => {}
                            None => {
                                current.insert(k, Value::String(text(&v)));
                            }
                        }
                        continue;
                    }
                    current.insert(k, v);
                }
                row.options = Value::Object(current).to_string();
            }
            core.retune(&row).await?;
            Ok(Response::NoContent)
        }
        (op, false) if op.is_write() => enable(core, table_name, &path, req).await,
        (Operation::Delete, false) => {
            if (table_name == "mounts" && RESERVED.contains(&path.as_str()))
                || (table_name == "auth" && path == "token/")
            {
                return Err(ApiError::bad_request(format!("cannot unmount \"{path}\"")));
            }
            if let Some(e) = existing {
                // As Vault: the mount's leases are revoked first; if one cannot be, the mount stays.
                crate::core::leases::revoke_prefix(core, &e.api_path, false).await.map_err(|err| {
                    ApiError::bad_request(format!(
                        "failed to revoke the leases of {}: {}",
                        e.api_path,
                        err.errors.join("; ")
                    ))
                })?;
                core.unmount(&e.row.id).await?;
            }
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

fn merge_config(mut cfg: Map<String, Value>, data: &Map<String, Value>) -> Result<String, ApiError> {
    let nested = params::map_field(data, "config")?;
    let source = nested.as_ref().unwrap_or(data);
    for key in ["default_lease_ttl", "max_lease_ttl"] {
        if let Some(secs) = params::duration_field(source, key)? {
            cfg.insert(key.into(), json!(secs));
        }
    }
    if let Some(b) = params::bool_field(source, "force_no_cache")? {
        cfg.insert("force_no_cache".into(), json!(b));
    }
    Ok(Value::Object(cfg).to_string())
}

async fn enable(core: &Core, table_name: &str, path: &str, req: &Request) -> Result<Response, ApiError> {
    if table_name == "mounts" && RESERVED.iter().any(|r| path.starts_with(r)) {
        return Err(ApiError::bad_request(format!("cannot mount under reserved path \"{path}\"")));
    }
    let kind = params::str_field(&req.data, "type")?.ok_or_else(|| ApiError::bad_request("missing \"type\""))?;
    let mut options: Map<String, Value> = params::map_field(&req.data, "options")?.unwrap_or_default();
    let kind = match kind {
        "kv-v2" => {
            options.insert("version".into(), json!("2"));
            "kv"
        }
        "kv" => {
            let v = options.get("version").map(|v| match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => String::new(),
            });
            match v.as_deref() {
                Some("2") => options.insert("version".into(), json!("2")),
                Some("1") | Some("") | None => return Err(ApiError::bad_request(
                    "kv version 1 is not supported by Coffer; mount with options {\"version\":\"2\"} or type \"kv-v2\"",
                )),
                Some(_) => return Err(ApiError::bad_request("invalid kv version: expected \"2\"")),
            };
            "kv"
        }
        other => other,
    };
    if !core.engines.can_mount(table_name, kind) {
        return Err(ApiError::bad_request(format!("plugin not found in the catalog: {kind}")));
    }
    let accessor_suffix: String = hex::encode(crate::crypto::random_bytes::<4>());
    let row = MountRow {
        id: uuid::Uuid::new_v4().to_string(),
        table_name: table_name.into(),
        path: path.to_string(),
        kind: kind.into(),
        description: params::str_field(&req.data, "description")?.unwrap_or("").to_string(),
        accessor: format!("{kind}_{accessor_suffix}"),
        config: merge_config(Map::new(), &req.data)?,
        options: Value::Object(options).to_string(),
        local: params::bool_field(&req.data, "local")?.unwrap_or(false),
        seal_wrap: params::bool_field(&req.data, "seal_wrap")?.unwrap_or(false),
        created_at: core.clock.now().to_rfc3339_opts(SecondsFormat::Nanos, true),
    };
    core.mount(row).await?;
    Ok(Response::NoContent)
}

/// `GET sys/internal/ui/mounts/<path>`: the mount serving `path`, with `path` added (the CLI's
/// mount and KV-version discovery).
pub fn ui_mount(core: &Core, path: &str, op: Operation) -> Result<Response, ApiError> {
    if op != Operation::Read {
        return Err(ApiError::unsupported_operation());
    }
    let table = core.mounts.load_full();
    let Some((entry, _)) = table.route(path).filter(|(e, _)| e.row.table_name == "mounts" && e.row.kind != "system")
    else {
        let shown = format!("{}/", path.trim_end_matches('/'));
        return Err(ApiError::new(http::StatusCode::FORBIDDEN, format!(
                "preflight capability check returned 403, please ensure client's policies grant access to path \"{shown}\""
            )));
    };
    let mut d = entry.describe()?;
    if let Some(o) = d.as_object_mut() {
        o.insert("path".into(), json!(entry.row.path));
    }
    Ok(Response::data(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_merge_reads_nested_or_flat_durations() {
        let data = json!({"config": {"default_lease_ttl": "1h", "max_lease_ttl": 7200}}).as_object().cloned().unwrap();
        let merged: Value = serde_json::from_str(&merge_config(Map::new(), &data).unwrap()).unwrap();
        assert_eq!(merged["default_lease_ttl"], 3600);
        assert_eq!(merged["max_lease_ttl"], 7200);
    }
}

//! `sys/alerts` (this node's recent alerts, paged: `read` on `sys/alerts`) and
//! `sys/alerts/rules[/<name>]` (write, read, list, delete alert rules; sudo). The rules and the
//! detectors are in `crate::core::alerts`.

use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::base::refusal::Refusal;
use crate::core::alerts::rules::{self, Rule, MAX_STORED_RULES};
use crate::core::Core;

/// Alerts one page shows unless `limit` says otherwise.
const DEFAULT_PAGE: u64 = 100;
/// Most alerts one page shows.
const MAX_PAGE: u64 = 1_000;

/// Routes `sys/alerts` and everything under it (`path` is relative to `sys/`, without a
/// trailing `/`).
pub async fn route(core: &Core, path: &str, req: &Request) -> Result<Response, ApiError> {
    match path {
        "alerts" if req.operation == Operation::Read => recent(core, &req.data),
        "alerts/rules" if req.operation == Operation::List => list(core).await,
        _ => match path.strip_prefix("alerts/rules/") {
            Some(name) => rule(core, rules::check_name(name)?, req).await,
            None => Err(ApiError::unsupported_path()),
        },
    }
}

/// Whether the rule `name` exists (the pipeline's create-or-update decision).
pub async fn exists(core: &Core, name: &str) -> Result<bool, ApiError> {
    let name = rules::check_name(name)?;
    Ok(core.alerts.config_rule(name).is_some() || rules::list(&core.store).await?.iter().any(|n| n == name))
}

/// `GET sys/alerts?after=<id>&limit=<n>`: alerts with an id above `after`, oldest first.
fn recent(core: &Core, data: &Map<String, Value>) -> Result<Response, ApiError> {
    if let Some(key) = data.keys().find(|k| !matches!(k.as_str(), "after" | "limit")) {
        return Err(ApiError::bad_request(format!("unknown parameter {key:?} (expected: after, limit)")));
    }
    let after = params::u64_field(data, "after")?.unwrap_or(0);
    let limit = params::u64_field(data, "limit")?.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let page = core.alerts.recent(after, usize::try_from(limit).unwrap_or(usize::MAX));
    let last = page.alerts.last().and_then(|a| a["id"].as_u64());
    let alerts: Vec<&Value> = page.alerts.iter().map(|a| a.as_ref()).collect();
    Ok(Response::data(json!({
        "alerts": alerts,
        "next_after": if page.more { last.map(Value::from) } else { None },
        "oldest_id": page.oldest,
    })))
}

/// `LIST sys/alerts/rules`: config rules and stored ones, with their kind and source.
async fn list(core: &Core) -> Result<Response, ApiError> {
    let config = core.alerts.config_rules();
    let mut info = Map::new();
    for r in config.iter() {
        info.insert(r.name.clone(), json!({"kind": r.kind.as_str(), "source": "config"}));
    }
    for r in rules::load_all(&core.store, &core.barrier).await? {
        if !info.contains_key(&r.name) {
            info.insert(r.name.clone(), json!({"kind": r.kind.as_str(), "source": "api"}));
        }
    }
    if info.is_empty() {
        return Err(ApiError::not_found());
    }
    let keys: Vec<&String> = info.keys().collect();
    Ok(Response::data(json!({ "keys": keys, "key_info": info })))
}

/// The 400 for a change to a rule of the config file.
fn read_only(name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "alert rule {name:?} is defined in the config file ([[alert]]) and cannot be changed or deleted through \
         the API"
    ))
}

/// `sys/alerts/rules/<name>`: read, write, delete.
async fn rule(core: &Core, name: &str, req: &Request) -> Result<Response, ApiError> {
    match req.operation {
        Operation::Read => {
            let rule = match core.alerts.config_rule(name) {
                Some(r) => r,
                None => rules::load(&core.store, &core.barrier, name).await?.ok_or_else(ApiError::not_found)?,
            };
            Ok(Response::data(rule.describe()))
        }
        op if op.is_write() => {
            if core.alerts.config_rule(name).is_some() {
                return Err(read_only(name));
            }
            let existing = rules::load(&core.store, &core.barrier, name).await?;
            let rule = rules::from_request(name, &req.data, existing.as_ref())?;
            check_webhook(core, &rule).await?;
            if existing.is_none() && rules::list(&core.store).await?.len() >= MAX_STORED_RULES {
                return Err(ApiError::bad_request(format!(
                    "at most {MAX_STORED_RULES} alert rules can be stored; delete one first"
                )));
            }
            rules::store(&core.store, &core.barrier, &rule).await?;
            changed(core).await
        }
        Operation::Delete => {
            if core.alerts.config_rule(name).is_some() {
                return Err(read_only(name));
            }
            rules::delete(&core.store, name).await?;
            changed(core).await
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// A rule's webhook must pass the outbound allow-list now (and passes it again at each send).
async fn check_webhook(core: &Core, rule: &Rule) -> Result<(), ApiError> {
    let Some(hook) = &rule.webhook else { return Ok(()) };
    match core.outbound.permit(&core.store, &hook.url).await? {
        Ok(_) => Ok(()),
        Err(Refusal::Final(why) | Refusal::Retry(why)) => {
            Err(ApiError::bad_request(format!("webhook is not allowed: {why}")))
        }
    }
}

/// Reloads this node's rules and tells the other nodes.
async fn changed(core: &Core) -> Result<Response, ApiError> {
    core.alerts.load(&core.store, &core.barrier).await?;
    core.changes.changed(crate::store::bus::Topic::Alerts);
    Ok(Response::NoContent)
}

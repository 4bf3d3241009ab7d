//! Static roles: Coffer owns the password of an existing database user and rotates it on a
//! period or a cron schedule (and on `rotate-role`). The entry, password included, is encrypted.
//! A rotation first saves the new password as pending, then changes it in the database, then
//! makes it current, so a crash in between is finished by the next attempt instead of losing
//! the password.

use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{config, guard, statements, target, Kinds};
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::base::schedule::{Schedule, SharedClock};
use crate::core::engine::Call;
use crate::core::engine::{Background, Host};

/// What a rotation runs when the role names no statements.
const DEFAULT_ROTATION: &str = "ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';";

/// Shortest rotation period accepted (as Vault).
const MIN_PERIOD: i64 = 5;

/// A static role as stored (encrypted). `Debug` shows no password.
#[derive(Clone, Serialize, Deserialize, Default, Zeroize, ZeroizeOnDrop)]
pub struct StaticRole {
    /// The connection.
    pub db_name: String,
    /// The database user.
    pub username: String,
    /// Seconds between rotations (0 when a schedule is set).
    pub rotation_period: i64,
    /// Five-field cron in UTC (empty when a period is set).
    pub rotation_schedule: String,
    /// Seconds after a scheduled time within which a rotation may start.
    pub rotation_window: i64,
    /// Statements that set the password.
    pub rotation_statements: Vec<String>,
    /// The current password.
    pub password: String,
    /// A password being set (non-empty only between the two saves of a rotation).
    pub pending_password: String,
    /// Unix ms of the last rotation.
    pub last_rotation: i64,
    /// Unix ms of the next rotation.
    pub next_rotation: i64,
    /// The last rotation error (empty after a success).
    pub last_error: String,
}

impl std::fmt::Debug for StaticRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticRole").field("username", &self.username).finish_non_exhaustive()
    }
}

impl StaticRole {
    /// The next rotation after one at `at_ms` (`clock`'s now when `at_ms` is out of range).
    fn next_after(&self, at_ms: i64, clock: &SharedClock) -> i64 {
        let at = Utc.timestamp_millis_opt(at_ms).single().unwrap_or_else(|| clock.now());
        if self.rotation_schedule.is_empty() {
            return at_ms + self.rotation_period * 1000;
        }
        // A stored schedule that does not parse is logged under an error id and never fires.
        let schedule = Schedule::parse(&self.rotation_schedule)
            .map_err(|_| ApiError::internal(&"stored static role rotation_schedule is corrupt"))
            .ok();
        match schedule.and_then(|s| s.next_after(at)) {
            Some(fire) => {
                crate::base::schedule::random_start(fire, self.rotation_window.unsigned_abs()).timestamp_millis()
            }
            None => i64::MAX,
        }
    }
}

async fn load(host: Host<'_>, kinds: &Kinds, name: &str) -> Result<Option<StaticRole>, ApiError> {
    super::load_sealed(host, &kinds.static_roles(), name).await
}

async fn save(host: Host<'_>, kinds: &Kinds, name: &str, r: &StaticRole) -> Result<(), ApiError> {
    super::save_sealed(host, &kinds.static_roles(), name, r).await
}

fn rfc3339(ms: i64) -> serde_json::Value {
    Utc.timestamp_millis_opt(ms).single().map_or(serde_json::Value::Null, |t| json!(crate::base::logical::timestamp(t)))
}

/// `database/static-roles/<name>`.
pub async fn endpoint(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let kinds = Kinds::of(call);
    match req.operation {
        Operation::Read => {
            let r = load(call.host, &kinds, name).await?.ok_or_else(ApiError::not_found)?;
            let mut data = json!({
                "credential_type": "password",
                "db_name": r.db_name,
                "last_vault_rotation": rfc3339(r.last_rotation),
                "rotation_statements": r.rotation_statements,
                "username": r.username,
            });
            if r.rotation_schedule.is_empty() {
                crate::base::json::set(&mut data, "rotation_period", json!(r.rotation_period));
            } else {
                crate::base::json::set(&mut data, "rotation_schedule", json!(r.rotation_schedule));
                crate::base::json::set(&mut data, "rotation_window", json!(r.rotation_window));
            }
            if !r.last_error.is_empty() {
                crate::base::json::set(&mut data, "last_rotation_error", json!(r.last_error));
            }
            Ok(Response::data(data))
        }
        Operation::Delete => {
            call.host.storage().entry_delete(&kinds.static_roles(), name).await?;
            Ok(Response::NoContent)
        }
        op if op.is_write() => write(call, &kinds, name, req).await,
        _ => Err(ApiError::unsupported_operation()),
    }
}

async fn write(call: &Call<'_>, kinds: &Kinds, name: &str, req: &Request) -> Result<Response, ApiError> {
    let d = &req.data;
    let existing = load(call.host, kinds, name).await?;
    let creating = existing.is_none();
    let mut r = existing.unwrap_or_default();
    if let Some(db) = params::str_field(d, "db_name")? {
        r.db_name = db.to_string();
    }
    if r.db_name.is_empty() {
        return Err(ApiError::bad_request("empty database name attribute"));
    }
    match params::str_field(d, "username")? {
        Some(u) if creating => r.username = u.to_string(),
        Some(u) if u != r.username => return Err(ApiError::bad_request("cannot update static account username")),
        _ => {}
    }
    if r.username.is_empty() {
        return Err(ApiError::bad_request("username is a required field to create a static account"));
    }
    let period = params::duration_field(d, "rotation_period")?.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    let schedule = params::str_field(d, "rotation_schedule")?.filter(|s| !s.is_empty());
    match (period, schedule) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "mutually exclusive fields rotation_period and rotation_schedule were both specified",
            ))
        }
        (Some(p), None) => {
            if p < MIN_PERIOD {
                return Err(ApiError::bad_request(format!("rotation_period must be {MIN_PERIOD} seconds or more")));
            }
            r.rotation_period = p;
            r.rotation_schedule.clear();
        }
        (None, Some(s)) => {
            match Schedule::parse(s) {
                Ok(Schedule::Cron(_)) if !s.trim_start().to_ascii_lowercase().starts_with("cron(") => {}
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid rotation_schedule {s:?}: expected a five-field cron expression"
                    )))
                }
            }
            r.rotation_schedule = s.to_string();
            r.rotation_period = 0;
        }
        (None, None) if creating => {
            return Err(ApiError::bad_request("one of rotation_period or rotation_schedule is required"))
        }
        (None, None) => {}
    }
    if let Some(w) = params::duration_field(d, "rotation_window")? {
        if r.rotation_schedule.is_empty() {
            return Err(ApiError::bad_request("rotation_window is only valid with rotation_schedule"));
        }
        r.rotation_window = i64::try_from(w).unwrap_or(i64::MAX);
    }
    if d.contains_key("rotation_statements") {
        r.rotation_statements = statements(d, "rotation_statements")?;
    }
    let cfg = config::for_role(call.host, kinds, &r.db_name, name).await?;
    guard::check(&cfg, std::slice::from_ref(&r.username)).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
    if creating {
        // The password is rotated straight away, so Coffer knows it from the start.
        rotate(call.host, kinds, name, r).await.map_err(ApiError::bad_request)?;
    } else {
        r.next_rotation = r.next_after(r.last_rotation, call.host.clock());
        save(call.host, kinds, name, &r).await?;
    }
    Ok(Response::NoContent)
}

/// Sets a new password (or finishes a pending one) and saves the role. Errors name the cause
/// with every password blanked.
async fn rotate(host: Host<'_>, kinds: &Kinds, name: &str, mut r: StaticRole) -> Result<(), String> {
    let cfg = config::load(host, kinds, &r.db_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("database config {:?} not found", r.db_name))?;
    // Checked again on every rotation: the role may have become a superuser since.
    if let Err(e) = guard::check(&cfg, std::slice::from_ref(&r.username)).await {
        let e = format!("failed to rotate the password: {e}");
        r.last_error = e.clone();
        r.next_rotation = host.now().timestamp_millis() + 60_000;
        let _ = save(host, kinds, name, &r).await;
        return Err(e);
    }
    if r.pending_password.is_empty() {
        let password = host.generate_password(&cfg.password_policy).await.map_err(|e| e.to_string())?;
        r.pending_password = password.to_string();
        save(host, kinds, name, &r).await.map_err(|e| e.to_string())?;
    }
    let templates = if r.rotation_statements.is_empty() {
        vec![DEFAULT_ROTATION.to_string()]
    } else {
        r.rotation_statements.clone()
    };
    let vars = target::Vars { name: &r.username, password: &r.pending_password, expiration: None };
    let rendered: Vec<Zeroizing<String>> = templates.iter().map(|t| target::render(t, &vars)).collect();
    let secrets = [r.pending_password.as_str(), cfg.password.as_str(), r.password.as_str()];
    let outcome =
        target::run_as_root(&cfg.connection_url, &cfg.username, &cfg.password, &rendered, &[], &secrets).await;
    let now = host.now().timestamp_millis();
    match outcome {
        Ok(()) => {
            r.password.zeroize();
            r.password = std::mem::take(&mut r.pending_password);
            r.last_rotation = now;
            r.next_rotation = r.next_after(now, host.clock());
            r.last_error.clear();
            save(host, kinds, name, &r).await.map_err(|e| e.to_string())?;
            host.audit_event("static_role_rotation", json!({ "role": name, "result": "ok" }));
            Ok(())
        }
        Err(e) => {
            let e = format!("failed to rotate the password: {e}");
            r.last_error = e.clone();
            // Retry in a minute; the pending password is kept so the retry finishes this rotation.
            r.next_rotation = now + 60_000;
            let _ = save(host, kinds, name, &r).await;
            host.audit_event("static_role_rotation", json!({ "role": name, "result": "failed" }));
            Err(e)
        }
    }
}

/// `database/static-creds/<name>`.
pub async fn creds(call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let kinds = Kinds::of(call);
    let r =
        load(call.host, &kinds, name).await?.ok_or_else(|| ApiError::bad_request(format!("unknown role: {name}")))?;
    let now = call.host.now().timestamp_millis();
    let mut data = json!({
        "last_vault_rotation": rfc3339(r.last_rotation),
        "password": r.password.as_str(),
        "ttl": ((r.next_rotation - now) / 1000).max(0),
        "username": r.username,
    });
    if r.rotation_schedule.is_empty() {
        crate::base::json::set(&mut data, "rotation_period", json!(r.rotation_period));
    } else {
        crate::base::json::set(&mut data, "rotation_schedule", json!(r.rotation_schedule));
        crate::base::json::set(&mut data, "rotation_window", json!(r.rotation_window));
    }
    Ok(Response::data(data))
}

/// `database/rotate-role/<name>`.
pub async fn rotate_now(call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let kinds = Kinds::of(call);
    let r =
        load(call.host, &kinds, name).await?.ok_or_else(|| ApiError::bad_request(format!("unknown role: {name}")))?;
    rotate(call.host, &kinds, name, r).await.map_err(ApiError::bad_request)?;
    Ok(Response::NoContent)
}

/// `LIST database/static-roles`.
pub async fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    super::list_kind(call.host, &Kinds::of(call).static_roles()).await
}

/// Rotates due static roles while the process lives, at the lease worker's interval; does work
/// only while unsealed and holding the leader lease.
pub async fn run(work: Background) {
    let mut interval = tokio::time::interval(crate::core::leases::worker::INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if work.is_sealed() {
            continue;
        }
        let rotated = rotate_due(&work).await;
        if rotated > 0 {
            tracing::info!(roles = rotated, "rotated static database roles");
        }
    }
}

/// Rotates every static role whose time has come, on every database mount. Run by the leader
/// only; it checks that it still leads before each rotation.
pub async fn rotate_due(work: &Background) -> usize {
    if work.fence().is_none() {
        return 0;
    }
    let now = work.clock().now().timestamp_millis();
    let mut rotated = 0;
    // Only mounts served by the database engine (a mount with unreadable settings is not).
    for mount in work.mounts().into_iter().filter(|m| m.engine.database_roles().is_some()) {
        let Some(host) = work.host(&mount) else { continue };
        let kinds = Kinds::of_mount(&mount.row.id);
        let Ok(names) = host.storage().entry_list(&kinds.static_roles(), "").await else { continue };
        for name in names {
            if work.fence().is_none() {
                return rotated;
            }
            let Ok(Some(r)) = load(host, &kinds, &name).await else { continue };
            if r.next_rotation > now {
                continue;
            }
            match rotate(host, &kinds, &name, r).await {
                Ok(()) => rotated += 1,
                Err(e) => tracing::warn!(role = %name, error = %e, "static role rotation failed; retrying in a minute"),
            }
        }
    }
    rotated
}

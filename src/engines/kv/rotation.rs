//! Scheduled rotation of KV v2 secrets (ROTATION.md): schedules, rotators and the persisted
//! four-step state machine run by the leader.
//!
//! `<mount>/rotation/<path>` writes, reads and deletes a secret's schedule; `<mount>/rotate/<path>`
//! starts a rotation now. The scheduler (`worker`) runs on the leader and drives every rotation
//! through `state`; the steps change the secret only through the staging-label API
//! (`crate::engines::kv::stages`).

pub mod authority;
pub mod config;
mod postgres;
pub mod state;
pub mod webhook;
pub mod worker;

use chrono::{TimeZone, Utc};
use http::StatusCode;
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::core::engine::Call;
use crate::store::rotation::RotationRow;
use crate::store::StoreError;

pub use worker::tick;

fn rfc3339(ms: Option<i64>) -> Value {
    ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .map_or(Value::Null, |t| json!(crate::base::logical::timestamp(t)))
}

fn check_path(path: &str) -> Result<(), ApiError> {
    if path.is_empty() || path.ends_with('/') {
        return Err(ApiError::bad_request("invalid secret path: a key path must not be empty or end with '/'"));
    }
    Ok(())
}

/// A schedule that the scheduler stopped (the rotation lost its right to act on its target):
/// nothing is due until the configuration is written again.
fn stopped(row: &RotationRow) -> bool {
    row.scheduled && row.step.is_empty() && row.next_rotation_at.is_none()
}

fn conflict(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, msg)
}

fn in_progress(row: &RotationRow) -> ApiError {
    conflict(format!(
        "a rotation of this secret is already in progress (step {}, version token {}); it will be continued",
        row.step, row.version_token
    ))
}

/// The status a read shows: configuration (without the HMAC key), schedule, counters, and the
/// rotation in flight.
fn describe(row: &RotationRow, cfg: &config::RotationConfig) -> Value {
    let mut data = cfg.describe();
    let in_flight = if row.step.is_empty() {
        Value::Null
    } else {
        let waiting = row.claim_epoch.is_none() && row.attempts > 0;
        json!({
            "step": row.step,
            "step_done": row.step_done,
            "cause": row.cause,
            "version_token": row.version_token,
            "from_version": row.from_version,
            "pending_version": row.pending_version,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "started": rfc3339(row.started_at),
            "next_attempt": if waiting { rfc3339(row.due_at) } else { Value::Null },
        })
    };
    let extra = json!({
        "scheduled": row.scheduled,
        "stopped": stopped(row),
        "next_rotation": rfc3339(row.next_rotation_at.filter(|_| row.scheduled)),
        "last_rotated": rfc3339(row.last_rotated_at),
        "last_outcome": row.last_outcome,
        "last_error": if row.step.is_empty() { json!(row.last_error) } else { json!("") },
        "rotations_succeeded": row.succeeded,
        "rotations_failed": row.failed,
        "rotations_abandoned": row.abandoned,
        "in_flight": in_flight,
    });
    if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
        d.extend(e);
    }
    data
}

fn open(call: &Call<'_>, row: &RotationRow) -> Result<config::RotationConfig, ApiError> {
    config::open(call.host, &row.path, &row.config).map_err(|e| ApiError::internal(&e))
}

/// `<mount>/rotation/<path>`: write, read or delete a secret's rotation schedule.
pub async fn endpoint(call: &Call<'_>, path: &str, req: &Request) -> Result<Response, ApiError> {
    check_path(path)?;
    let host = call.host;
    match req.operation {
        Operation::Read => {
            let row = host.storage().rotation_get(path).await?.ok_or_else(ApiError::not_found)?;
            Ok(Response::data(describe(&row, &open(call, &row)?)))
        }
        Operation::Delete => delete(call, path).await,
        op if op.is_write() => write(call, path, req).await,
        _ => Err(ApiError::unsupported_operation()),
    }
}

async fn write(call: &Call<'_>, path: &str, req: &Request) -> Result<Response, ApiError> {
    let host = call.host;
    let mount_id = call.mount.row.id.clone();
    let live = host.storage().kv_metadata_get(path).await?.is_some_and(|m| m.current_version > 0);
    if !live {
        return Err(ApiError::bad_request(format!(
            "secret {path:?} does not exist: write it before configuring its rotation"
        )));
    }
    let existing = host.storage().rotation_get(path).await?;
    let old = existing.as_ref().map(|r| open(call, r)).transpose()?;
    let mut cfg = config::parse(host, call.token, &req.data, old.as_ref()).await?;
    if let config::Rotator::Postgres { db_mount, db_name, usernames, .. } = &cfg.rotator {
        // Every write of a postgres rotator, even one that keeps it, is made by someone who
        // administers the connection; that writer becomes the rotation's authority.
        authority::check_caller(host, call.token, &authority::connection_path(db_mount, db_name)).await?;
        let writer = authority::Authority::of(call.token);
        let conn = postgres::Connection { authority: Some(&writer), db_mount, db_name, usernames };
        conn.check(host).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
        cfg.authorized_by = Some(writer);
    }
    if let (Some(row), Some(old)) = (&existing, &old) {
        if !row.step.is_empty() && old.rotator != cfg.rotator {
            return Err(conflict(format!(
                "a rotation of this secret is in progress (step {}); change the rotator after it ends",
                row.step
            )));
        }
    }
    // A stopped schedule (see `state`) starts again when the configuration is written anew.
    let schedule_changed = old.as_ref().is_none_or(|o| o.schedule != cfg.schedule || o.window != cfg.window)
        || existing.as_ref().is_some_and(|r| !r.scheduled || stopped(r));
    let (blob, term) = config::seal(host, path, &cfg)?;
    let now = host.now();
    let mut row = existing.clone().unwrap_or_else(|| RotationRow::new(&mount_id, path));
    row.config = blob;
    row.key_term = term;
    if schedule_changed {
        let schedule = cfg.parsed_schedule().map_err(ApiError::bad_request)?;
        let (fire, start) = config::next_start(&schedule, cfg.window, now, now)
            .ok_or_else(|| ApiError::bad_request(format!("invalid schedule {:?}: it never fires", cfg.schedule)))?;
        row.scheduled = true;
        row.fire_at = Some(fire);
        row.next_rotation_at = Some(start);
        if row.step.is_empty() {
            row.due_at = Some(start);
            row.claim_epoch = None;
        }
    }
    let stored = match &existing {
        None => host.storage().rotation_insert(&row).await,
        Some(_) => host.storage().rotation_update(&row, None).await,
    };
    match stored {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(conflict("the rotation of this secret changed concurrently (or the secret is gone); retry"))
        }
        Err(e) => return Err(e.into()),
    }
    if existing.is_some() {
        row.rev += 1;
    }
    Ok(Response::data(describe(&row, &cfg)))
}

/// How often `DELETE <mount>/rotation/<path>` tries before it answers 409.
const DELETE_ATTEMPTS: u32 = 20;

/// Stops scheduling. A rotation in flight is not rolled back: it finishes (or fails) and the row
/// goes away then.
async fn delete(call: &Call<'_>, path: &str) -> Result<Response, ApiError> {
    let host = call.host;
    // A rotation in flight saves its row after every step, so a busy node may see a few
    // conflicts in a row: retry with a growing pause (at most about a second in all).
    for attempt in 0..DELETE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1 << attempt.min(6))).await;
        }
        let Some(mut row) = host.storage().rotation_get(path).await? else { return Ok(Response::NoContent) };
        let done = if row.step.is_empty() {
            host.storage().rotation_delete(path, row.rev, None).await
        } else {
            row.scheduled = false;
            row.next_rotation_at = None;
            row.fire_at = None;
            host.storage().rotation_update(&row, None).await
        };
        match done {
            Ok(()) => return Ok(Response::NoContent),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(conflict("the rotation of this secret keeps changing; retry"))
}

/// `<mount>/rotate/<path>`: starts a rotation now (202 with its version token). The leader runs
/// it at once (this node, if it leads; otherwise the leader's next tick, within a second). A
/// rotation already in flight is a 409: it is continued, not restarted.
pub async fn rotate_now(call: &Call<'_>, path: &str, _req: &Request) -> Result<Response, ApiError> {
    check_path(path)?;
    let host = call.host;
    let mut row = host.storage().rotation_get(path).await?.ok_or_else(|| {
        ApiError::bad_request(format!(
            "no rotation is configured for {path:?}: configure it at {}rotation/{path} first",
            call.mount.api_path
        ))
    })?;
    if !row.step.is_empty() {
        return Err(in_progress(&row));
    }
    state::authority_holds(host, &open(call, &row)?).await.map_err(|why| ApiError::new(StatusCode::FORBIDDEN, why))?;
    let current = state::can_start(host, path).await?;
    let now = host.now().timestamp_millis();
    let fence = host.fence();
    state::begin(&mut row, "manual", current, now);
    match &fence {
        Some(f) => {
            row.claim_epoch = Some(f.epoch);
            row.due_at = Some(now + state::CLAIM_MS);
        }
        None => {
            row.claim_epoch = None;
            row.due_at = Some(now);
        }
    }
    match host.storage().rotation_update(&row, None).await {
        Ok(()) => row.rev += 1,
        Err(StoreError::Conflict) => {
            let now_row = host.storage().rotation_get(path).await?;
            return Err(match now_row {
                Some(r) if !r.step.is_empty() => in_progress(&r),
                _ => conflict("the rotation of this secret changed concurrently; retry"),
            });
        }
        Err(e) => return Err(e.into()),
    }
    state::event(host, "rotation.started", &row, json!({}));
    state::crash_point("start");
    let token = row.version_token.clone();
    if let (Some(fence), Some(work)) = (fence, host.background()) {
        tokio::spawn(async move {
            let clock = work.clock().clone();
            state::drive(&work, &fence, &clock, row).await;
        });
    }
    Ok(Response::Envelope {
        status: StatusCode::ACCEPTED,
        data: Some(json!({ "version_token": token, "step": "create" })),
        warnings: Vec::new(),
        auth: None,
        repeat_top_level: false,
        lease: None,
    })
}

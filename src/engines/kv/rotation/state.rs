//! The persisted four-step state machine (create → set → test → finish) that runs one rotation.
//!
//! The row is written before and after every step (`step`, `step_done`), each write a
//! compare-and-set on the row's revision and fenced by the leader epoch, so a crash or a leader
//! change resumes exactly where it stopped and a paused ex-leader commits nothing. Every step is
//! idempotent: `create` saves the new value (encrypted) before writing it as `pending` with the
//! rotation's token as the KV `request_token`, so a repeat returns the same version instead of a
//! second one; `set` and `test` repeat harmlessly; `finish` moves labels by compare-and-set and
//! skips what is done. A failing step is retried with exponential backoff and jitter; after
//! `max_attempts` the rotation is marked failed, `current` is left alone and `pending` removed.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use crate::crypto::barrier::Context;

use super::authority;
use super::config::{self, RotationConfig, Rotator, Strategy};
use super::{postgres, webhook};
use crate::base::error::ApiError;
use crate::base::refusal::Refusal;
use crate::base::schedule::Clock;
use crate::core::engine::{Background, Host};
use crate::engines::kv::stages::{self, CURRENT, PENDING};
use crate::store::rotation::RotationRow;
use crate::store::{Fence, StoreError};

/// How long a claim keeps other ticks off a row; every write of the worker renews it, and a new
/// leader releases the claims of the old one at once.
pub const CLAIM_MS: i64 = 120_000;

/// Longest one step may take before it counts as a failed attempt.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// When a start could not even be checked (the store failed), try again this much later.
const RECHECK_MS: i64 = 60_000;

/// Test hook: with `COFFER_TEST_ROTATION_CRASH_AFTER=<point>` set, the process kills itself with
/// SIGKILL right after persisting that point (`start`, `create-written` (the pending version is
/// written but the step is not yet recorded as done), `create`, `set`, `test`, `finish-current`
/// (after `current` has moved, before `pending` is removed), `finish`), so tests can crash the
/// server between any two steps. Unset (as in production), nothing happens.
pub const CRASH_ENV: &str = "COFFER_TEST_ROTATION_CRASH_AFTER";

/// Kills the process at `point` when [`CRASH_ENV`] names it.
pub(crate) fn crash_point(point: &str) {
    if std::env::var_os(CRASH_ENV).is_some_and(|v| v == point) {
        tracing::error!(point, "{CRASH_ENV} is set: killing the process (test hook)");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}

/// Rotations being driven in this process, so two ticks (or a tick and a `rotate` request) never
/// drive the same secret at once. Across processes the leader fence and the row revision do that.
static BUSY: LazyLock<Mutex<HashSet<(String, String)>>> = LazyLock::new(Mutex::default);

/// Holds a secret in [`BUSY`] until dropped.
struct Busy(String, String);

impl Busy {
    fn take(mount_id: &str, path: &str) -> Option<Busy> {
        let key = (mount_id.to_string(), path.to_string());
        let mut set = BUSY.lock().unwrap_or_else(PoisonError::into_inner);
        set.insert(key.clone()).then(|| Busy(key.0, key.1))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let key = (std::mem::take(&mut self.0), std::mem::take(&mut self.1));
        BUSY.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
    }
}

/// What one drive of a row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driven {
    /// Another task of this process is driving it.
    Skipped,
    /// Nothing to do (not due, or the start was refused and recorded).
    Idle,
    /// A step failed; the next attempt is scheduled.
    Waiting,
    /// The rotation ended: succeeded, failed or abandoned.
    Ended(Outcome),
    /// Stopped early: the row changed under it, the lease was lost, or the store failed. The row
    /// is picked up again by a later tick.
    Stopped,
}

/// How a rotation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `current` is on the new version.
    Succeeded,
    /// Out of attempts: `current` untouched, `pending` removed.
    Failed,
    /// The secret changed under the rotation (a new `current` was written).
    Abandoned,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// Why driving stopped before the rotation ended.
enum Stop {
    /// The row's revision moved (a configuration write, a `DELETE`, another executor) or the
    /// fence no longer holds.
    Lost,
    /// The store failed.
    Store(String),
}

/// Why a step did not complete.
enum StepError {
    /// Retry later (counts an attempt).
    Failed(String),
    /// The secret changed under the rotation: give up without touching it.
    Abandoned(String),
    /// The rotation may no longer act on its target (its authority lost the right, the target
    /// became forbidden, the allow-list no longer admits the URL): fail now and stop scheduling.
    Denied(String),
    /// Stop driving (see [`Stop`]).
    Stop(Stop),
}

fn failed(e: impl std::fmt::Display) -> StepError {
    StepError::Failed(e.to_string())
}

fn denied(d: Refusal) -> StepError {
    match d {
        Refusal::Final(why) => StepError::Denied(why),
        Refusal::Retry(why) => StepError::Failed(why),
    }
}

/// For a rotator that acts on another engine's target, whether its stored authority still holds
/// (checked before every start; the steps check the targets too).
pub async fn authority_holds(host: Host<'_>, cfg: &RotationConfig) -> Result<(), String> {
    match &cfg.rotator {
        Rotator::Postgres { db_mount, db_name, .. } => {
            authority::still_holds(host, cfg.authorized_by.as_ref(), &authority::connection_path(db_mount, db_name))
                .await
        }
        Rotator::Password { .. } | Rotator::Webhook { .. } => Ok(()),
    }
}

/// Where a rotation's new value lives between its generation and the pending write.
pub fn value_context<'a>(mount_id: &'a str, path: &'a str, token: &'a str) -> Context<'a> {
    Context::RotationValue { mount_id, path, token }
}

/// Whether a rotation may start: the secret has a `current` version and `pending` is absent or on
/// it (ROTATION.md rule 9). Returns the version holding `current`.
pub async fn can_start(host: Host<'_>, path: &str) -> Result<i64, ApiError> {
    let labels = stages::stages(host, path).await?;
    let holder = |l: &str| labels.iter().find(|(s, _)| s == l).map(|(_, v)| *v);
    let current =
        holder(CURRENT).ok_or_else(|| ApiError::bad_request("the secret has no current version to rotate"))?;
    match holder(PENDING) {
        Some(p) if p != current => Err(ApiError::new(
            http::StatusCode::CONFLICT,
            format!(
                "pending is on version {p}, not on the current version {current}: a previous rotation is not complete"
            ),
        )),
        _ => Ok(current),
    }
}

/// Puts an idle row in flight: a fresh token, step `create` not done yet.
pub fn begin(row: &mut RotationRow, cause: &str, current: i64, now: i64) {
    row.step = "create".into();
    row.step_done = false;
    row.cause = cause.into();
    row.version_token = uuid::Uuid::new_v4().to_string();
    row.from_version = Some(current);
    row.pending_version = None;
    row.new_value = None;
    row.attempts = 0;
    row.started_at = Some(now);
    row.last_error.clear();
}

/// An audit event about a row (never a secret value).
pub fn event(host: Host<'_>, kind: &str, row: &RotationRow, extra: Value) {
    let mut body = json!({
        "mount": host.mount().api_path,
        "path": row.path,
        "version_token": row.version_token,
        "cause": row.cause,
        "from_version": row.from_version,
        "pending_version": row.pending_version,
        "attempts": row.attempts,
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    host.audit_event(kind, body);
    // How a rotation ends badly: out of attempts or refused a start (`failed`), stopped because it
    // may no longer act on its target (counted as failed), or overtaken by a write (`abandoned`).
    let ended = match kind {
        "rotation.failed" | "rotation.stopped" => Some("failed"),
        "rotation.abandoned" => Some("abandoned"),
        _ => None,
    };
    if let Some(outcome) = ended {
        host.rotation_ended(&row.path, outcome);
    }
}

/// Drives one claimed row as far as it goes now. Used by the scheduler and by `rotate`.
pub async fn drive(work: &Background, fence: &Fence, clock: &dyn Clock, row: RotationRow) -> Driven {
    let Some(_busy) = Busy::take(&row.mount_id, &row.path) else { return Driven::Skipped };
    let (mount_id, path) = (row.mount_id.clone(), row.path.clone());
    match drive_claimed(work, fence, clock, row).await {
        Ok(d) => d,
        Err(Stop::Lost) => {
            // Hand the row back so the next tick resumes it with its new revision (a
            // configuration write, or a `rotate` that started it between claim and start).
            release(work, fence, clock, &mount_id, &path).await;
            Driven::Stopped
        }
        Err(Stop::Store(e)) => {
            tracing::warn!(path = %path, error = %e, "rotation stopped on a storage error; it resumes later");
            Driven::Stopped
        }
    }
}

/// Makes a row this epoch claimed due now, so the next tick picks it up.
async fn release(work: &Background, fence: &Fence, clock: &dyn Clock, mount_id: &str, path: &str) {
    let Some(mount) = work.mount_by_id(mount_id) else { return };
    let Some(host) = work.host(&mount) else { return };
    let Ok(Some(mut row)) = host.storage().rotation_get(path).await else { return };
    if row.claim_epoch != Some(fence.epoch) {
        return;
    }
    row.claim_epoch = None;
    row.due_at = Some(clock.now().timestamp_millis());
    if row.step.is_empty() {
        row.due_at = row.next_rotation_at.filter(|_| row.scheduled);
    }
    let _ = host.storage().rotation_update(&row, Some(fence)).await;
}

async fn drive_claimed(work: &Background, fence: &Fence, clock: &dyn Clock, row: RotationRow) -> Result<Driven, Stop> {
    let mount = work.mount_by_id(&row.mount_id);
    let Some(host) = mount.as_deref().and_then(|m| work.host(m)) else {
        // The mount is gone (its rows normally go with its metadata).
        return match work.forget_rotation(&row.mount_id, &row.path, row.rev, fence).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(Driven::Idle),
            Err(e) => Err(Stop::Store(e.to_string())),
        };
    };
    let mount = host.mount();
    let opened = if mount.is_readable() {
        config::open(host, &row.path, &row.config)
    } else {
        Err("the KV mount's stored settings do not parse".to_string())
    };
    let cfg = match opened {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(path = %row.path, error = %e, "cannot open a rotation configuration; retrying in an hour");
            let mut row = row;
            row.last_error = if mount.is_readable() {
                "the rotation configuration cannot be decrypted".into()
            } else {
                "the mount's stored settings cannot be read".into()
            };
            row.claim_epoch = None;
            row.due_at = Some(clock.now().timestamp_millis() + 3_600_000);
            return match host.storage().rotation_update(&row, Some(fence)).await {
                Ok(()) => Ok(Driven::Idle),
                Err(StoreError::Conflict) => Err(Stop::Lost),
                Err(e) => Err(Stop::Store(e.to_string())),
            };
        }
    };
    let mut d = Driver { host, fence, clock, cfg, row };
    if d.row.step.is_empty() && !d.start_scheduled().await? {
        return Ok(Driven::Idle);
    }
    d.run().await
}

/// One rotation being driven.
struct Driver<'a> {
    host: Host<'a>,
    fence: &'a Fence,
    clock: &'a dyn Clock,
    cfg: RotationConfig,
    row: RotationRow,
}

impl Driver<'_> {
    fn now(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Writes the row (compare-and-set on its revision, fenced).
    async fn save(&mut self) -> Result<(), Stop> {
        match self.host.storage().rotation_update(&self.row, Some(self.fence)).await {
            Ok(()) => {
                self.row.rev += 1;
                Ok(())
            }
            Err(StoreError::Conflict) => Err(Stop::Lost),
            Err(e) => Err(Stop::Store(e.to_string())),
        }
    }

    /// Writes the row of an ended rotation, or deletes it when scheduling was stopped meanwhile.
    async fn save_ended(&mut self) -> Result<(), Stop> {
        if self.row.scheduled {
            return self.save().await;
        }
        match self.host.storage().rotation_delete(&self.row.path, self.row.rev, Some(self.fence)).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(Stop::Lost),
            Err(e) => Err(Stop::Store(e.to_string())),
        }
    }

    /// Renews the claim for the next write.
    fn claim(&mut self) {
        self.row.claim_epoch = Some(self.fence.epoch);
        self.row.due_at = Some(self.now() + CLAIM_MS);
    }

    fn event(&self, kind: &str, extra: Value) {
        event(self.host, kind, &self.row, extra);
    }

    /// Moves the schedule past the tick that has just been served (if it has come), and makes the
    /// row due at the next start.
    fn advance(&mut self, now: i64) {
        if !self.row.scheduled {
            self.row.next_rotation_at = None;
            self.row.fire_at = None;
            self.row.due_at = None;
            return;
        }
        if self.row.next_rotation_at.is_none_or(|t| t <= now) {
            let at = |ms: i64| Utc.timestamp_millis_opt(ms).single().unwrap_or_else(|| self.clock.now());
            // A stored schedule that does not parse is logged under an error id and never fires.
            let schedule = self
                .cfg
                .parsed_schedule()
                .map_err(|_| crate::base::error::ApiError::internal(&"stored rotation schedule is corrupt"))
                .ok();
            let next = schedule
                .and_then(|s| config::next_start(&s, self.cfg.window, at(self.row.fire_at.unwrap_or(now)), at(now)));
            (self.row.fire_at, self.row.next_rotation_at) = match next {
                Some((fire, start)) => (Some(fire), Some(start)),
                None => (None, None),
            };
        }
        self.row.due_at = self.row.next_rotation_at;
    }

    /// An idle claimed row: starts the scheduled rotation if its time has come. A refused start
    /// (the secret is mid-way through a manual label change) counts as a failed rotation of this
    /// tick.
    async fn start_scheduled(&mut self) -> Result<bool, Stop> {
        let now = self.now();
        let due = self.row.scheduled && self.row.next_rotation_at.is_some_and(|t| t <= now);
        if !due {
            self.row.claim_epoch = None;
            self.row.due_at = self.row.next_rotation_at.filter(|_| self.row.scheduled);
            self.save().await?;
            return Ok(false);
        }
        if let Err(why) = authority_holds(self.host, &self.cfg).await {
            self.row.failed += 1;
            self.row.last_outcome = Outcome::Failed.as_str().into();
            self.stop_schedule(why);
            self.save().await?;
            return Ok(false);
        }
        match can_start(self.host, &self.row.path).await {
            Ok(current) => {
                begin(&mut self.row, "schedule", current, now);
                self.claim();
                self.save().await?;
                self.event("rotation.started", json!({}));
                crash_point("start");
                Ok(true)
            }
            Err(e) if e.status.is_server_error() => {
                self.row.last_error = e.errors.join("; ");
                self.row.claim_epoch = None;
                self.row.due_at = Some(now + RECHECK_MS);
                self.save().await?;
                Ok(false)
            }
            Err(e) => {
                let why = format!("the rotation could not start: {}", e.errors.join("; "));
                self.row.failed += 1;
                self.row.last_outcome = Outcome::Failed.as_str().into();
                self.row.last_error = why.clone();
                self.row.claim_epoch = None;
                self.advance(now);
                self.save().await?;
                self.event("rotation.failed", json!({ "error": why }));
                Ok(false)
            }
        }
    }

    /// Runs the steps of the rotation in flight until it ends, waits for a retry, or stops.
    async fn run(&mut self) -> Result<Driven, Stop> {
        loop {
            if self.row.attempts >= i64::from(self.cfg.max_attempts) {
                self.fail().await?;
                return Ok(Driven::Ended(Outcome::Failed));
            }
            if self.row.step_done {
                let next = match self.row.step.as_str() {
                    "create" => "set",
                    "set" => "test",
                    "test" => "finish",
                    _ => {
                        self.succeed().await?;
                        return Ok(Driven::Ended(Outcome::Succeeded));
                    }
                };
                self.row.step = next.into();
                self.row.step_done = false;
                self.claim();
                self.save().await?;
            }
            let step = self.row.step.clone();
            let result = match tokio::time::timeout(STEP_TIMEOUT, self.run_step(&step)).await {
                Ok(r) => r,
                Err(_) => Err(StepError::Failed(format!("step {step} timed out after {}s", STEP_TIMEOUT.as_secs()))),
            };
            match result {
                Ok(()) => {
                    self.row.step_done = true;
                    self.claim();
                    self.save().await?;
                    crash_point(&step);
                }
                Err(StepError::Stop(s)) => return Err(s),
                Err(StepError::Denied(why)) => {
                    self.deny(why).await?;
                    return Ok(Driven::Ended(Outcome::Failed));
                }
                Err(StepError::Abandoned(why)) => {
                    self.abandon(why).await?;
                    return Ok(Driven::Ended(Outcome::Abandoned));
                }
                Err(StepError::Failed(why)) => {
                    self.row.attempts += 1;
                    self.row.last_error = format!("step {step}: {why}");
                    if self.row.attempts >= i64::from(self.cfg.max_attempts) {
                        self.fail().await?;
                        return Ok(Driven::Ended(Outcome::Failed));
                    }
                    tracing::warn!(path = %self.row.path, step = %step, attempts = self.row.attempts,
                        error = %self.row.last_error, "rotation step failed; retrying with backoff");
                    self.row.claim_epoch = None;
                    self.row.due_at = Some(self.now() + crate::core::leases::backoff_ms(self.row.attempts));
                    self.save().await?;
                    return Ok(Driven::Waiting);
                }
            }
        }
    }

    async fn run_step(&mut self, step: &str) -> Result<(), StepError> {
        match step {
            "create" => self.create().await,
            "set" => self.set().await,
            "test" => self.test().await,
            "finish" => self.finish().await,
            other => Err(StepError::Failed(format!("unknown step {other:?}"))),
        }
    }

    /// Refuses a side effect on the target once this node no longer leads (a paused ex-leader
    /// must not act on a rotation the new leader may be running).
    fn check_lead(&self) -> Result<(), StepError> {
        match self.host.fence() {
            Some(f) if f.epoch == self.fence.epoch => Ok(()),
            _ => Err(StepError::Stop(Stop::Lost)),
        }
    }

    fn webhook_call<'b>(&'b self, step: &'b str) -> (webhook::Call<'b>, Option<webhook::Hook<'b>>) {
        let call = webhook::Call {
            step,
            mount: &self.host.mount().api_path,
            path: &self.row.path,
            version_token: &self.row.version_token,
        };
        let hook = match &self.cfg.rotator {
            Rotator::Webhook { url, hmac_key, ca_pem } => Some(webhook::Hook { url, key: hmac_key, ca_pem }),
            _ => None,
        };
        (call, hook)
    }

    async fn call_hook(&self, step: &str) -> Result<Option<Map<String, Value>>, StepError> {
        let (call, hook) = self.webhook_call(step);
        let Some(hook) = hook else { return Ok(None) };
        let permit = match self.host.outbound_permit(hook.url).await {
            Ok(Ok(p)) => p,
            Ok(Err(Refusal::Final(why))) => {
                return Err(StepError::Denied(format!("rotation stopped: the webhook URL is not allowed: {why}")))
            }
            Ok(Err(refused)) => return Err(StepError::Failed(format!("webhook step {step}: {refused}"))),
            Err(e) => return Err(StepError::Failed(e.errors.join("; "))),
        };
        webhook::call(&hook, &permit, &call).await.map_err(StepError::Failed)
    }

    /// The database connection of a `postgres` rotator, for a step that uses it: each action
    /// checks that the authority holds and the roles are ones a rotator may change.
    fn database<'a>(
        &'a self,
        db_mount: &'a str,
        db_name: &'a str,
        usernames: &'a [String],
    ) -> postgres::Connection<'a> {
        postgres::Connection { authority: self.cfg.authorized_by.as_ref(), db_mount, db_name, usernames }
    }

    /// The new secret data, from the rotator.
    async fn make_value(&self, current: &Map<String, Value>) -> Result<Map<String, Value>, StepError> {
        match &self.cfg.rotator {
            Rotator::Password { policy, fields } => {
                let policy = config::policy_name(self.host, policy).await.map_err(failed)?;
                let mut next = current.clone();
                for f in fields {
                    let pw = self.host.generate_password(&policy).await.map_err(failed)?;
                    next.insert(f.clone(), Value::String(pw.to_string()));
                }
                Ok(next)
            }
            Rotator::Postgres { db_mount, db_name, strategy, usernames } => {
                let policy = self.database(db_mount, db_name, usernames).check(self.host).await.map_err(denied)?;
                let user = postgres::next_user(*strategy, usernames, current).map_err(StepError::Failed)?;
                let pw = self.host.generate_password(&policy).await.map_err(failed)?;
                let mut next = current.clone();
                next.insert("username".into(), Value::String(user));
                next.insert("password".into(), Value::String(pw.to_string()));
                Ok(next)
            }
            Rotator::Webhook { .. } => {
                self.check_lead()?;
                self.call_hook("create")
                    .await?
                    .ok_or_else(|| StepError::Failed("webhook step create returned no data".into()))
            }
        }
    }

    /// create: unless done, make the new value, save it (encrypted), then write it as `pending`
    /// with the rotation's token; a repeat of that write returns the same version.
    async fn create(&mut self) -> Result<(), StepError> {
        let (mount_id, path, token) =
            (self.row.mount_id.clone(), self.row.path.clone(), self.row.version_token.clone());
        let value: Map<String, Value> = match &self.row.new_value {
            Some(blob) => {
                let plain = self.host.barrier().open(blob, value_context(&mount_id, &path, &token)).map_err(failed)?;
                crate::base::stored::parse_bytes("rotation pending value", &plain)
                    .map_err(|e| failed(e.errors.join("; ")))?
            }
            None => {
                let (version, current) = stages::read_stage(self.host, &path, CURRENT)
                    .await
                    .map_err(failed)?
                    .ok_or_else(|| StepError::Failed("the secret has no current version".into()))?;
                if Some(version) != self.row.from_version {
                    return Err(StepError::Abandoned(format!(
                        "current moved from version {} to {version} before the new value was made",
                        self.row.from_version.unwrap_or(0)
                    )));
                }
                let value = self.make_value(&current).await?;
                let plain = Zeroizing::new(serde_json::to_vec(&value).map_err(failed)?);
                let (blob, _) =
                    self.host.barrier().seal(value_context(&mount_id, &path, &token), &plain).map_err(failed)?;
                self.row.new_value = Some(blob);
                self.claim();
                self.save().await.map_err(StepError::Stop)?;
                value
            }
        };
        let version = stages::write_version(self.host, &path, &value, &[PENDING], Some(&token))
            .await
            .map_err(|e| StepError::Failed(format!("cannot write the pending version: {}", e.errors.join("; "))))?;
        crash_point("create-written");
        self.row.pending_version = Some(version);
        self.row.new_value = None;
        Ok(())
    }

    /// The data of the pending version this rotation wrote; abandoned if `pending` is elsewhere.
    async fn pending_data(&self) -> Result<Map<String, Value>, StepError> {
        let mine = self.row.pending_version;
        match stages::read_stage(self.host, &self.row.path, PENDING).await.map_err(failed)? {
            Some((v, data)) if Some(v) == mine => Ok(data),
            Some((v, _)) => Err(StepError::Abandoned(format!("pending was moved to version {v}"))),
            None => Err(StepError::Abandoned("pending was removed (a new current version was written)".into())),
        }
    }

    /// set: apply the pending value to the target.
    async fn set(&mut self) -> Result<(), StepError> {
        let pending = self.pending_data().await?;
        self.check_lead()?;
        match &self.cfg.rotator {
            Rotator::Password { .. } => Ok(()),
            Rotator::Postgres { db_mount, db_name, strategy, usernames } => {
                let (user, password) = postgres::credentials(&pending, usernames).map_err(StepError::Failed)?;
                if *strategy == Strategy::Alternating {
                    // Never change the password of the role clients on `current` use.
                    let current = stages::read_stage(self.host, &self.row.path, CURRENT).await.map_err(failed)?;
                    let in_use = current.as_ref().and_then(|(_, d)| d.get("username")).and_then(Value::as_str);
                    if in_use == Some(user) {
                        return Err(StepError::Failed(format!("role {user:?} is the one current uses")));
                    }
                }
                self.database(db_mount, db_name, usernames)
                    .set_password(self.host, user, password)
                    .await
                    .map_err(denied)
            }
            Rotator::Webhook { .. } => self.call_hook("set").await.map(drop),
        }
    }

    /// test: prove the pending value works.
    async fn test(&mut self) -> Result<(), StepError> {
        let pending = self.pending_data().await?;
        match &self.cfg.rotator {
            Rotator::Password { fields, .. } => {
                for f in fields {
                    if pending.get(f).and_then(Value::as_str).is_none_or(str::is_empty) {
                        return Err(StepError::Failed(format!("the pending version has no value for {f:?}")));
                    }
                }
                Ok(())
            }
            Rotator::Postgres { db_mount, db_name, usernames, .. } => {
                let (user, password) = postgres::credentials(&pending, usernames).map_err(StepError::Failed)?;
                self.database(db_mount, db_name, usernames).log_in(self.host, user, password).await.map_err(denied)
            }
            Rotator::Webhook { .. } => {
                self.check_lead()?;
                self.call_hook("test").await.map(drop)
            }
        }
    }

    /// finish: (webhook: tell the hook, then) move `current` to the pending version, which moves
    /// `previous` too, and drop `pending`. Each move is a compare-and-set; a repeat skips what is
    /// done.
    async fn finish(&mut self) -> Result<(), StepError> {
        let Some(pv) = self.row.pending_version else {
            return Err(StepError::Failed("no pending version was recorded".into()));
        };
        let labels = stages::stages(self.host, &self.row.path).await.map_err(failed)?;
        let holder = |l: &str| labels.iter().find(|(s, _)| s == l).map(|(_, v)| *v);
        if holder(CURRENT) != Some(pv) {
            if holder(PENDING) != Some(pv) {
                return Err(StepError::Abandoned("pending was removed (a new current version was written)".into()));
            }
            if matches!(self.cfg.rotator, Rotator::Webhook { .. }) {
                self.check_lead()?;
                self.call_hook("finish").await?;
            }
            self.check_lead()?;
            stages::move_stage(self.host, &self.row.path, CURRENT, Some(pv), self.row.from_version).await.map_err(
                |e| {
                    if e.status == http::StatusCode::CONFLICT {
                        StepError::Abandoned(format!("current moved during the rotation: {}", e.errors.join("; ")))
                    } else {
                        StepError::Failed(format!("cannot move current: {}", e.errors.join("; ")))
                    }
                },
            )?;
            crash_point("finish-current");
        }
        self.drop_pending(pv).await.map_err(StepError::Failed)
    }

    /// Removes `pending` from `pv` if it is still there.
    async fn drop_pending(&self, pv: i64) -> Result<(), String> {
        let labels = stages::stages(self.host, &self.row.path).await.map_err(|e| e.to_string())?;
        if !labels.iter().any(|(s, v)| s == PENDING && *v == pv) {
            return Ok(());
        }
        match stages::move_stage(self.host, &self.row.path, PENDING, None, Some(pv)).await {
            Ok(()) => Ok(()),
            // Someone moved it meanwhile: it is not ours to remove any more.
            Err(e) if e.status == http::StatusCode::CONFLICT => Ok(()),
            Err(e) => Err(format!("cannot remove pending: {}", e.errors.join("; "))),
        }
    }

    /// Clears the in-flight fields of an ended rotation.
    fn end(&mut self, outcome: Outcome, now: i64) {
        self.row.step.clear();
        self.row.step_done = false;
        self.row.new_value = None;
        self.row.claim_epoch = None;
        self.row.last_outcome = outcome.as_str().into();
        self.advance(now);
    }

    async fn succeed(&mut self) -> Result<(), Stop> {
        let now = self.now();
        self.row.last_rotated_at = Some(now);
        self.row.last_error.clear();
        self.row.succeeded += 1;
        self.end(Outcome::Succeeded, now);
        self.save_ended().await?;
        self.event("rotation.succeeded", json!({}));
        crash_point("finish");
        Ok(())
    }

    /// Out of attempts: `current` stays; a single-user role whose password may have been changed
    /// gets the current password back; `pending` is removed from the version this rotation wrote.
    async fn fail(&mut self) -> Result<(), Stop> {
        let mut why = self.row.last_error.clone();
        if let Rotator::Postgres { db_mount, db_name, strategy: Strategy::Single, usernames } = &self.cfg.rotator {
            if self.row.step != "create" {
                if let Err(e) = self.restore_single(db_mount, db_name, usernames).await {
                    why.push_str(&format!("; restoring the current password failed: {e}"));
                }
            }
        }
        if let Some(pv) = self.row.pending_version {
            if let Err(e) = self.drop_pending(pv).await {
                why.push_str(&format!("; {e}"));
            }
        }
        self.row.failed += 1;
        self.row.last_error = why.clone();
        self.end(Outcome::Failed, self.now());
        self.save_ended().await?;
        tracing::warn!(path = %self.row.path, error = %why, "rotation failed; current is unchanged");
        self.event("rotation.failed", json!({ "error": why }));
        Ok(())
    }

    async fn restore_single(&self, db_mount: &str, db_name: &str, usernames: &[String]) -> Result<(), String> {
        let (_, current) = stages::read_stage(self.host, &self.row.path, CURRENT)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the secret has no current version")?;
        let (user, password) = postgres::credentials(&current, usernames)?;
        self.database(db_mount, db_name, usernames)
            .set_password(self.host, user, password)
            .await
            .map_err(|d| d.to_string())
    }

    /// Stops scheduling with a visible error: the row stays (a read shows `stopped` and the
    /// error) and is not due again until the configuration is written anew.
    fn stop_schedule(&mut self, why: String) {
        tracing::warn!(path = %self.row.path, error = %why, "rotation stopped");
        self.row.last_error = why.clone();
        self.row.claim_epoch = None;
        self.row.next_rotation_at = None;
        self.row.fire_at = None;
        self.row.due_at = None;
        self.event("rotation.stopped", json!({ "error": why }));
    }

    /// The rotation may no longer act on its target: nothing more is done to the target (no
    /// restore either), `pending` is removed from this rotation's version, and scheduling stops.
    async fn deny(&mut self, why: String) -> Result<(), Stop> {
        if let Some(pv) = self.row.pending_version {
            let _ = self.drop_pending(pv).await;
        }
        self.row.failed += 1;
        self.end(Outcome::Failed, self.now());
        self.stop_schedule(why);
        self.save_ended().await
    }

    /// The secret changed under the rotation: nothing of it is touched but the `pending` label
    /// this rotation put on its own version.
    async fn abandon(&mut self, why: String) -> Result<(), Stop> {
        if let Some(pv) = self.row.pending_version {
            let _ = self.drop_pending(pv).await;
        }
        self.row.abandoned += 1;
        self.row.last_error = why.clone();
        self.end(Outcome::Abandoned, self.now());
        self.save_ended().await?;
        tracing::info!(path = %self.row.path, reason = %why, "rotation abandoned");
        self.event("rotation.abandoned", json!({ "reason": why }));
        Ok(())
    }
}

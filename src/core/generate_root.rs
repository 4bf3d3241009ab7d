//! Generate root (issue 19 part 3): share holders make a new root token when every root token
//! was revoked. Off unless `[seal] generate_root = true`. One attempt per node, in memory,
//! dropped at seal and [`attempt::MAX_AGE`] after its start. Anyone may start one (no
//! root token may exist); only the holder of its nonce may add shares to it or cancel it
//! (SEC-19). Every start, update and cancel is audited, without the share, the one-time
//! password, the nonce or the token, and rate-limited per node.

pub mod attempt;
mod limit;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use secrecy::ExposeSecret;
use serde_json::json;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::base::error::ApiError;
use crate::core::seal::{self, KeysError};
use crate::core::tokens::TokenStore;
use crate::core::Core;
use crate::crypto::shamir;
use attempt::{Attempt, OTP_LENGTH};
use limit::{Limit, Verdict};

/// Starts allowed per minute on one node.
pub const STARTS_PER_MINUTE: u64 = 5;
/// Updates and cancels allowed per minute on one node.
pub const UPDATES_PER_MINUTE: u64 = 50;

/// What an answer shows of the attempt.
#[derive(Default)]
pub struct Status {
    /// An attempt is in progress (or just completed).
    pub started: bool,
    /// The nonce, only in answers to whoever holds it (the start and the updates).
    pub nonce: String,
    /// Shares submitted.
    pub progress: usize,
    /// Shares needed: the seal's current threshold.
    pub required: u64,
    /// The new root token was made.
    pub complete: bool,
    /// The new token XOR the OTP, base64 without padding, once complete.
    pub encoded_token: String,
    /// The OTP when the server made it, in the answer to the start only.
    pub otp: Zeroizing<String>,
    /// Length the OTP must have.
    pub otp_length: usize,
}

impl std::fmt::Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Status")
            .field("started", &self.started)
            .field("progress", &self.progress)
            .field("required", &self.required)
            .field("complete", &self.complete)
            .finish_non_exhaustive()
    }
}

impl Status {
    fn idle(required: u64) -> Self {
        Self { required, otp_length: OTP_LENGTH, ..Self::default() }
    }
}

/// The generate-root state of this node.
pub struct GenerateRoot {
    enabled: AtomicBool,
    attempt: Mutex<Option<Attempt>>,
    starts: Limit,
    updates: Limit,
}

impl Default for GenerateRoot {
    fn default() -> Self {
        Self {
            enabled: AtomicBool::new(false),
            attempt: Mutex::new(None),
            starts: Limit::per_minute(STARTS_PER_MINUTE),
            updates: Limit::per_minute(UPDATES_PER_MINUTE),
        }
    }
}

/// The seal's threshold once the server can take an attempt: unsealed, with a Shamir seal.
async fn ready(core: &Core) -> Result<u64, ApiError> {
    if core.barrier.is_sealed() {
        return Err(ApiError::sealed());
    }
    let config = core.seal.config(core).await?.ok_or_else(|| ApiError::bad_request("Vault is not initialized"))?;
    if config.kind != "shamir" {
        return Err(ApiError::bad_request(
            "generate-root needs unseal key shares, and this server uses a key-file seal",
        ));
    }
    Ok(config.secret_threshold.max(1))
}

/// The answer when the shares combine to something that is not the unseal key.
fn wrong_shares() -> ApiError {
    ApiError::bad_request(
        "root generation aborted: invalid key: the shares do not open the stored root key; \
         the attempt goes on from no shares",
    )
}

/// Records one call on the audit devices: what was asked and how it ended, never a value.
fn record(core: &Core, operation: &str, client: Option<IpAddr>, outcome: Result<&Status, &ApiError>) {
    let mut ev = json!({
        "operation": operation,
        "remote_address": client.map(|c| c.to_string()).unwrap_or_default(),
    });
    let fields = match outcome {
        Ok(s) => json!({"outcome": "ok", "progress": s.progress, "required": s.required, "complete": s.complete}),
        Err(e) => json!({"outcome": "refused", "status": e.status.as_u16(), "errors": e.errors}),
    };
    if let (Some(ev), serde_json::Value::Object(f)) = (ev.as_object_mut(), fields) {
        ev.extend(f);
    }
    core.audit.event("generate_root", ev);
}

impl GenerateRoot {
    /// Turns the endpoints on or off (`[seal] generate_root`).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// True when the endpoints are served.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Drops the attempt (at seal).
    pub async fn clear(&self) {
        *self.attempt.lock().await = None;
    }

    /// Counts one call against `limit`; 429 when over it (the first refusal of a window is
    /// audited, the rest are not, so that a flood cannot flood the audit log).
    fn admit(&self, core: &Core, limit: &Limit, operation: &str, client: Option<IpAddr>) -> Result<(), ApiError> {
        match limit.count(Instant::now()) {
            Verdict::Allowed => Ok(()),
            Verdict::Refused { first, retry_after } => {
                let mut e = ApiError::new(
                    http::StatusCode::TOO_MANY_REQUESTS,
                    format!("generate-root {operation}: rate limit exceeded on this node; retry later"),
                );
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                e.retry_after = Some(u32::try_from(secs.max(1)).unwrap_or(u32::MAX));
                if first {
                    tracing::warn!(operation, "generate-root rate limit reached on this node");
                    record(core, operation, client, Err(&e));
                }
                Err(e)
            }
        }
    }

    /// Drops an attempt that was idle too long.
    fn expire(core: &Core, slot: &mut Option<Attempt>) {
        if slot.as_ref().is_some_and(|a| a.expired(core.clock.now())) {
            *slot = None;
            core.audit.event("generate_root", json!({"operation": "expire", "outcome": "ok"}));
        }
    }

    /// `GET attempt`: whether an attempt runs and its progress, never its nonce.
    pub async fn status(&self, core: &Core) -> Result<Status, ApiError> {
        let required = ready(core).await?;
        let mut slot = self.attempt.lock().await;
        Self::expire(core, &mut slot);
        Ok(match slot.as_ref() {
            Some(a) => Status { started: true, progress: a.progress(), ..Status::idle(required) },
            None => Status::idle(required),
        })
    }

    /// `PUT attempt`: starts an attempt with the caller's OTP, or one the server makes and
    /// returns (`otp` empty or absent).
    pub async fn start(
        &self,
        core: &Core,
        otp: Option<Zeroizing<String>>,
        client: Option<IpAddr>,
    ) -> Result<Status, ApiError> {
        self.admit(core, &self.starts, "start", client)?;
        let result = self.start_inner(core, otp).await;
        record(core, "start", client, result.as_ref());
        if result.is_ok() {
            tracing::info!("root generation started");
        }
        result
    }

    async fn start_inner(&self, core: &Core, otp: Option<Zeroizing<String>>) -> Result<Status, ApiError> {
        let required = ready(core).await?;
        let (otp, generated) = match otp.filter(|o| !o.is_empty()) {
            Some(o) if o.len() == OTP_LENGTH => (o, false),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "OTP string is wrong length: it must have {OTP_LENGTH} characters (otp_length)"
                )))
            }
            None => (attempt::generate_otp(), true),
        };
        let mut slot = self.attempt.lock().await;
        Self::expire(core, &mut slot);
        if slot.is_some() {
            return Err(ApiError::bad_request("root generation already in progress"));
        }
        let a = Attempt::new(otp.clone(), core.clock.now());
        let nonce = a.nonce().to_string();
        *slot = Some(a);
        Ok(Status {
            started: true,
            nonce,
            otp: if generated { otp } else { Zeroizing::default() },
            ..Status::idle(required)
        })
    }

    /// `PUT update`: adds one share to the attempt whose nonce the caller gives; at the
    /// threshold, checks that the shares open the stored root key and makes a new root token.
    pub async fn update(
        &self,
        core: &Core,
        key: &str,
        nonce: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<Status, ApiError> {
        self.admit(core, &self.updates, "update", client)?;
        let result = self.update_inner(core, key, nonce).await;
        record(core, "update", client, result.as_ref());
        match &result {
            Ok(s) if s.complete => tracing::info!("root generation complete: a new root token was made"),
            Err(e) if e.status == http::StatusCode::FORBIDDEN => {
                tracing::warn!("generate-root update refused: wrong or missing nonce")
            }
            _ => {}
        }
        result
    }

    async fn update_inner(&self, core: &Core, key: &str, nonce: Option<&str>) -> Result<Status, ApiError> {
        let required = ready(core).await?;
        let mut slot = self.attempt.lock().await;
        Self::expire(core, &mut slot);
        let Some(a) = slot.as_mut() else {
            return Err(ApiError::bad_request("no root generation in progress"));
        };
        if !nonce.is_some_and(|n| a.nonce_matches(n)) {
            return Err(ApiError::permission_denied());
        }
        let part = seal::decode_share(key)?;
        if !a.add(part) {
            return Err(ApiError::bad_request("given key has already been provided during this generation operation"));
        }
        let nonce = a.nonce().to_string();
        let progress = a.progress();
        if (progress as u64) < required {
            return Ok(Status { started: true, nonce, progress, ..Status::idle(required) });
        }
        let parts = a.take_parts();
        let unseal_key = shamir::combine(&parts, required).map_err(|_| wrong_shares())?;
        drop(parts);
        match seal::open_stored_keys(core.store.as_ref(), &unseal_key).await {
            Ok(_keys) => {}
            Err(KeysError::WrongKey) => return Err(wrong_shares()),
            Err(e) => return Err(ApiError::internal(&e)),
        }
        let token = TokenStore::generate();
        let encoded =
            a.encode(token.expose_secret()).ok_or_else(|| ApiError::internal(&"token and OTP lengths differ"))?;
        core.tokens.create_root(&core.store, &token, core.clock.now()).await?;
        *slot = None;
        Ok(Status { started: true, nonce, progress, complete: true, encoded_token: encoded, ..Status::idle(required) })
    }

    /// `DELETE attempt`: cancels the attempt whose nonce the caller gives (nothing to do when
    /// none runs).
    pub async fn cancel(&self, core: &Core, nonce: Option<&str>, client: Option<IpAddr>) -> Result<(), ApiError> {
        self.admit(core, &self.updates, "cancel", client)?;
        let result = self.cancel_inner(core, nonce).await;
        match &result {
            Ok(required) => record(core, "cancel", client, Ok(&Status::idle(*required))),
            Err(e) => record(core, "cancel", client, Err(e)),
        }
        if result.is_ok() {
            tracing::info!("root generation canceled");
        }
        result.map(|_| ())
    }

    async fn cancel_inner(&self, core: &Core, nonce: Option<&str>) -> Result<u64, ApiError> {
        let required = ready(core).await?;
        let mut slot = self.attempt.lock().await;
        Self::expire(core, &mut slot);
        if let Some(a) = slot.as_ref() {
            if !nonce.is_some_and(|n| a.nonce_matches(n)) {
                return Err(ApiError::permission_denied());
            }
        }
        *slot = None;
        Ok(required)
    }
}

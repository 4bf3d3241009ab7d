//! `POST login/<name> {password}` with a persistent lockout: after `lockout_threshold` failures
//! (default 5) the user is locked for `lockout_duration` (default 15m); both can be set in the
//! mount's options (`sys/auth/<path>` or its `tune`), `lockout_threshold` 0 turns it off. The
//! state lives in the store (a restart keeps it, SEC-14) and is read, checked and updated under
//! the per-user login lock, so parallel bad logins never count past the threshold (SEC-17).
//! Every failure (unknown user, wrong password, locked user) does one Argon2 verification and one
//! store write and gets the same 400 (SEC-16).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::users::User;
use super::{lockout_kind, login_lock_scope};
use crate::auth::common;
use crate::auth::common::store_err;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::names::{self, Case};
use crate::base::params;
use crate::core::engine::Call;
use crate::crypto::password_hash::DUMMY_HASH;

/// Failures before a lockout, by default.
pub const DEFAULT_THRESHOLD: u64 = 5;
/// Lockout length, seconds, by default.
pub const DEFAULT_DURATION: u64 = 900;
/// Entry written on a failed login for an unknown user (no valid username contains `/`): the
/// same write a known user's failure costs, without storing anything per unknown name.
const UNKNOWN_SENTINEL: &str = "/unknown";

/// The lockout state of one user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockout {
    /// Failed logins counted (never more than the threshold).
    pub failures: u64,
    /// Unix seconds of the last failure.
    pub last_failure: i64,
    /// Unix seconds until which logins are refused; `None` = not locked.
    pub locked_until: Option<i64>,
}

/// Lockout settings of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutConfig {
    /// Failures that lock the user; 0 = never.
    pub threshold: u64,
    /// Seconds the lock lasts.
    pub duration: i64,
    /// Seconds without a failure after which the counter starts again.
    pub counter_reset: i64,
}

impl LockoutConfig {
    /// Reads `lockout_threshold`, `lockout_duration`, `lockout_counter_reset` and
    /// `lockout_disable` from the mount's stored options JSON (unparsable values keep the
    /// defaults; options that are not JSON at all are a 500).
    pub fn from_options(options: &str) -> Result<Self, ApiError> {
        let opts: Map<String, Value> = crate::base::stored::parse("mount options", options)?;
        let secs = |k: &str, default: u64| {
            let v = params::duration_field(&opts, k).ok().flatten().filter(|v| *v > 0).unwrap_or(default);
            i64::try_from(v).unwrap_or(i64::MAX / 2)
        };
        let disabled = params::bool_field(&opts, "lockout_disable").ok().flatten().unwrap_or(false);
        let threshold = params::u64_field(&opts, "lockout_threshold").ok().flatten().unwrap_or(DEFAULT_THRESHOLD);
        let duration = secs("lockout_duration", DEFAULT_DURATION);
        Ok(Self {
            threshold: if disabled { 0 } else { threshold },
            duration,
            counter_reset: secs("lockout_counter_reset", u64::try_from(duration).unwrap_or(DEFAULT_DURATION)),
        })
    }
}

impl Lockout {
    /// The state as of `now`: an expired lock or a stale counter starts over.
    pub fn current(mut self, cfg: &LockoutConfig, now: i64) -> Self {
        match self.locked_until {
            Some(t) if t <= now => self = Self::default(),
            None if self.failures > 0 && now.saturating_sub(self.last_failure) >= cfg.counter_reset => {
                self = Self::default()
            }
            _ => {}
        }
        self
    }

    /// True while logins are refused.
    pub fn locked(&self) -> bool {
        self.locked_until.is_some()
    }

    /// Counts one failure (nothing while locked, so the counter never passes the threshold).
    pub fn fail(&mut self, cfg: &LockoutConfig, now: i64) {
        if self.locked() || cfg.threshold == 0 {
            return;
        }
        self.failures = self.failures.saturating_add(1);
        self.last_failure = now;
        if self.failures >= cfg.threshold {
            self.locked_until = Some(now.saturating_add(cfg.duration));
        }
    }
}

fn invalid() -> ApiError {
    ApiError::bad_request("invalid username or password")
}

/// `POST login/<name>`.
pub async fn login(call: &Call<'_>, raw_name: &str, req: &Request) -> Result<Response, ApiError> {
    let Some(password) = params::str_field(&req.data, "password")?.filter(|p| !p.is_empty()) else {
        // OpenBao: 500 "missing password", whoever the user is.
        return Err(ApiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, "missing password"));
    };
    let password = Zeroizing::new(password.to_string());
    // A name not in its normal form is refused for its spelling alone, before any user is looked
    // up: the answer is the same whether or not a user of a similar name exists (SEC-33).
    let name = names::check("username", raw_name, Case::Lower)?.to_string();
    let store = call.host.storage();
    let kind = lockout_kind(call);
    let cfg = LockoutConfig::from_options(&call.mount.row.options)?;
    let scope = login_lock_scope(call);
    // The Argon2 place first: logins waiting for this user's lock count against the queue.
    let place = call.host.hashing().reserve()?;
    let guard =
        call.host.locks().lock(&scope, &name).await.ok_or_else(|| ApiError::internal(&"login lock unavailable"))?;

    let user = User::load(call, &name).await?;
    let stored: Option<Lockout> = store
        .entry_get(&kind, &name)
        .await
        .map_err(store_err)?
        .map(|raw| crate::base::stored::parse("userpass lockout", &raw))
        .transpose()?;
    let now = call.host.now().timestamp();
    let mut state = stored.clone().unwrap_or_default().current(&cfg, now);
    let locked = state.locked();
    let phc = user.as_ref().map_or_else(|| DUMMY_HASH.to_string(), |u| u.password_hash.clone());
    let matched = call.host.hashing().verify_in(place, password, phc).await?;

    match user {
        Some(u) if matched && !locked => {
            if stored.is_some() {
                store.entry_delete(&kind, &name).await.map_err(store_err)?;
            }
            drop(guard);
            let mut meta = Map::new();
            meta.insert("username".into(), Value::String(name.clone()));
            common::login(call, &u.token, &name, meta).await
        }
        Some(_) => {
            state.fail(&cfg, now);
            let text = serde_json::to_string(&state).map_err(|e| ApiError::internal(&e))?;
            store.entry_put(&kind, &name, &text).await.map_err(store_err)?;
            Err(invalid())
        }
        None => {
            let text = serde_json::to_string(&Lockout::default()).map_err(|e| ApiError::internal(&e))?;
            store.entry_put(&kind, UNKNOWN_SENTINEL, &text).await.map_err(store_err)?;
            Err(invalid())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_options() {
        let d = LockoutConfig::from_options("{}").unwrap();
        assert_eq!(d, LockoutConfig { threshold: 5, duration: 900, counter_reset: 900 });
        let c = LockoutConfig::from_options(r#"{"lockout_threshold":"3","lockout_duration":"1m"}"#).unwrap();
        assert_eq!(c, LockoutConfig { threshold: 3, duration: 60, counter_reset: 60 });
        assert_eq!(LockoutConfig::from_options(r#"{"lockout_disable":"true"}"#).unwrap().threshold, 0);
        // Options that are not JSON are refused, never read as the defaults.
        assert_eq!(LockoutConfig::from_options("not json").unwrap_err().status.as_u16(), 500);
    }

    #[test]
    fn counter_stops_at_threshold_and_lock_expires() {
        let cfg = LockoutConfig { threshold: 5, duration: 900, counter_reset: 900 };
        let mut s = Lockout::default();
        for i in 0..50 {
            s = s.current(&cfg, 1000 + i);
            s.fail(&cfg, 1000 + i);
            assert!(s.failures <= 5);
        }
        assert!(s.locked());
        assert_eq!(s.failures, 5);
        assert_eq!(s.locked_until, Some(1004 + 900));
        assert!(s.clone().current(&cfg, 1903).locked());
        assert_eq!(s.current(&cfg, 1904), Lockout::default());
    }

    #[test]
    fn stale_counter_resets() {
        let cfg = LockoutConfig { threshold: 5, duration: 900, counter_reset: 900 };
        let s = Lockout { failures: 3, last_failure: 0, locked_until: None };
        assert_eq!(s.clone().current(&cfg, 899).failures, 3);
        assert_eq!(s.current(&cfg, 900).failures, 0);
    }

    #[test]
    fn disabled_lockout_never_locks() {
        let cfg = LockoutConfig { threshold: 0, duration: 900, counter_reset: 900 };
        let mut s = Lockout::default();
        for _ in 0..10 {
            s.fail(&cfg, 1);
        }
        assert!(!s.locked());
    }
}

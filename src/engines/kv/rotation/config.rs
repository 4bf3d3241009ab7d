//! A secret's rotation configuration: the schedule, the window, the retry budget and the rotator,
//! parsed from `POST <mount>/rotation/<path>` with a clear 400 for every mistake, stored encrypted
//! under the barrier (the webhook's HMAC key is inside, write-only), and described for reads
//! without the key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use crate::crypto::barrier::{Context, Sealed};

use super::authority::{self, Authority};
use crate::base::error::ApiError;
use crate::base::params;
use crate::base::schedule::Schedule;
use crate::core::engine::{Actor, Host};
use crate::core::tokens::TokenEntry;

/// Attempts of one rotation when the configuration does not say.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Most attempts a configuration may ask for.
pub const MAX_ATTEMPTS_LIMIT: u32 = 20;
/// Shortest period between rotations.
pub const MIN_PERIOD_SECS: u64 = 60;
/// The database mount the `postgres` rotator uses when the configuration names none.
pub const DEFAULT_DB_MOUNT: &str = "database/";
/// Shortest webhook HMAC key, in bytes.
pub use crate::core::outbound::signed::MIN_HMAC_KEY_LEN;

/// A webhook's shared secret (zeroed on drop, never in `Debug`): the core's, which alert
/// webhooks use too.
pub use crate::core::outbound::HmacKey;

/// How a `postgres` rotator changes passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// One role whose password changes in place.
    Single,
    /// Two roles; each rotation sets the password of the one `current` does not name.
    Alternating,
}

/// What makes the new value and applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Rotator {
    /// New values for `fields` from a password policy; other fields carry over.
    Password {
        /// Password policy name (empty: the default policy).
        policy: String,
        /// The fields that get new values.
        fields: Vec<String>,
    },
    /// A PostgreSQL role's password, through a connection of the database engine.
    Postgres {
        /// The API path of the database mount (`database/`).
        db_mount: String,
        /// The connection (`<db_mount>config/<db_name>`).
        db_name: String,
        /// Single or alternating.
        strategy: Strategy,
        /// One role (single) or two (alternating).
        usernames: Vec<String>,
    },
    /// An external system that implements the four steps over HTTPS.
    Webhook {
        /// Where steps are POSTed.
        url: String,
        /// The signing key (write-only).
        hmac_key: HmacKey,
        /// PEM CA bundle that replaces the built-in roots (empty: the built-in roots).
        #[serde(default)]
        ca_pem: String,
    },
}

impl Rotator {
    /// The type name.
    pub fn kind(&self) -> &'static str {
        match self {
            Rotator::Password { .. } => "password",
            Rotator::Postgres { .. } => "postgres",
            Rotator::Webhook { .. } => "webhook",
        }
    }

    /// The rotator as reads show it: everything but the HMAC key.
    pub fn describe(&self) -> Value {
        match self {
            Rotator::Password { policy, fields } => json!({"type": "password", "policy": policy, "fields": fields}),
            Rotator::Postgres { db_mount, db_name, strategy, usernames } => {
                let mut v = json!({"type": "postgres", "db_mount": db_mount, "db_name": db_name, "strategy": strategy});
                match strategy {
                    Strategy::Single => crate::base::json::set(&mut v, "username", json!(usernames.first())),
                    Strategy::Alternating => crate::base::json::set(&mut v, "usernames", json!(usernames)),
                }
                v
            }
            Rotator::Webhook { url, ca_pem, .. } => {
                let mut v = json!({"type": "webhook", "url": url});
                if !ca_pem.is_empty() {
                    crate::base::json::set(&mut v, "ca_pem", json!(ca_pem));
                }
                v
            }
        }
    }
}

/// A secret's rotation configuration as stored (encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationConfig {
    /// The schedule as given (`rate(30 days)`, `cron(0 4 * * ? *)`, `720h`, a five-field cron).
    pub schedule: String,
    /// Seconds after each scheduled time within which the rotation starts, at random.
    pub window: u64,
    /// Attempts before a rotation is marked failed.
    pub max_attempts: u32,
    /// The rotator.
    pub rotator: Rotator,
    /// Who authorised a rotator that acts on another engine's target (`postgres`); checked
    /// again before every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_by: Option<Authority>,
}

impl RotationConfig {
    /// The parsed schedule (checked when the configuration was written).
    pub fn parsed_schedule(&self) -> Result<Schedule, String> {
        Schedule::parse(&self.schedule)
    }

    /// The configuration as reads show it.
    pub fn describe(&self) -> Value {
        json!({
            "schedule": self.schedule,
            "window": crate::base::duration::format(self.window),
            "max_attempts": self.max_attempts,
            "rotator": self.rotator.describe(),
            "authorized_by": self.authorized_by.as_ref().map_or(Value::Null, Authority::describe),
        })
    }
}

/// The stored password policy a `password` rotator draws from: `policy` itself, except that
/// `default` (or empty) means Vault's built-in default policy unless a policy named `default` is
/// stored.
pub async fn policy_name(host: Host<'_>, policy: &str) -> Result<String, ApiError> {
    if policy == "default" && host.password_policy(policy).await?.is_none() {
        return Ok(String::new());
    }
    Ok(policy.to_string())
}

/// Encrypts a configuration for the row; returns the blob and its key term.
pub fn seal(host: Host<'_>, path: &str, c: &RotationConfig) -> Result<(Sealed, i64), ApiError> {
    let plain = Zeroizing::new(serde_json::to_vec(c).map_err(|e| ApiError::internal(&e))?);
    let mount_id = host.mount().row.id.as_str();
    let (blob, term) =
        host.barrier().seal(Context::RotationConfig { mount_id, path }, &plain).map_err(|e| ApiError::internal(&e))?;
    Ok((blob, i64::from(term)))
}

/// Decrypts a row's configuration.
pub fn open(host: Host<'_>, path: &str, blob: &Sealed) -> Result<RotationConfig, String> {
    let mount_id = host.mount().row.id.as_str();
    let plain = host.barrier().open(blob, Context::RotationConfig { mount_id, path }).map_err(|e| e.to_string())?;
    // Not serde's message: it can quote a value, and the configuration holds credentials.
    crate::base::stored::parse_bytes(&format!("rotation configuration of {path:?}"), &plain)
        .map_err(|e| format!("the stored rotation configuration does not parse: {}", e.errors.join("; ")))
}

/// The next scheduled start after a tick at `after`: the next tick strictly after it (or, when
/// that has passed already, the next one after `now`), plus a random offset inside the window.
/// Returns `(tick, start)` in Unix ms; `None` when the schedule never fires again.
pub fn next_start(schedule: &Schedule, window: u64, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<(i64, i64)> {
    let mut fire = schedule.next_after(after)?;
    if fire <= now {
        fire = schedule.next_after(now)?;
    }
    let start = crate::base::schedule::random_start(fire, window);
    Some((fire.timestamp_millis(), start.timestamp_millis()))
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

/// A PostgreSQL role name taken as written (PostgreSQL allows more than Vault's name pattern): no
/// surrounding whitespace, no control, zero-width or bidi characters. It is refused, never
/// trimmed, so what is checked is what is used.
fn normal_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.starts_with(char::is_whitespace)
        || name.ends_with(char::is_whitespace)
        || crate::base::path_chars::any_forbidden(name)
    {
        return Err(bad(format!(
            "{field} must not start or end with whitespace or contain control, zero-width or bidi characters"
        )));
    }
    Ok(())
}

/// Parses a write. `existing` is the stored configuration (fields left out keep their value; a
/// webhook keeps its HMAC key when the write leaves `hmac_key` out and the URL is unchanged).
pub async fn parse(
    host: Host<'_>,
    caller: &TokenEntry,
    data: &Map<String, Value>,
    existing: Option<&RotationConfig>,
) -> Result<RotationConfig, ApiError> {
    let schedule = match params::str_field(data, "schedule")? {
        Some(s) => s.trim().to_string(),
        None => existing.map(|e| e.schedule.clone()).ok_or_else(|| bad("schedule is required"))?,
    };
    let parsed = Schedule::parse(&schedule).map_err(|e| bad(format!("invalid schedule {schedule:?}: {e}")))?;
    let window = match data.get("window") {
        Some(v) if !v.is_null() => {
            crate::base::duration::parse_value(v).map_err(|e| bad(format!("invalid window: {e}")))?
        }
        _ => existing.map_or(0, |e| e.window),
    };
    if let Schedule::Every(period) = parsed {
        if period < MIN_PERIOD_SECS {
            return Err(bad(format!("invalid schedule {schedule:?}: the period must be at least one minute")));
        }
        if window >= period {
            return Err(bad("window must be shorter than the schedule's period"));
        }
    }
    if parsed.next_after(host.now()).is_none() {
        return Err(bad(format!("invalid schedule {schedule:?}: it never fires")));
    }
    let max_attempts = match params::u64_field(data, "max_attempts")? {
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_ATTEMPTS_LIMIT).contains(n))
            .ok_or_else(|| bad(format!("max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}")))?,
        None => existing.map_or(DEFAULT_MAX_ATTEMPTS, |e| e.max_attempts),
    };
    let rotator = match params::object_field(data, "rotator")? {
        Some(r) => parse_rotator(host, caller, r, existing.map(|e| &e.rotator)).await?,
        None => existing.map(|e| e.rotator.clone()).ok_or_else(|| bad("rotator is required"))?,
    };
    Ok(RotationConfig { schedule, window, max_attempts, rotator, authorized_by: None })
}

/// Refuses fields a rotator type does not have (a typo must not be silently ignored).
fn only(r: &Map<String, Value>, kind: &str, allowed: &[&str]) -> Result<(), ApiError> {
    for key in r.keys() {
        if key != "type" && !allowed.contains(&key.as_str()) {
            return Err(bad(format!("unknown field {key:?} for a {kind} rotator (expected: {})", allowed.join(", "))));
        }
    }
    Ok(())
}

/// A list field of the rotator, `None` when absent; the forms are those of every list field
/// (`params::string_list`).
fn string_list(r: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, ApiError> {
    match r.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => params::string_list(r, key).map(Some),
    }
}

async fn parse_rotator(
    host: Host<'_>,
    caller: &TokenEntry,
    r: &Map<String, Value>,
    existing: Option<&Rotator>,
) -> Result<Rotator, ApiError> {
    let kind = params::str_field(r, "type")?.ok_or_else(|| bad("rotator.type is required"))?;
    match kind {
        "password" => {
            only(r, "password", &["policy", "fields"])?;
            let policy = params::str_field(r, "policy")?.unwrap_or("").trim().to_string();
            if !policy.is_empty() && policy != "default" && host.password_policy(&policy).await?.is_none() {
                return Err(bad(format!("password policy {policy:?} not found")));
            }
            let fields = string_list(r, "fields")?.unwrap_or_else(|| vec!["password".to_string()]);
            if fields.is_empty() || fields.iter().any(String::is_empty) {
                return Err(bad("rotator.fields must name at least one field, and no empty name"));
            }
            let mut sorted = fields.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != fields.len() {
                return Err(bad("rotator.fields names a field twice"));
            }
            Ok(Rotator::Password { policy, fields })
        }
        "postgres" => {
            only(r, "postgres", &["db_mount", "db_name", "strategy", "username", "usernames"])?;
            let db_mount =
                crate::base::names::mount_path(params::str_field(r, "db_mount")?.unwrap_or(DEFAULT_DB_MOUNT))
                    .map_err(|e| bad(format!("rotator.db_mount: {}", e.errors.join("; "))))?;
            let db_name = params::str_field(r, "db_name")?.unwrap_or("").to_string();
            if db_name.is_empty() {
                return Err(bad("rotator.db_name is required for a postgres rotator"));
            }
            crate::base::names::check("rotator.db_name", &db_name, crate::base::names::Case::Exact)?;
            // Before anything is looked up: a caller who may not administer the connection learns
            // nothing about it, not even whether it exists.
            authority::check_caller(host, caller, &authority::connection_path(&db_mount, &db_name)).await?;
            let peer =
                super::postgres::reach(host, &Actor::Token(caller), &db_mount, &db_name).await.map_err(|e| match e
                    .status
                {
                    http::StatusCode::NOT_FOUND => {
                        bad(format!("no database secrets engine is mounted at {db_mount:?}"))
                    }
                    _ => e,
                })?;
            let roles = super::postgres::database_at(&peer, &db_mount).map_err(bad)?;
            if !roles.has_connection(peer.host(), &db_name).await? {
                return Err(bad(format!("database config {db_name:?} not found under {db_mount:?}")));
            }
            let username = params::str_field(r, "username")?.map(str::to_string);
            let usernames = string_list(r, "usernames")?;
            for u in username.iter().chain(usernames.iter().flatten()) {
                normal_name("rotator.username", u)?;
            }
            let strategy = match params::str_field(r, "strategy")? {
                Some("single") => Strategy::Single,
                Some("alternating") => Strategy::Alternating,
                Some(other) => {
                    return Err(bad(format!("unknown strategy {other:?}: expected \"single\" or \"alternating\"")))
                }
                None if usernames.is_some() => Strategy::Alternating,
                None => Strategy::Single,
            };
            let users = match (strategy, username, usernames) {
                (Strategy::Single, Some(u), None) if !u.is_empty() => vec![u],
                (Strategy::Single, _, _) => {
                    return Err(bad("a single-user postgres rotator needs \"username\" (and no \"usernames\")"))
                }
                (Strategy::Alternating, None, Some(us)) if us.len() == 2 && us.iter().all(|u| !u.is_empty()) => {
                    if us.first() == us.get(1) {
                        return Err(bad("the two alternating usernames must differ"));
                    }
                    us
                }
                (Strategy::Alternating, _, _) => {
                    return Err(bad("an alternating postgres rotator needs \"usernames\" with two role names"))
                }
            };
            Ok(Rotator::Postgres { db_mount, db_name, strategy, usernames: users })
        }
        "webhook" => {
            only(r, "webhook", &["url", "hmac_key", "ca_pem"])?;
            let url = params::str_field(r, "url")?.unwrap_or("").to_string();
            check_webhook_url(&url)?;
            let ca_pem = params::str_field(r, "ca_pem")?.unwrap_or("").to_string();
            if !ca_pem.trim().is_empty() {
                let certs = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
                    .map_err(|_| bad("rotator.ca_pem could not be parsed"))?;
                if certs.is_empty() {
                    return Err(bad("rotator.ca_pem holds no certificate"));
                }
            }
            let hmac_key = match (params::str_field(r, "hmac_key")?, existing) {
                (Some(k), _) if k.len() >= MIN_HMAC_KEY_LEN => HmacKey::new(k),
                (Some(_), _) => return Err(bad(format!("rotator.hmac_key must be at least {MIN_HMAC_KEY_LEN} bytes"))),
                (None, Some(Rotator::Webhook { url: old_url, hmac_key, .. })) if *old_url == url => hmac_key.clone(),
                (None, _) => return Err(bad("rotator.hmac_key is required for a webhook rotator")),
            };
            if let Err(refused) = host.outbound_permit(&url).await? {
                return Err(bad(format!("rotator.url is not allowed: {refused}")));
            }
            Ok(Rotator::Webhook { url, hmac_key, ca_pem })
        }
        other => {
            Err(bad(format!("unknown rotator type {other:?}: expected \"password\", \"postgres\" or \"webhook\"")))
        }
    }
}

/// An `https://` or `http://` URL without credentials. Whether it may be called is the outbound
/// allow-list's decision (`crate::core::outbound`): plain `http://` only where an entry names it.
pub fn check_webhook_url(url: &str) -> Result<(), ApiError> {
    if url.is_empty() {
        return Err(bad("rotator.url is required for a webhook rotator"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| bad("rotator.url is not a valid URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("rotator.url must not carry credentials"));
    }
    match parsed.scheme() {
        "https" | "http" if parsed.host().is_some() => Ok(()),
        _ => Err(bad("rotator.url must be an https (or, where the allow-list names it, http) URL with a host")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls() {
        for ok in [
            "https://rotator.internal/hook",
            "http://127.0.0.1:8080/h",
            "http://[::1]:9/x",
            "http://rotator.internal/h",
        ] {
            assert!(check_webhook_url(ok).is_ok(), "{ok}");
        }
        for no in
            ["", "ftp://127.0.0.1/x", "https://user:pw@host/x", "not a url", "file:///etc/passwd", "data:text/plain,x"]
        {
            assert!(check_webhook_url(no).is_err(), "{no}");
        }
    }

    #[test]
    fn hmac_key_never_shows_in_debug() {
        let r = Rotator::Webhook {
            url: "https://h/x".into(),
            hmac_key: HmacKey::new("super-secret-key-123"),
            ca_pem: String::new(),
        };
        assert!(!format!("{r:?}").contains("super-secret"));
        assert!(!r.describe().to_string().contains("super-secret"));
    }

    #[test]
    fn next_start_skips_missed_ticks() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let daily = Schedule::parse("cron(0 4 * * ? *)").unwrap();
        let (fire, start) = next_start(&daily, 0, at("2024-01-01T04:00:00Z"), at("2024-01-01T05:00:00Z")).unwrap();
        assert_eq!(fire, at("2024-01-02T04:00:00Z").timestamp_millis());
        assert_eq!(start, fire);
        // Down for a week: one rotation at the next tick, not seven.
        let (fire, _) = next_start(&daily, 0, at("2024-01-01T04:00:00Z"), at("2024-01-08T05:00:00Z")).unwrap();
        assert_eq!(fire, at("2024-01-09T04:00:00Z").timestamp_millis());
        let (fire, start) =
            next_start(&Schedule::Every(3600), 600, at("2024-01-01T00:00:00Z"), at("2024-01-01T00:10:00Z")).unwrap();
        assert_eq!(fire, at("2024-01-01T01:00:00Z").timestamp_millis());
        assert!(start >= fire && start < fire + 600_000);
    }
}

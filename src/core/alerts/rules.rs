//! Alert rules: the kind each one watches, its threshold and window, its rate limit, and the
//! webhook it is sent to. Rules come from `[[alert]]` in the config file (read-only through the
//! API) or from `sys/alerts/rules/<name>` (stored sealed under the barrier, the webhook's HMAC key
//! inside; the key is never read back). Every mistake is a 400 naming the field.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use crate::base::error::ApiError;
use crate::base::names::{self, Case};
use crate::base::params;
use crate::core::outbound::signed::MIN_HMAC_KEY_LEN;
use crate::core::outbound::HmacKey;
use crate::crypto::barrier::{Barrier, Context};
use crate::store::{SharedStore, TextForm};

/// Entry kind of stored rules (the entry name is the rule's name).
pub const KIND: &str = "alert-rule";
/// Largest `threshold` of a burst rule.
pub const MAX_THRESHOLD: u64 = 10_000;
/// Shortest `window`, in seconds.
pub const MIN_WINDOW: u64 = 1;
/// Longest `window`, in seconds (24 hours).
pub const MAX_WINDOW: u64 = 86_400;
/// Alerts one rule sends per minute unless it says otherwise.
pub const DEFAULT_MAX_PER_MINUTE: u32 = 10;
/// Largest `max_per_minute`.
pub const MAX_PER_MINUTE_LIMIT: u32 = 1_000;
/// Most rules stored through the API (config rules come on top).
pub const MAX_STORED_RULES: usize = 64;
/// The fields a rule has (a write naming another one is refused: a typo must not be ignored).
pub const FIELDS: [&str; 6] = ["kind", "threshold", "window", "max_per_minute", "webhook", "hmac_key"];

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// More than `threshold` denied requests by one identity within `window`.
    DeniedBurst,
    /// More than `threshold` distinct secrets read by one identity within `window`.
    ReadBurst,
    /// Any request made with a root token.
    RootTokenUse,
    /// A token used from a /24 (IPv4) or /64 (IPv6) it was not seen from in its first hour.
    NewSource,
    /// This node was sealed.
    Sealed,
    /// A rotation ended failed or abandoned.
    RotationFailed,
}

impl Kind {
    /// Every kind, in the order counts are reported.
    pub const ALL: [Kind; 6] =
        [Kind::DeniedBurst, Kind::ReadBurst, Kind::RootTokenUse, Kind::NewSource, Kind::Sealed, Kind::RotationFailed];

    /// The name written in rules and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DeniedBurst => "denied_burst",
            Kind::ReadBurst => "read_burst",
            Kind::RootTokenUse => "root_token_use",
            Kind::NewSource => "new_source",
            Kind::Sealed => "sealed",
            Kind::RotationFailed => "rotation_failed",
        }
    }

    /// Parses a kind's name (exactly as written).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the kind counts events in a window (`threshold` and `window` apply).
    pub fn is_burst(self) -> bool {
        matches!(self, Kind::DeniedBurst | Kind::ReadBurst)
    }

    /// Its place in [`Kind::ALL`].
    pub fn index(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// Its bit in a mask of kinds.
    pub fn bit(self) -> u8 {
        1 << self.index()
    }
}

/// Where a rule's alerts are POSTed, signed with its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// The URL (it must pass the outbound allow-list when written and again at each send).
    pub url: String,
    /// The shared key (write-only).
    pub hmac_key: HmacKey,
}

/// Where a rule was defined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Source {
    /// `[[alert]]` in the config file: read-only through the API.
    Config,
    /// `sys/alerts/rules/<name>`.
    #[default]
    Api,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Config => "config",
            Source::Api => "api",
        }
    }
}

/// One rule. `Debug` never shows the webhook's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its name (normal form, lower case).
    pub name: String,
    /// What it watches.
    pub kind: Kind,
    /// Events allowed in a window before it fires (burst kinds; 0 otherwise).
    #[serde(default)]
    pub threshold: u64,
    /// The window, in seconds (burst kinds; 0 otherwise).
    #[serde(default)]
    pub window: u64,
    /// Alerts sent per minute at most; beyond them, suppressed and summarised.
    pub max_per_minute: u32,
    /// Where alerts are sent, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// Config file or API (not stored: API rules are the stored ones).
    #[serde(skip)]
    pub source: Source,
}

impl Rule {
    /// The rule as reads show it: everything but the key.
    pub fn describe(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "kind": self.kind.as_str(),
            "max_per_minute": self.max_per_minute,
            "webhook": self.webhook.as_ref().map(|w| w.url.as_str()),
            "hmac_key_set": self.webhook.is_some(),
            "source": self.source.as_str(),
        });
        if self.kind.is_burst() {
            crate::base::json::set(&mut v, "threshold", json!(self.threshold));
            crate::base::json::set(&mut v, "window", json!(crate::base::duration::format(self.window)));
        }
        v
    }
}

/// A rule as written, before it is checked: the fields of a request or of an `[[alert]]` table.
#[derive(Default)]
pub struct Spec<'a> {
    /// `kind`.
    pub kind: Option<&'a str>,
    /// `threshold`.
    pub threshold: Option<u64>,
    /// `window`, in seconds.
    pub window: Option<u64>,
    /// `max_per_minute`.
    pub max_per_minute: Option<u64>,
    /// `webhook`.
    pub webhook: Option<&'a str>,
    /// `hmac_key`.
    pub hmac_key: Option<&'a str>,
}

/// Checks a rule name: the normal form of `base::names`, lower case (a spelling variant of a name
/// is refused, never read as another rule).
pub fn check_name(name: &str) -> Result<&str, ApiError> {
    if name.is_empty() {
        return Err(ApiError::bad_request("missing alert rule name"));
    }
    names::check("alert rule name", name, Case::Lower)
}

/// Checks `spec` into a rule named `name`. `existing` is the stored rule of that name: a write that
/// leaves `hmac_key` out keeps its key when the webhook URL is unchanged. The webhook's allow-list
/// check is the caller's (it needs the list in force).
pub fn build(name: &str, spec: &Spec<'_>, existing: Option<&Rule>, source: Source) -> Result<Rule, String> {
    let kind_text = spec.kind.ok_or_else(|| "kind is required".to_string())?;
    let kind = Kind::parse(kind_text).ok_or_else(|| {
        let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown kind {kind_text:?}: expected one of {}", all.join(", "))
    })?;
    let (threshold, window) = if kind.is_burst() {
        let threshold = spec.threshold.ok_or_else(|| format!("threshold is required for a {kind_text} rule"))?;
        if !(1..=MAX_THRESHOLD).contains(&threshold) {
            return Err(format!("threshold must be between 1 and {MAX_THRESHOLD}"));
        }
        let window = spec.window.ok_or_else(|| format!("window is required for a {kind_text} rule"))?;
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
            return Err("window must be between 1s and 24h".into());
        }
        (threshold, window)
    } else {
        if spec.threshold.is_some() || spec.window.is_some() {
            return Err(format!("a {kind_text} rule takes no threshold or window (it fires on every event)"));
        }
        (0, 0)
    };
    let max_per_minute = match spec.max_per_minute {
        None => DEFAULT_MAX_PER_MINUTE,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_PER_MINUTE_LIMIT).contains(n))
            .ok_or_else(|| format!("max_per_minute must be between 1 and {MAX_PER_MINUTE_LIMIT}"))?,
    };
    let webhook = match (spec.webhook.filter(|u| !u.is_empty()), spec.hmac_key) {
        (None, None) => None,
        (None, Some(_)) => return Err("hmac_key is given without a webhook".into()),
        (Some(url), key) => {
            check_url(url)?;
            let hmac_key = match (key, existing.and_then(|e| e.webhook.as_ref())) {
                (Some(k), _) if k.len() >= MIN_HMAC_KEY_LEN => HmacKey::new(k),
                (Some(_), _) => return Err(format!("hmac_key must be at least {MIN_HMAC_KEY_LEN} bytes")),
                (None, Some(old)) if old.url == url => old.hmac_key.clone(),
                (None, _) => return Err("hmac_key is required when a webhook is set".into()),
            };
            Some(Webhook { url: url.to_string(), hmac_key })
        }
    };
    Ok(Rule { name: name.to_string(), kind, threshold, window, max_per_minute, webhook, source })
}

/// An `http(s)://` URL with a host and no credentials. Whether it may be called is the outbound
/// allow-list's decision.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "webhook is not a valid URL".to_string())?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("webhook must not carry credentials".into());
    }
    match parsed.scheme() {
        "https" | "http" if parsed.host().is_some() => Ok(()),
        _ => Err("webhook must be an https (or, where the allow-list names it, http) URL with a host".into()),
    }
}

/// A rule from a write to `sys/alerts/rules/<name>` (the name already checked).
pub fn from_request(name: &str, data: &Map<String, Value>, existing: Option<&Rule>) -> Result<Rule, ApiError> {
    if let Some(key) = data.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown field {key:?} for an alert rule (expected: {})",
            FIELDS.join(", ")
        )));
    }
    let spec = Spec {
        kind: params::str_field(data, "kind")?,
        threshold: params::u64_field(data, "threshold")?,
        window: params::duration_field(data, "window")?,
        max_per_minute: params::u64_field(data, "max_per_minute")?,
        webhook: params::str_field(data, "webhook")?,
        hmac_key: params::str_field(data, "hmac_key")?,
    };
    build(name, &spec, existing, Source::Api).map_err(ApiError::bad_request)
}

/// Seals and stores an API rule.
pub async fn store(store: &SharedStore, barrier: &Barrier, rule: &Rule) -> Result<(), ApiError> {
    let plain = Zeroizing::new(serde_json::to_vec(rule).map_err(|e| ApiError::internal(&e))?);
    let (sealed, _) =
        barrier.seal(Context::AlertRule { name: &rule.name }, &plain).map_err(|e| ApiError::internal(&e))?;
    store.entry_put_sealed(KIND, &rule.name, &sealed, TextForm::Base64).await.map_err(ApiError::from)
}

/// The stored rule `name`, if any. A rule that does not open is an error (logged with an id).
pub async fn load(store: &SharedStore, barrier: &Barrier, name: &str) -> Result<Option<Rule>, ApiError> {
    let Some(sealed) = store.entry_get_sealed(KIND, name, TextForm::Base64).await.map_err(ApiError::from)? else {
        return Ok(None);
    };
    open(barrier, name, &sealed).map(Some).map_err(|e| ApiError::internal(&e))
}

/// Opens a stored rule (`coffer operator migrate` checks every rule this way). The error names
/// the rule, never its key.
pub fn open(barrier: &Barrier, name: &str, sealed: &crate::crypto::barrier::Sealed) -> Result<Rule, String> {
    let plain = barrier.open(sealed, Context::AlertRule { name }).map_err(|e| format!("alert rule {name}: {e}"))?;
    let rule: Rule = serde_json::from_slice(&plain)
        .map_err(|e| format!("alert rule {name}: the stored rule does not parse ({:?})", e.classify()))?;
    if rule.name != name {
        return Err(format!("alert rule {name}: the stored rule names another rule"));
    }
    Ok(rule)
}

/// Every stored rule that opens; one that does not is logged (with an error id) and skipped, so
/// that a damaged rule never keeps the node sealed.
pub async fn load_all(store: &SharedStore, barrier: &Barrier) -> Result<Vec<Rule>, ApiError> {
    let mut out = Vec::new();
    for name in store.entry_list(KIND, "").await.map_err(ApiError::from)? {
        match load(store, barrier, &name).await {
            Ok(Some(rule)) => out.push(rule),
            Ok(None) => {}
            // `ApiError::internal` has logged the cause under the error id.
            Err(_) => tracing::error!(rule = %name, "a stored alert rule cannot be read; it is skipped"),
        }
    }
    Ok(out)
}

/// Names of the stored rules.
pub async fn list(store: &SharedStore) -> Result<Vec<String>, ApiError> {
    store.entry_list(KIND, "").await.map_err(ApiError::from)
}

/// Deletes a stored rule (no error when there is none).
pub async fn delete(store: &SharedStore, name: &str) -> Result<(), ApiError> {
    store.entry_delete(KIND, name).await.map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str) -> Spec<'_> {
        Spec { kind: Some(kind), ..Spec::default() }
    }

    #[test]
    fn burst_rules_need_a_threshold_and_window_in_range() {
        let ok = Spec { threshold: Some(5), window: Some(60), ..spec("denied_burst") };
        let r = build("r", &ok, None, Source::Api).unwrap();
        assert_eq!((r.threshold, r.window, r.max_per_minute), (5, 60, DEFAULT_MAX_PER_MINUTE));
        for (threshold, window, why) in [
            (None, Some(60), "threshold is required"),
            (Some(5), None, "window is required"),
            (Some(0), Some(60), "threshold must be between"),
            (Some(MAX_THRESHOLD + 1), Some(60), "threshold must be between"),
            (Some(5), Some(0), "window must be between"),
            (Some(5), Some(MAX_WINDOW + 1), "window must be between"),
        ] {
            let s = Spec { threshold, window, ..spec("read_burst") };
            let e = build("r", &s, None, Source::Api).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let e = build("r", &Spec { threshold: Some(1), ..spec("sealed") }, None, Source::Api).unwrap_err();
        assert!(e.contains("takes no threshold"), "{e}");
        assert!(build("r", &spec("Sealed"), None, Source::Api).unwrap_err().contains("unknown kind"));
        assert!(build("r", &Spec::default(), None, Source::Api).unwrap_err().contains("kind is required"));
        let e = build("r", &Spec { max_per_minute: Some(0), ..spec("sealed") }, None, Source::Api).unwrap_err();
        assert!(e.contains("max_per_minute"), "{e}");
    }

    #[test]
    fn a_webhook_needs_a_long_key_which_a_rewrite_may_keep_and_debug_never_shows() {
        let key = "alert-hook-key-0123456789";
        let with = Spec { webhook: Some("https://h/hook"), hmac_key: Some(key), ..spec("sealed") };
        let r = build("r", &with, None, Source::Api).unwrap();
        assert!(!format!("{r:?}").contains(key));
        assert!(!r.describe().to_string().contains(key));
        assert_eq!(r.describe()["hmac_key_set"], true);
        let keep = Spec { webhook: Some("https://h/hook"), ..spec("sealed") };
        assert_eq!(build("r", &keep, Some(&r), Source::Api).unwrap().webhook, r.webhook);
        let moved = Spec { webhook: Some("https://h/other"), ..spec("sealed") };
        assert!(build("r", &moved, Some(&r), Source::Api).unwrap_err().contains("hmac_key is required"));
        let short = Spec { hmac_key: Some("short"), ..with };
        assert!(build("r", &short, None, Source::Api).unwrap_err().contains("at least 16 bytes"));
        let lone = Spec { hmac_key: Some(key), ..spec("sealed") };
        assert!(build("r", &lone, None, Source::Api).unwrap_err().contains("without a webhook"));
        for url in ["ftp://h/x", "https://u:p@h/x", "not a url"] {
            let s = Spec { webhook: Some(url), hmac_key: Some(key), ..spec("sealed") };
            assert!(build("r", &s, None, Source::Api).is_err(), "{url}");
        }
    }

    #[test]
    fn names_must_be_in_their_normal_form() {
        assert!(check_name("denied-burst.prod").is_ok());
        for bad in ["", "Denied", "a b", " a", "a/b", "a.", "-a", "é"] {
            assert_eq!(check_name(bad).unwrap_err().status, http::StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let data = serde_json::from_value(json!({"kind": "sealed", "treshold": 3})).unwrap();
        let e = from_request("r", &data, None).unwrap_err();
        assert!(e.errors[0].contains("unknown field \"treshold\""), "{e:?}");
        let data = serde_json::from_value(json!({"kind": "denied_burst", "threshold": "3", "window": "1m"})).unwrap();
        let r = from_request("r", &data, None).unwrap();
        assert_eq!((r.threshold, r.window), (3, 60));
    }
}

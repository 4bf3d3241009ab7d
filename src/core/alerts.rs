//! Alerts on unusual access: rules (`rules`), the detectors' per-node state (`burst`, `sources`),
//! each rule's rate limit (`limit`), the recent list (`recent`), webhook delivery (`delivery`) and
//! what an alert says (`payload`).
//!
//! The request pipeline, the AWS API's checks, the seal and the rotation state machine report
//! what they see here; a rule that matches raises an alert, which is written to every audit
//! device as a `"type":"alert"` line, counted, kept in the recent list, and queued for the rule's
//! webhook. A rule raises at most `max_per_minute` alerts a minute; the rest are suppressed and
//! summed up in one summary alert when the minute ends.
//!
//! Counting is per node: each node keeps its own windows, sightings, limits and recent list (nodes
//! sharing a PostgreSQL database count separately). With no rule that watches requests, the only
//! cost a request pays is one atomic load ([`Alerts::watch`]).

pub mod burst;
pub mod delivery;
pub mod limit;
pub mod payload;
pub mod recent;
pub mod rules;
pub mod sources;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Response};
use crate::base::schedule::SharedClock;
use crate::core::audit::Audit;
use crate::core::mounts::MountEntry;
use crate::core::tokens::TokenEntry;
use crate::crypto::barrier::Barrier;
use crate::store::SharedStore;
use burst::Bursts;
use delivery::{Delivery, Queue};
use limit::Limit;
use recent::{Page, Recent};
use rules::{Kind, Rule};

/// The kinds that watch requests: with none of them armed, requests are not looked at.
const REQUEST_KINDS: u8 = 0b1111;

/// One rule in force, with its state on this node.
struct Armed {
    rule: Rule,
    bursts: Option<Bursts>,
    limit: Mutex<Limit>,
}

impl Armed {
    fn new(rule: Rule) -> Self {
        let bursts = rule.kind.is_burst().then(|| Bursts::new(rule.threshold, rule.window));
        Armed { rule, bursts, limit: Mutex::new(Limit::default()) }
    }
}

/// What a request was, kept from its start for the look at its end (only while a rule watches).
pub struct Watch {
    path: String,
    op: Operation,
    client: Option<SocketAddr>,
    aws: bool,
}

impl Watch {
    /// Marks a check of the AWS API: its signer is an access key, not a token, so `new_source`
    /// does not follow it.
    pub fn from_aws(self) -> Self {
        Watch { aws: true, ..self }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered without an error.
    Served,
    /// Refused with 403.
    Denied,
    /// Any other error.
    Failed,
}

impl Outcome {
    /// The outcome of a pipeline result.
    pub fn of(result: &Result<Response, ApiError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Served,
            Err(e) => Outcome::of_error(e),
        }
    }

    /// The outcome of a request refused with `e`.
    pub fn of_error(e: &ApiError) -> Outcome {
        if e.status == http::StatusCode::FORBIDDEN {
            Outcome::Denied
        } else {
            Outcome::Failed
        }
    }
}

/// Whether a served request read a secret: a KV mount's `data/<path>`, or a database mount's
/// `creds/<role>` or `static-creds/<role>`.
fn is_secret_read(mount: &MountEntry, path: &str, op: Operation) -> bool {
    if op != Operation::Read {
        return false;
    }
    let Some(rel) = path.strip_prefix(mount.api_path.as_str()) else { return false };
    match mount.row.kind.as_str() {
        "kv" => rel.strip_prefix("data/").is_some_and(|p| !p.is_empty()),
        "database" => ["creds/", "static-creds/"].iter().any(|s| rel.strip_prefix(s).is_some_and(|p| !p.is_empty())),
        _ => false,
    }
}

/// This node's alerting.
pub struct Alerts {
    config: ArcSwap<Vec<Rule>>,
    stored: ArcSwap<Vec<Rule>>,
    armed: ArcSwap<Vec<Arc<Armed>>>,
    arming: Mutex<()>,
    loading: tokio::sync::Mutex<()>,
    mask: AtomicU8,
    sources: sources::Sources,
    recent: Recent,
    queue: Queue,
    fired: [AtomicU64; 6],
    suppressed: AtomicU64,
    clock: ArcSwap<SharedClock>,
    node: String,
}

impl Alerts {
    /// No rules yet, on node `node`, reading the time from `clock`.
    pub fn new(node: &str, clock: SharedClock) -> Self {
        Alerts {
            config: Default::default(),
            stored: Default::default(),
            armed: Default::default(),
            arming: Mutex::new(()),
            loading: tokio::sync::Mutex::new(()),
            mask: AtomicU8::new(0),
            sources: Default::default(),
            recent: Default::default(),
            queue: Default::default(),
            fired: Default::default(),
            suppressed: AtomicU64::new(0),
            clock: ArcSwap::from_pointee(clock),
            node: node.to_string(),
        }
    }

    /// Reads the time from `clock` from now on (tests move it to cross windows and hours).
    pub fn set_clock(&self, clock: SharedClock) {
        self.clock.store(Arc::new(clock));
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.load().now()
    }

    /// Sets the rules of the config file (at start).
    pub fn set_config(&self, rules: Vec<Rule>) {
        self.config.store(Arc::new(rules));
        self.arm(false);
    }

    /// The config file's rule `name`, if there is one.
    pub fn config_rule(&self, name: &str) -> Option<Rule> {
        self.config.load().iter().find(|r| r.name == name).cloned()
    }

    /// The config file's rules.
    pub fn config_rules(&self) -> Arc<Vec<Rule>> {
        self.config.load_full()
    }

    /// Loads the stored rules (at unseal, after a write, and when another node changed them).
    pub async fn load(&self, store: &SharedStore, barrier: &Barrier) -> Result<(), ApiError> {
        let _guard = self.loading.lock().await;
        let stored = rules::load_all(store, barrier).await?;
        self.stored.store(Arc::new(stored));
        self.arm(false);
        Ok(())
    }

    /// Forgets the stored rules (their keys are barrier-held) and every count (at seal).
    pub fn seal(&self) {
        self.stored.store(Arc::new(Vec::new()));
        self.sources.clear();
        self.arm(true);
    }

    /// Puts the config rules and the stored ones (a config rule shadows a stored one of its
    /// name) in force. A rule unchanged keeps its state unless `fresh`.
    fn arm(&self, fresh: bool) {
        let _guard = self.arming.lock().unwrap_or_else(PoisonError::into_inner);
        let (config, stored) = (self.config.load(), self.stored.load());
        let old = self.armed.load();
        let wanted = config.iter().chain(stored.iter().filter(|s| !config.iter().any(|c| c.name == s.name)));
        let armed: Vec<Arc<Armed>> = wanted
            .map(|rule| match old.iter().find(|a| !fresh && a.rule == *rule) {
                Some(same) => same.clone(),
                None => Arc::new(Armed::new(rule.clone())),
            })
            .collect();
        let mask = armed.iter().fold(0u8, |m, a| m | a.rule.kind.bit());
        self.armed.store(Arc::new(armed));
        self.mask.store(mask, Ordering::Release);
    }

    /// The start of a request's look: `None` (one atomic load) unless a rule watches requests.
    pub fn watch(&self, path: &str, op: Operation, client: Option<SocketAddr>) -> Option<Watch> {
        if self.mask.load(Ordering::Relaxed) & REQUEST_KINDS == 0 {
            return None;
        }
        Some(Watch { path: path.to_string(), op, client, aws: false })
    }

    /// The end of a request's look: what it was, who made it (`token`, `None` when none was
    /// valid), where it went, and how it ended.
    pub fn seen(
        &self,
        audit: &Audit,
        watch: Option<Watch>,
        token: Option<&TokenEntry>,
        mount: Option<&MountEntry>,
        outcome: Outcome,
    ) {
        let Some(w) = watch else { return };
        let armed = self.armed.load();
        let now = self.now();
        let ip = w.client.map(|a| a.ip());
        let who = payload::who(token, ip);
        let new_prefix = match (token.filter(|t| !t.row.accessor.is_empty()), ip) {
            (Some(t), Some(ip)) if !w.aws && self.mask.load(Ordering::Relaxed) & Kind::NewSource.bit() != 0 => {
                let created = t.row.creation_time;
                self.sources.sighting(&sources::Use { accessor: &t.row.accessor, created, ip, now: now.timestamp() })
            }
            _ => None,
        };
        let read = outcome == Outcome::Served && mount.is_some_and(|m| is_secret_read(m, &w.path, w.op));
        let root = token.is_some_and(TokenEntry::is_root);
        for a in armed.iter() {
            let details = match (a.rule.kind, &who) {
                (Kind::DeniedBurst, Some(who)) if outcome == Outcome::Denied => burst(a, who, &w.path, false, &now),
                (Kind::ReadBurst, Some(who)) if read => burst(a, who, &w.path, true, &now),
                (Kind::RootTokenUse, _) if root => Some(Map::new()),
                (Kind::NewSource, _) => new_prefix.map(|p| one("prefix", json!(p.to_string()))),
                _ => None,
            };
            let Some(mut d) = details else { continue };
            d.insert("identity".into(), who.as_ref().map_or(Value::Null, |w| w.identity.clone()));
            d.insert("client_address".into(), ip.map_or(Value::Null, |ip| json!(ip.to_string())));
            d.insert("path".into(), json!(w.path));
            d.insert("operation".into(), json!(w.op.as_str()));
            self.fire(audit, a, d, &now);
        }
    }

    /// This node is being sealed: the `sealed` rules fire (before the audit devices close).
    pub fn sealed(&self, audit: &Audit) {
        let now = self.now();
        for a in self.armed.load().iter().filter(|a| a.rule.kind == Kind::Sealed) {
            self.fire(audit, a, Map::new(), &now);
        }
    }

    /// A rotation of `path` in `mount` ended `outcome` (`failed` or `abandoned`).
    pub fn rotation_ended(&self, audit: &Audit, mount: &str, path: &str, outcome: &str) {
        let now = self.now();
        for a in self.armed.load().iter().filter(|a| a.rule.kind == Kind::RotationFailed) {
            let mut d = one("mount", json!(mount));
            d.insert("path".into(), json!(path));
            d.insert("outcome".into(), json!(outcome));
            self.fire(audit, a, d, &now);
        }
    }

    /// Writes the summaries of rules whose rate-limit minute has ended (the delivery worker calls
    /// this every second).
    pub fn tick(&self, audit: &Audit) {
        let now = self.now();
        for a in self.armed.load().iter() {
            let summary = a.limit.lock().unwrap_or_else(PoisonError::into_inner).roll(now.timestamp_millis());
            if let Some(s) = summary {
                self.summarise(audit, a, s, &now);
            }
        }
    }

    /// Raises an alert of rule `a` unless its rate limit is spent.
    fn fire(&self, audit: &Audit, a: &Armed, details: Map<String, Value>, now: &DateTime<Utc>) {
        let now_ms = now.timestamp_millis();
        let (summary, admitted) = {
            let mut l = a.limit.lock().unwrap_or_else(PoisonError::into_inner);
            let summary = l.roll(now_ms);
            (summary, l.admit(now_ms, a.rule.max_per_minute))
        };
        if let Some(s) = summary {
            self.summarise(audit, a, s, now);
        }
        if !admitted {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(n) = self.fired.get(a.rule.kind.index()) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        self.emit(audit, &a.rule, details, now);
    }

    fn summarise(&self, audit: &Audit, a: &Armed, s: limit::Summary, now: &DateTime<Utc>) {
        let since = DateTime::from_timestamp_millis(s.since_ms).unwrap_or(*now);
        let details = one("summary", json!({"suppressed": s.suppressed, "since": payload::time(&since)}));
        self.emit(audit, &a.rule, details, now);
    }

    /// Records an alert: audit devices, the recent list, and the webhook's queue.
    fn emit(&self, audit: &Audit, rule: &Rule, details: Map<String, Value>, now: &DateTime<Utc>) {
        let (id, alert) = self.recent.add(|id| payload::build(id, now, &self.node, rule, details));
        audit.alert(&alert);
        tracing::warn!(rule = %rule.name, kind = rule.kind.as_str(), id, "alert raised");
        if let Some(hook) = &rule.webhook {
            match serde_json::to_vec(alert.as_ref()) {
                Ok(body) => self.queue.offer(Delivery {
                    rule: rule.name.clone(),
                    url: hook.url.clone(),
                    key: hook.hmac_key.clone(),
                    body,
                }),
                Err(e) => tracing::error!(error = %e, "an alert could not be serialised"),
            }
        }
    }

    /// Alerts raised on this node since it started, per kind (every kind listed), summaries and
    /// suppressed alerts not included.
    pub fn fired_counts(&self) -> Vec<(&'static str, u64)> {
        Kind::ALL.iter().zip(self.fired.iter()).map(|(k, n)| (k.as_str(), n.load(Ordering::Relaxed))).collect()
    }

    /// Alerts suppressed by the rules' rate limits on this node since it started.
    pub fn suppressed_count(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }

    /// What became of webhook deliveries on this node.
    pub fn delivery_counts(&self) -> delivery::Counts {
        self.queue.counts()
    }

    /// A page of the recent list (oldest first, ids above `after`).
    pub fn recent(&self, after: u64, limit: usize) -> Page {
        self.recent.page(after, limit)
    }

    /// The webhook queue (for the delivery worker).
    pub(crate) fn queue(&self) -> &Queue {
        &self.queue
    }
}

/// A one-field map.
fn one(key: &str, value: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.into(), value);
    m
}

/// Counts an event of a burst rule; the alert's details when it fires.
fn burst(a: &Armed, who: &payload::Who, path: &str, distinct: bool, now: &DateTime<Utc>) -> Option<Map<String, Value>> {
    let event = burst::Event { key: &who.key, path, distinct, now_ms: now.timestamp_millis() };
    let fired = a.bursts.as_ref()?.hit(&event)?;
    let since = DateTime::from_timestamp_millis(fired.since_ms).unwrap_or(*now);
    let mut d = one("count", json!(fired.count));
    d.insert("threshold".into(), json!(a.rule.threshold));
    d.insert("window".into(), json!(crate::base::duration::format(a.rule.window)));
    d.insert("since".into(), json!(payload::time(&since)));
    d.insert("paths".into(), json!(fired.paths));
    Some(d)
}

#[cfg(test)]
mod tests;

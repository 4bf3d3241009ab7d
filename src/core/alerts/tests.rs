//! Unit tests of the alerting core: the hot-path switch, each request kind, the rate limit and
//! its summary, and the counts, on a manual clock and an audit broker without devices.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::rules::{Rule, Source};
use super::*;
use crate::base::schedule::ManualClock;
use crate::core::audit::Settings;

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn setup() -> (Alerts, Audit, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start()));
    let shared = SharedClock::new(clock.clone());
    (Alerts::new("node-a", shared.clone()), Audit::new(Settings::default(), shared), clock)
}

fn rule(name: &str, kind: Kind, threshold: u64, window: u64, max_per_minute: u32) -> Rule {
    Rule { name: name.into(), kind, threshold, window, max_per_minute, webhook: None, source: Source::Config }
}

fn token(policies: &[&str]) -> TokenEntry {
    let mut t = TokenEntry::for_access_key("acc-1", policies.iter().map(|p| p.to_string()).collect(), start());
    t.row.display_name = "token".into();
    t
}

fn mount(path: &str, kind: &str) -> MountEntry {
    MountEntry {
        api_path: path.into(),
        row: crate::store::MountRow {
            id: "m".into(),
            table_name: "mounts".into(),
            path: path.into(),
            kind: kind.into(),
            description: String::new(),
            accessor: String::new(),
            config: "{}".into(),
            options: "{}".into(),
            local: false,
            seal_wrap: false,
            created_at: String::new(),
        },
        engine: Arc::new(crate::core::mounts::Unreadable),
    }
}

fn client() -> Option<SocketAddr> {
    Some("10.0.0.5:40000".parse().unwrap())
}

fn kinds(a: &Alerts) -> Vec<String> {
    a.recent(0, 1000).alerts.iter().map(|x| x["kind"].as_str().unwrap().to_string()).collect()
}

#[test]
fn without_request_rules_a_request_is_not_looked_at() {
    let (a, _, _) = setup();
    assert!(a.watch("secret/data/x", Operation::Read, client()).is_none());
    a.set_config(vec![rule("s", Kind::Sealed, 0, 0, 10)]);
    assert!(a.watch("secret/data/x", Operation::Read, client()).is_none(), "sealed does not watch requests");
    a.set_config(vec![rule("r", Kind::RootTokenUse, 0, 0, 10)]);
    assert!(a.watch("secret/data/x", Operation::Read, client()).is_some());
}

#[test]
fn denied_bursts_fire_at_threshold_plus_one_keyed_by_token_or_client() {
    let (a, audit, clock) = setup();
    a.set_config(vec![rule("denials", Kind::DeniedBurst, 2, 60, 10)]);
    let t = token(&["default"]);
    for _ in 0..2 {
        a.seen(&audit, a.watch("secret/data/x", Operation::Read, client()), Some(&t), None, Outcome::Denied);
    }
    a.seen(&audit, a.watch("secret/data/ok", Operation::Read, client()), Some(&t), None, Outcome::Served);
    assert!(kinds(&a).is_empty(), "not below the threshold");
    a.seen(&audit, a.watch("secret/data/y", Operation::Read, client()), Some(&t), None, Outcome::Denied);
    let page = a.recent(0, 10);
    assert_eq!(page.alerts.len(), 1);
    let alert = &page.alerts[0];
    assert_eq!(
        (alert["rule"].as_str(), alert["count"].as_u64(), alert["node"].as_str()),
        (Some("denials"), Some(3), Some("node-a"))
    );
    assert_eq!(alert["identity"]["accessor"], "acc-1");
    assert_eq!(alert["client_address"], "10.0.0.5");
    assert_eq!(alert["paths"], json!(["secret/data/x", "secret/data/x", "secret/data/y"]));
    // Once per identity per window; invalid tokens count by client address.
    a.seen(&audit, a.watch("secret/data/z", Operation::Read, client()), Some(&t), None, Outcome::Denied);
    for _ in 0..3 {
        a.seen(&audit, a.watch("sys/mounts", Operation::Read, client()), None, None, Outcome::Denied);
    }
    let page = a.recent(0, 10);
    assert_eq!(page.alerts.len(), 2);
    assert_eq!(
        (page.alerts[1]["identity"].clone(), page.alerts[1]["client_address"].as_str()),
        (Value::Null, Some("10.0.0.5"))
    );
    clock.advance(TimeDelta::seconds(61));
    for _ in 0..3 {
        a.seen(&audit, a.watch("secret/data/x", Operation::Read, client()), Some(&t), None, Outcome::Denied);
    }
    assert_eq!(a.recent(0, 10).alerts.len(), 3, "a new window fires again");
    assert_eq!(a.fired_counts()[0], ("denied_burst", 3));
}

#[test]
fn read_bursts_count_distinct_secret_reads_only() {
    let (a, audit, _) = setup();
    a.set_config(vec![rule("reads", Kind::ReadBurst, 2, 60, 10)]);
    let (kv, db, sys) = (mount("secret/", "kv"), mount("db/", "database"), mount("sys/", "system"));
    let t = token(&["default"]);
    let see = |path: &str, m: &MountEntry, op, outcome| {
        a.seen(&audit, a.watch(path, op, client()), Some(&t), Some(m), outcome);
    };
    see("secret/data/a", &kv, Operation::Read, Outcome::Served);
    see("secret/data/a", &kv, Operation::Read, Outcome::Served);
    see("secret/metadata/b", &kv, Operation::Read, Outcome::Served);
    see("secret/data/c", &kv, Operation::Update, Outcome::Served);
    see("secret/data/d", &kv, Operation::Read, Outcome::Failed);
    see("sys/mounts", &sys, Operation::Read, Outcome::Served);
    see("db/creds/ro", &db, Operation::Read, Outcome::Served);
    assert!(kinds(&a).is_empty());
    see("db/static-creds/app", &db, Operation::Read, Outcome::Served);
    let page = a.recent(0, 10);
    assert_eq!(page.alerts.len(), 1);
    assert_eq!(page.alerts[0]["count"], 3);
    assert_eq!(page.alerts[0]["paths"], json!(["secret/data/a", "db/creds/ro", "db/static-creds/app"]));
}

#[test]
fn root_use_is_rate_limited_with_one_summary_when_the_minute_ends() {
    let (a, audit, clock) = setup();
    a.set_config(vec![rule("root", Kind::RootTokenUse, 0, 0, 2)]);
    let (root, plain) = (token(&["root"]), token(&["default"]));
    a.seen(&audit, a.watch("sys/mounts", Operation::Read, client()), Some(&plain), None, Outcome::Served);
    assert!(kinds(&a).is_empty());
    for _ in 0..5 {
        a.seen(&audit, a.watch("sys/mounts", Operation::Read, client()), Some(&root), None, Outcome::Served);
    }
    assert_eq!(kinds(&a), ["root_token_use", "root_token_use"]);
    assert_eq!(a.suppressed_count(), 3);
    a.tick(&audit);
    assert_eq!(a.recent(0, 10).alerts.len(), 2, "no summary before the minute ends");
    clock.advance(TimeDelta::seconds(60));
    a.tick(&audit);
    a.tick(&audit);
    let page = a.recent(0, 10);
    assert_eq!(page.alerts.len(), 3, "one summary");
    assert_eq!(page.alerts[2]["summary"]["suppressed"], 3);
    assert_eq!(page.alerts[2]["rule"], "root");
    assert_eq!(a.fired_counts()[2], ("root_token_use", 2));
}

#[test]
fn new_sources_sealing_and_rotations_fire_their_rules() {
    let (a, audit, clock) = setup();
    a.set_config(vec![
        rule("src", Kind::NewSource, 0, 0, 10),
        rule("sealed", Kind::Sealed, 0, 0, 10),
        rule("rot", Kind::RotationFailed, 0, 0, 10),
    ]);
    let t = token(&["default"]);
    let from = |ip: &str| Some(SocketAddr::new(ip.parse().unwrap(), 1));
    a.seen(&audit, a.watch("p", Operation::Read, from("10.0.0.1")), Some(&t), None, Outcome::Served);
    a.seen(&audit, a.watch("p", Operation::Read, from("10.0.1.1")), Some(&t), None, Outcome::Served);
    clock.advance(TimeDelta::hours(2));
    a.seen(&audit, a.watch("p", Operation::Read, from("10.0.1.2")), Some(&t), None, Outcome::Served);
    assert!(kinds(&a).is_empty(), "prefixes of the first hour are known");
    a.seen(&audit, a.watch("p", Operation::Read, from("10.0.2.1")), Some(&t), None, Outcome::Served);
    a.seen(&audit, a.watch("p", Operation::Read, from("10.0.2.2")), Some(&t), None, Outcome::Served);
    let aws = a.watch("p", Operation::Read, from("10.0.3.1")).map(Watch::from_aws);
    a.seen(&audit, aws, Some(&t), None, Outcome::Served);
    assert_eq!(kinds(&a), ["new_source"]);
    assert_eq!(a.recent(0, 10).alerts[0]["prefix"], "10.0.2.0/24");
    a.sealed(&audit);
    a.rotation_ended(&audit, "secret/", "app/db", "failed");
    assert_eq!(kinds(&a), ["new_source", "sealed", "rotation_failed"]);
    let rot = a.recent(2, 10).alerts[0].clone();
    assert_eq!(
        (rot["mount"].as_str(), rot["path"].as_str(), rot["outcome"].as_str()),
        (Some("secret/"), Some("app/db"), Some("failed"))
    );
}

#[test]
fn a_config_rule_shadows_a_stored_one_and_a_changed_rule_starts_over() {
    let (a, audit, _) = setup();
    a.set_config(vec![rule("d", Kind::DeniedBurst, 1, 60, 10)]);
    let t = token(&["default"]);
    a.seen(&audit, a.watch("x", Operation::Read, client()), Some(&t), None, Outcome::Denied);
    // The same rule again keeps its count; a changed one starts over.
    a.set_config(vec![rule("d", Kind::DeniedBurst, 1, 60, 10)]);
    a.seen(&audit, a.watch("x", Operation::Read, client()), Some(&t), None, Outcome::Denied);
    assert_eq!(kinds(&a).len(), 1);
    a.set_config(vec![rule("d", Kind::DeniedBurst, 1, 120, 10)]);
    a.seen(&audit, a.watch("x", Operation::Read, client()), Some(&t), None, Outcome::Denied);
    assert_eq!(kinds(&a).len(), 1);
    a.stored.store(Arc::new(vec![Rule { source: Source::Api, ..rule("d", Kind::Sealed, 0, 0, 10) }]));
    a.arm(false);
    assert_eq!(a.armed.load().len(), 1);
    assert_eq!(a.armed.load()[0].rule.kind, Kind::DeniedBurst);
    a.seal();
    assert!(a.stored.load().is_empty());
}

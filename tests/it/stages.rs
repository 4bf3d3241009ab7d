//! Staging labels on KV v2 (ROTATION.md): one test per rule through the HTTP API, and a
//! model-based property test that random writes and label moves on the store keep the labels
//! exactly where the rules say.

use std::collections::BTreeMap;

use coffer::store::{KvVersionRow, KvWrite, SharedStore, StoreError, WriteOutcome};
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

async fn stages(s: &TestServer, path: &str) -> Value {
    let (st, v) = s.call("GET", &format!("secret/stages/{path}"), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["data"]["stages"].clone()
}

async fn put(s: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    s.call("PUT", &format!("secret/data/{path}"), Some(body)).await
}

async fn staged(s: &TestServer, path: &str, value: &str, stages: &[&str]) -> i64 {
    let (st, v) = put(s, path, json!({"data": {"v": value}, "options": {"stages": stages}})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["data"]["version"].as_i64().unwrap()
}

async fn read(s: &TestServer, query: &str) -> (StatusCode, Value) {
    s.call("GET", &format!("secret/data/{query}"), None).await
}

async fn mv(s: &TestServer, path: &str, body: Value) -> StatusCode {
    s.call("POST", &format!("secret/stages/{path}"), Some(body)).await.0
}

#[tokio::test]
async fn rule_1_a_label_sits_on_at_most_one_version() {
    let s = TestServer::dev().await;
    s.write("secret/data/r1", json!({"v": "a"})).await;
    let v2 = staged(&s, "r1", "b", &["blue"]).await;
    assert_eq!(stages(&s, "r1").await, json!({"blue": v2, "current": 1}));
    assert_eq!(
        mv(&s, "r1", json!({"stage": "blue", "move_to_version": 1, "remove_from_version": v2})).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(stages(&s, "r1").await, json!({"blue": 1, "current": 1}));
    let v3 = staged(&s, "r1", "c", &["blue"]).await;
    assert_eq!(stages(&s, "r1").await, json!({"blue": v3, "current": 1}), "attaching elsewhere detaches");
}

#[tokio::test]
async fn rule_2_a_plain_write_takes_current_and_the_old_holder_gets_previous() {
    let s = TestServer::dev().await;
    s.write("secret/data/r2", json!({"v": "1"})).await;
    s.write("secret/data/r2", json!({"v": "2"})).await;
    assert_eq!(stages(&s, "r2").await, json!({"current": 2, "previous": 1}));
    assert_eq!(s.read("secret/data/r2").await["v"], "2", "reads return the newest write, as in Vault");
    let (_, m) = s.call("GET", "secret/metadata/r2", None).await;
    assert_eq!(m["data"]["current_version"], 2);
}

#[tokio::test]
async fn rule_3_a_pending_write_leaves_current_where_it_is() {
    let s = TestServer::dev().await;
    s.write("secret/data/r3", json!({"v": "old"})).await;
    let v2 = staged(&s, "r3", "new", &["pending"]).await;
    assert_eq!(stages(&s, "r3").await, json!({"current": 1, "pending": v2}));
    assert_eq!(s.read("secret/data/r3").await["v"], "old");
    let (_, m) = s.call("GET", "secret/metadata/r3", None).await;
    assert_eq!(m["data"]["current_version"], 1);
    let (st, v) = read(&s, "r3?stage=pending").await;
    assert_eq!((st, v["data"]["data"]["v"].clone()), (StatusCode::OK, json!("new")));
}

#[tokio::test]
async fn rule_4_moves_are_compare_and_set_and_current_drags_previous() {
    let s = TestServer::dev().await;
    s.write("secret/data/r4", json!({"v": "1"})).await;
    let v2 = staged(&s, "r4", "2", &["pending"]).await;
    // A stale or missing holder is refused and changes nothing.
    assert_eq!(
        mv(&s, "r4", json!({"stage": "current", "move_to_version": v2, "remove_from_version": 7})).await,
        StatusCode::CONFLICT
    );
    assert_eq!(mv(&s, "r4", json!({"stage": "current", "move_to_version": v2})).await, StatusCode::CONFLICT);
    assert_eq!(stages(&s, "r4").await, json!({"current": 1, "pending": v2}));
    assert_eq!(
        mv(&s, "r4", json!({"stage": "current", "move_to_version": v2, "remove_from_version": 1})).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(stages(&s, "r4").await, json!({"current": v2, "pending": v2, "previous": 1}));
    assert_eq!(s.read("secret/data/r4").await["v"], "2");
    // Bad moves: an unknown version, `previous` by hand, removing `current`.
    assert_eq!(mv(&s, "r4", json!({"stage": "blue", "move_to_version": 99})).await, StatusCode::BAD_REQUEST);
    assert_eq!(
        mv(&s, "r4", json!({"stage": "previous", "move_to_version": v2, "remove_from_version": 1})).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(mv(&s, "r4", json!({"stage": "current", "remove_from_version": v2})).await, StatusCode::BAD_REQUEST);
    assert_eq!(mv(&s, "nope", json!({"stage": "blue", "move_to_version": 1})).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rule_5_only_unlabelled_versions_are_pruned_by_max_versions() {
    let s = TestServer::dev().await;
    let (st, _) = s.call("POST", "secret/metadata/r5", Some(json!({"max_versions": 2}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    s.write("secret/data/r5", json!({"v": "1"})).await;
    staged(&s, "r5", "2", &["keep"]).await;
    for v in ["3", "4", "5"] {
        s.write("secret/data/r5", json!({ "v": v })).await;
    }
    let (_, m) = s.call("GET", "secret/metadata/r5", None).await;
    let kept: Vec<&String> = m["data"]["versions"].as_object().unwrap().keys().collect();
    assert_eq!(kept, ["2", "4", "5"], "1 and 3 were deprecated; 2 carries a label");
    assert_eq!(stages(&s, "r5").await, json!({"current": 5, "keep": 2, "previous": 4}));
    let (st, v) = read(&s, "r5?stage=keep").await;
    assert_eq!((st, v["data"]["data"]["v"].clone()), (StatusCode::OK, json!("2")));
}

#[tokio::test]
async fn rule_6_stage_and_version_reads_must_agree() {
    let s = TestServer::dev().await;
    s.write("secret/data/r6", json!({"v": "1"})).await;
    s.write("secret/data/r6", json!({"v": "2"})).await;
    assert_eq!(read(&s, "r6?stage=previous").await.1["data"]["data"]["v"], "1");
    assert_eq!(read(&s, "r6?stage=previous&version=1").await.0, StatusCode::OK);
    let (st, e) = read(&s, "r6?stage=previous&version=2").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(read(&s, "r6?stage=nothing").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rule_7_a_request_token_makes_a_write_idempotent() {
    let s = TestServer::dev().await;
    s.write("secret/data/r7", json!({"v": "1"})).await;
    let body = json!({"data": {"v": "2"}, "options": {"stages": ["pending"], "request_token": "tok-1"}});
    let (st, first) = put(&s, "r7", body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{first}");
    let (st, again) = put(&s, "r7", body).await;
    assert_eq!((st, again["data"]["version"].clone()), (StatusCode::OK, first["data"]["version"].clone()));
    let (_, m) = s.call("GET", "secret/metadata/r7", None).await;
    assert_eq!(m["data"]["versions"].as_object().unwrap().len(), 2, "the replay wrote nothing");
    let other = json!({"data": {"v": "other"}, "options": {"stages": ["pending"], "request_token": "tok-1"}});
    let (st, e) = put(&s, "r7", other).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(!e.to_string().contains("other"), "no value is echoed: {e}");
}

#[tokio::test]
async fn rule_8_a_manual_write_during_a_rotation_abandons_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let settings = coffer::core::audit::Settings {
        declared: vec![crate::audit::declared("file", log.to_str().unwrap())],
        ..Default::default()
    };
    let s = TestServer::dev_audited(settings).await;
    s.write("secret/data/r8", json!({"v": "1"})).await;
    staged(&s, "r8", "candidate", &["pending"]).await;
    s.write("secret/data/r8", json!({"v": "manual"})).await;
    assert_eq!(stages(&s, "r8").await, json!({"current": 3, "previous": 1}));
    assert_eq!(s.read("secret/data/r8").await["v"], "manual");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().any(|l| l.contains("\"rotation.abandoned\"")), "the abandonment is an audit event");
}

#[tokio::test]
async fn rule_9_one_rotation_at_a_time_pending_is_absent_or_on_current_before_a_new_one() {
    let s = TestServer::dev().await;
    s.write("secret/data/r9", json!({"v": "1"})).await;
    let v2 = staged(&s, "r9", "2", &["pending"]).await;
    let (st, e) = put(&s, "r9", json!({"data": {"v": "3"}, "options": {"stages": ["pending"]}})).await;
    assert_eq!(st, StatusCode::CONFLICT, "a second pending version is refused: {e}");
    assert_eq!(stages(&s, "r9").await, json!({"current": 1, "pending": v2}));
    // Finishing the rotation (current onto pending) makes a new one possible.
    assert_eq!(
        mv(&s, "r9", json!({"stage": "current", "move_to_version": v2, "remove_from_version": 1})).await,
        StatusCode::NO_CONTENT
    );
    let v3 = staged(&s, "r9", "3", &["pending"]).await;
    assert_eq!(stages(&s, "r9").await, json!({"current": v2, "pending": v3, "previous": 1}));
}

#[tokio::test]
async fn secrets_that_are_never_staged_behave_like_vault_kv_v2() {
    let s = TestServer::dev().await;
    for v in 1..=3 {
        s.write("secret/data/plain", json!({ "v": v })).await;
    }
    assert_eq!(s.read("secret/data/plain").await["v"], 3);
    assert_eq!(read(&s, "plain?version=1").await.1["data"]["data"]["v"], 1);
    let (_, m) = s.call("GET", "secret/metadata/plain", None).await;
    assert_eq!(m["data"]["current_version"], 3);
    let (st, _) = put(&s, "plain", json!({"data": {"v": 4}, "options": {"cas": 3}})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = put(&s, "plain", json!({"data": {"v": 5}, "options": {"cas": 3}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

// ---- The model-based property test on the store ----

const LABELS: [&str; 4] = ["current", "pending", "previous", "blue"];

#[derive(Debug, Clone)]
enum Op {
    /// A write with these labels (indexes into LABELS, without `previous`), optionally a token.
    Write(Vec<usize>, Option<u8>, u8),
    /// Move LABELS[stage] to `to` from `from` (version numbers; 0 = none).
    Move(usize, i64, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (proptest::sample::subsequence(vec![0usize, 1, 3], 0..=2), proptest::option::of(0u8..3), 0u8..4)
            .prop_map(|(s, t, v)| Op::Write(s, t, v)),
        (0usize..4, 0i64..6, 0i64..6).prop_map(|(s, to, from)| Op::Move(s, to, from)),
    ]
}

/// The rules of ROTATION.md as a plain model.
#[derive(Default, Debug)]
struct Model {
    newest: i64,
    labels: BTreeMap<String, i64>,
    tokens: BTreeMap<u8, (i64, u8)>,
}

impl Model {
    fn write(&mut self, stages: &[&str], token: Option<u8>, value: u8) -> WriteOutcome {
        if let Some(t) = token {
            if let Some((v, val)) = self.tokens.get(&t) {
                return if *val == value { WriteOutcome::Replayed(*v) } else { WriteOutcome::TokenReused };
            }
        }
        let new = self.newest + 1;
        let mut stages: Vec<&str> = stages.to_vec();
        let first = self.newest == 0 && !self.labels.contains_key("current");
        if (stages.is_empty() || first) && !stages.contains(&"current") {
            stages.insert(0, "current");
        }
        let takes_current = stages.contains(&"current");
        let mut labels = self.labels.clone();
        if !labels.contains_key("current") && self.newest > 0 && !takes_current {
            labels.insert("current".into(), self.newest);
        }
        let current_before = labels.get("current").copied();
        let mut abandoned = false;
        for st in &stages {
            match *st {
                "current" => {
                    if let Some(old) = labels.get("current").copied().filter(|o| *o != new) {
                        labels.insert("previous".into(), old);
                    }
                    labels.insert("current".into(), new);
                    if !stages.contains(&"pending") && labels.get("pending").is_some_and(|p| *p != new) {
                        labels.remove("pending");
                        abandoned = true;
                    }
                }
                "pending" => {
                    if labels.get("pending").is_some_and(|p| Some(*p) != current_before) {
                        return WriteOutcome::PendingBusy;
                    }
                    labels.insert("pending".into(), new);
                }
                other => {
                    labels.insert(other.into(), new);
                }
            }
        }
        self.labels = labels;
        self.newest = new;
        if let Some(t) = token {
            self.tokens.insert(t, (new, value));
        }
        WriteOutcome::Written { abandoned }
    }

    fn mv(&mut self, stage: &str, to: Option<i64>, from: Option<i64>) -> bool {
        if self.labels.get(stage).copied() != from {
            return false;
        }
        match to {
            None => {
                self.labels.remove(stage);
            }
            Some(v) if from == Some(v) => {}
            Some(v) => {
                if stage == "current" {
                    if let Some(old) = from {
                        self.labels.insert("previous".into(), old);
                    }
                }
                self.labels.insert(stage.into(), v);
            }
        }
        true
    }
}

async fn apply(s: &SharedStore, model: &mut Model, op: &Op) {
    match op {
        Op::Write(idx, token, value) => {
            let stages: Vec<String> = idx.iter().map(|i| LABELS[*i].to_string()).collect();
            let refs: Vec<&str> = stages.iter().map(String::as_str).collect();
            let expected = model.newest;
            let row = KvVersionRow {
                version: expected + 1,
                created_time: "2026-01-01T00:00:00Z".into(),
                deletion_time: None,
                destroyed: false,
                key_term: Some(1),
                ciphertext: Some(coffer::store::Sealed::from_stored(vec![*value])),
            };
            let tok = token.map(|t| format!("t{t}"));
            let digest = [*value];
            let w = KvWrite {
                mount_id: "m",
                path: "p",
                expected_current: expected,
                row: &row,
                max_versions: 100,
                stages: &stages,
                token: tok.as_deref().map(|t| (t, &digest[..])),
            };
            let got = s.kv_write(&w).await.unwrap();
            let want = model.write(&refs, *token, *value);
            assert_eq!(got, want, "{op:?} on {model:?}");
        }
        Op::Move(stage, to, from) => {
            let to = (*to > 0 && *to <= model.newest).then_some(*to);
            let from = (*from > 0).then_some(*from);
            let stage = LABELS[*stage];
            if stage == "current" && to.is_none() {
                return; // the API never removes `current` (rule 4 endpoint refuses it)
            }
            let got = s.kv_stage_move("m", "p", stage, to, from).await;
            let want = model.mv(stage, to, from);
            match got {
                Ok(()) => assert!(want, "{op:?} succeeded on the store but not in the model"),
                Err(StoreError::Conflict) => assert!(!want, "{op:?} refused by the store but not by the model"),
                Err(e) => panic!("{e}"),
            }
        }
    }
    let stored: BTreeMap<String, i64> = s.kv_stages("m", "p").await.unwrap().into_iter().collect();
    assert_eq!(stored, model.labels, "after {op:?}");
    // Invariants that hold whatever the operations: at most one holder per label (a map), and
    // `previous` never on the `current` version after a write.
    if model.newest > 0 {
        assert!(stored.contains_key("current"), "a key with versions always has a current version");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_writes_and_moves_follow_the_label_rules(ops in proptest::collection::vec(op(), 1..24)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let s = coffer::store::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.unwrap();
            s.mount_insert(&crate::store_contract::mount_row("m", "mounts", "m/")).await.unwrap();
            let mut model = Model::default();
            for op in &ops {
                apply(&s, &mut model, op).await;
            }
        });
    }
}

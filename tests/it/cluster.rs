//! Several nodes on one PostgreSQL database: what one node changes, the others see within a
//! second (tokens, policies, mounts, keyring), through `LISTEN/NOTIFY`.
// These tests stand outside the server and compare its answers with the wall clock.
#![allow(clippy::disallowed_methods)]

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;
use crate::store_contract::fresh_pg;

/// A node over the database at `url` (a short singleton lease: 3 s, renewed every second).
async fn node(url: &str) -> TestServer {
    TestServer::at_url(url, Duration::from_secs(3)).await
}

/// Polls `check` until it holds, for at most one second (the propagation bound under test).
async fn within_a_second<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        if check().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} did not propagate within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status(s: &TestServer, token: &str, method: &str, path: &str, body: Option<Value>) -> StatusCode {
    s.call_as(token, method, path, body).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_writes_and_see_revocations_policies_mounts_and_rotation_within_a_second() {
    let (_store, db) = fresh_pg().await;
    let mut a = node(db.url()).await;
    let (shares, root) = a.init(1, 1).await;
    a.unseal(&shares).await;
    let mut b = node(db.url()).await;
    let mut c = node(db.url()).await;
    for n in [&mut b, &mut c] {
        n.token = root.clone();
        n.unseal(&shares).await;
    }
    let (st, v) = a.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    within_a_second("a new mount", || async {
        status(&b, &root, "PUT", "secret/data/from-b", Some(json!({"data": {"v": 0}}))).await == StatusCode::OK
    })
    .await;
    a.write("secret/data/app", json!({"v": 1})).await;
    for n in [&b, &c] {
        assert_eq!(n.read("secret/data/app").await["v"], 1);
    }

    // A token used (and cached) on B, revoked on A.
    let (st, v) = a
        .call(
            "PUT",
            "sys/policies/acl/app",
            Some(json!({"policy": "path \"secret/data/app\" { capabilities = [\"read\"] }"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, t) = a.call("POST", "auth/token/create", Some(json!({"policies": ["app"]}))).await;
    let token = t["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(status(&b, &token, "GET", "secret/data/app", None).await, StatusCode::OK);
    let (st, _) = a.call("POST", "auth/token/revoke", Some(json!({"token": token}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    within_a_second("a revocation", || async {
        status(&b, &token, "GET", "secret/data/app", None).await == StatusCode::FORBIDDEN
    })
    .await;

    // A policy narrowed on A applies on C.
    let (_, t) = a.call("POST", "auth/token/create", Some(json!({"policies": ["app"]}))).await;
    let token = t["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(status(&c, &token, "GET", "secret/data/app", None).await, StatusCode::OK);
    let (st, _) = a
        .call(
            "PUT",
            "sys/policies/acl/app",
            Some(json!({"policy": "path \"secret/data/other\" { capabilities = [\"read\"] }"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    within_a_second("a policy change", || async {
        status(&c, &token, "GET", "secret/data/app", None).await == StatusCode::FORBIDDEN
    })
    .await;

    // A key rotation on A: B decrypts what A writes under the new term.
    let (st, _) = a.call("PUT", "sys/rotate", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    a.write("secret/data/after-rotate", json!({"v": 2})).await;
    within_a_second("a key rotation", || async {
        status(&b, &root, "GET", "secret/data/after-rotate", None).await == StatusCode::OK
    })
    .await;
    let (_, ks) = b.call("GET", "sys/key-status", None).await;
    assert_eq!(ks["data"]["term"], 2, "{ks}");
    // Two nodes rotating at the same moment: both terms are kept (compare-and-set on the keyring).
    let (ra, rb) = tokio::join!(a.call("PUT", "sys/rotate", None), b.call("PUT", "sys/rotate", None));
    assert_eq!((ra.0, rb.0), (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT));
    within_a_second("two concurrent rotations", || async {
        let (_, ka) = a.call("GET", "sys/key-status", None).await;
        let (_, kb) = b.call("GET", "sys/key-status", None).await;
        let (_, kc) = c.call("GET", "sys/key-status", None).await;
        [ka, kb, kc].iter().all(|k| k["data"]["term"] == 4)
    })
    .await;
    a.write("secret/data/term4", json!({"v": 4})).await;
    assert_eq!(b.read("secret/data/term4").await["v"], 4);
    assert_eq!(c.read("secret/data/after-rotate").await["v"], 2);

    // A node sealed on its own answers 503 while the others keep serving.
    let (st, _) = c.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(status(&c, &root, "GET", "secret/data/app", None).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b.read("secret/data/app").await["v"], 1);
    for n in [a, b, c] {
        n.stop().await;
    }
    db.close().await;
}

/// Open `LISTEN` connections in database `db` (one per subscribed node).
async fn listeners(admin: &mut sqlx::PgConnection, db: &str) -> i64 {
    sqlx::query_scalar("select count(*) from pg_stat_activity where datname = $1 and query ilike 'listen%'")
        .bind(db)
        .fetch_one(admin)
        .await
        .unwrap()
}

async fn until_listeners(admin: &mut sqlx::PgConnection, db: &str, want: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listeners(admin, db).await != want {
        assert!(tokio::time::Instant::now() < deadline, "expected {want} LISTEN connections in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_listen_connection_is_killed_resubscribes_and_still_hears_revocations() {
    use sqlx::Connection;
    let (_store, db) = fresh_pg().await;
    let mut a = node(db.url()).await;
    let (shares, root) = a.init(1, 1).await;
    a.unseal(&shares).await;
    let mut b = node(db.url()).await;
    b.token = root.clone();
    b.unseal(&shares).await;
    let mut admin = sqlx::PgConnection::connect(db.url()).await.unwrap();
    until_listeners(&mut admin, db.name(), 2).await;
    within_a_second("the feed gauge to show B subscribed", || async { feed_gauge(&b).await == "1" }).await;
    // The database drops both nodes' LISTEN connections (a failover, a restarted pooler).
    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and query ilike 'listen%'",
    )
    .bind(db.name())
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, vec![true, true]);
    until_listeners(&mut admin, db.name(), 2).await;
    within_a_second("the feed gauge to show B subscribed again", || async { feed_gauge(&b).await == "1" }).await;
    // What B's feed does when its connection drops, shown on the gauge until it subscribes again.
    let core = b.running.as_ref().unwrap().core.clone();
    coffer::core::feed::apply(&core, &coffer::store::bus::Heard::Lost).await;
    assert_eq!(feed_gauge(&b).await, "0");
    coffer::core::feed::apply(&core, &coffer::store::bus::Heard::Everything).await;
    assert_eq!(feed_gauge(&b).await, "1");

    // A token cached on B after the re-subscription, revoked on A: B hears it on the new connection.
    let (st, v) = a
        .call("PUT", "sys/policies/acl/app", Some(json!({"policy": "path \"sys/*\" { capabilities = [\"read\"] }"})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, t) = a.call("POST", "auth/token/create", Some(json!({"policies": ["app"]}))).await;
    let token = t["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(status(&b, &token, "GET", "auth/token/lookup-self", None).await, StatusCode::OK);
    let (st, _) = a.call("POST", "auth/token/revoke", Some(json!({"token": token}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    within_a_second("a revocation after re-subscribing", || async {
        status(&b, &token, "GET", "auth/token/lookup-self", None).await == StatusCode::FORBIDDEN
    })
    .await;
    admin.close().await.unwrap();
    for n in [a, b] {
        n.stop().await;
    }
    db.close().await;
}

/// `coffer_change_feed_connected` as node `s` reports it.
async fn feed_gauge(s: &TestServer) -> String {
    let text = s.request("GET", "sys/metrics?format=prometheus").send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("coffer_change_feed_connected ")).expect("the feed gauge");
    line.rsplit(' ').next().unwrap().to_string()
}

/// The node that says it holds the lease, if exactly one does.
async fn leader_of(nodes: &[&TestServer]) -> Option<usize> {
    let mut leaders = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let (_, v) = n.call_as("", "GET", "sys/leader", None).await;
        if v["is_self"] == true {
            leaders.push(i);
        }
    }
    (leaders.len() == 1).then(|| leaders[0])
}

/// Polls until exactly one of `nodes` leads, for at most `limit`.
async fn wait_for_leader(nodes: &[&TestServer], limit: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(i) = leader_of(nodes).await {
            return i;
        }
        assert!(tokio::time::Instant::now() < deadline, "no single leader within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_leads_the_others_are_performance_standbys_and_the_lease_moves_when_the_leader_stops() {
    let (_store, db) = fresh_pg().await;
    let mut a = node(db.url()).await;
    let (shares, root) = a.init(1, 1).await;
    a.unseal(&shares).await;
    let mut nodes = vec![a];
    for _ in 0..2 {
        let mut n = node(db.url()).await;
        n.token = root.clone();
        n.unseal(&shares).await;
        nodes.push(n);
    }
    let refs: Vec<&TestServer> = nodes.iter().collect();
    let first = wait_for_leader(&refs, Duration::from_secs(5)).await;
    let (_, lead) = nodes[first].call_as("", "GET", "sys/leader", None).await;
    assert_eq!(lead["ha_enabled"], true);
    assert_eq!(lead["leader_address"], nodes[first].base.as_str());
    let epoch = lead["leader_epoch"].as_i64().unwrap();
    for (i, n) in nodes.iter().enumerate() {
        let (st, h) = n.call_as("", "GET", "sys/health", None).await;
        let (expected, standby) =
            if i == first { (StatusCode::OK, false) } else { (StatusCode::from_u16(473).unwrap(), true) };
        assert_eq!(st, expected, "{h}");
        assert_eq!(h["performance_standby"], standby);
        let (st, _) = n.call_as("", "GET", "sys/health?perfstandbyok=true", None).await;
        assert_eq!(st, StatusCode::OK);
        // Every node serves writes, leader or not.
        let (st, v) = n
            .call(
                "POST",
                "sys/policies/acl/p",
                Some(json!({"policy": format!("path \"n{i}\" {{ capabilities = [\"read\"] }}")})),
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    }
    let (st, ha) = nodes[0].call("GET", "sys/ha-status", None).await;
    assert_eq!(st, StatusCode::OK, "{ha}");
    let listed = ha["data"]["nodes"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{ha}");
    assert_eq!(listed.iter().filter(|n| n["active_node"] == true).count(), 1);

    // The leader stops renewing (its process ends): another node takes the lease after it
    // expires (3 s TTL, renewals every second), with a higher epoch.
    let stopped = nodes.remove(first);
    stopped.stop().await;
    let refs: Vec<&TestServer> = nodes.iter().collect();
    let next = wait_for_leader(&refs, Duration::from_secs(6)).await;
    let (_, lead) = nodes[next].call_as("", "GET", "sys/leader", None).await;
    assert!(lead["leader_epoch"].as_i64().unwrap() > epoch, "{lead}");
    for n in nodes {
        n.stop().await;
    }
    db.close().await;
}

fn node_config(dir: &std::path::Path, name: &str, url: &str, key: &std::path::Path) -> std::path::PathBuf {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[listener]\naddress = \"127.0.0.1:0\"\ntls_disable = true\n[storage]\nurl = \"{url}\"\n\
             [seal]\ntype = \"keyfile\"\nkey_file = \"{}\"\n[ha]\nlease_ttl = \"3s\"\n",
            key.display()
        ),
    )
    .unwrap();
    cfg
}

async fn leads(base: &str) -> (bool, i64) {
    let (_, v) = crate::harness::call_url(&reqwest::Client::new(), base, "", "GET", "sys/leader", None).await;
    (v["is_self"] == true, v["leader_epoch"].as_i64().unwrap_or(0))
}

/// Polls `base` until it leads (or, with `want = false`, until it does not), for at most `limit`.
async fn until_leads(base: &str, want: bool, limit: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (is, epoch) = leads(base).await;
        if is == want {
            return epoch;
        }
        assert!(tokio::time::Instant::now() < deadline, "{base}: leadership did not become {want} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signal(p: &crate::restart::Proc, sig: &str) {
    assert!(Command::new("kill").args([sig, &p.child.id().to_string()]).status().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_nodes_hand_over_the_lease_on_sigstop_and_sigkill_and_a_resumed_ex_leader_stands_down() {
    let (_store, db) = fresh_pg().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("unseal.key");
    std::fs::write(&key, coffer::crypto::random_bytes::<32>()).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let a = crate::restart::spawn(&node_config(dir.path(), "a", db.url(), &key));
    let (st, v) =
        crate::harness::call_url(&reqwest::Client::new(), &a.base, "", "PUT", "sys/init", Some(json!({}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let b = crate::restart::spawn(&node_config(dir.path(), "b", db.url(), &key));
    let mut procs = [a, b];
    // Whichever node got the lease first.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let lead = loop {
        if leads(&procs[0].base).await.0 {
            break 0;
        }
        if leads(&procs[1].base).await.0 {
            break 1;
        }
        assert!(tokio::time::Instant::now() < deadline, "no leader within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let other = 1 - lead;
    let first = leads(&procs[lead].base).await.1;
    assert!(!leads(&procs[other].base).await.0);

    // The leader is paused past its lease: the other node takes over with a higher epoch.
    signal(&procs[lead], "-STOP");
    let second = until_leads(&procs[other].base, true, Duration::from_secs(6)).await;
    assert!(second > first, "{first} -> {second}");
    // Resumed, the ex-leader's next renewal fails and it stands down (its fenced writes would be
    // refused: the contract suite shows a superseded epoch commits nothing).
    signal(&procs[lead], "-CONT");
    until_leads(&procs[lead].base, false, Duration::from_secs(3)).await;
    assert!(leads(&procs[other].base).await.0);

    // The new leader is killed outright: the first node takes the lease back.
    procs[other].child.kill().unwrap();
    procs[other].child.wait().unwrap();
    let third = until_leads(&procs[lead].base, true, Duration::from_secs(6)).await;
    assert!(third > second);
    procs[lead].child.kill().unwrap();
    procs[lead].child.wait().unwrap();
    db.close().await;
}

/// Audit settings of a node named `name` with one config-declared file device `file`.
fn audited(name: &str, log: &std::path::Path) -> coffer::server::Options {
    let audit = coffer::core::audit::Settings {
        declared: vec![crate::audit::declared("file", log.to_str().unwrap())],
        node_name: name.to_string(),
        ..Default::default()
    };
    coffer::server::Options {
        seal: coffer::core::seal::SealKind::Shamir,
        limits: crate::harness::limits(),
        audit,
        lease_ttl: Duration::from_secs(3),
        cache: Default::default(),
        aws: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_continues_its_own_audit_chain_after_a_restart_into_a_new_file() {
    let (_store, db) = fresh_pg().await;
    let dir = tempfile::tempdir().unwrap();
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let mut a = TestServer::at_url_opts(db.url(), audited("a", &log_a)).await;
    let (shares, root) = a.init(1, 1).await;
    a.unseal(&shares).await;
    let mut b = TestServer::at_url_opts(db.url(), audited("b", &log_b)).await;
    b.token = root.clone();
    b.unseal(&shares).await;
    let key = crate::audit::public_key(&a, "file").await;
    for n in [&a, &b] {
        let (st, _) = n.call("GET", "sys/mounts", None).await;
        assert_eq!(st, StatusCode::OK);
    }
    a.stop().await;
    // B writes on after A has stopped: its saved head is the newest one in the database.
    for _ in 0..5 {
        b.call("GET", "sys/mounts", None).await;
    }
    b.stop().await;
    // A's file is rotated away while A is down; A resumes the chain from its own saved head.
    let rotated = dir.path().join("a.log.1");
    std::fs::rename(&log_a, &rotated).unwrap();
    let mut a = TestServer::at_url_opts(db.url(), audited("a", &log_a)).await;
    a.token = root.clone();
    a.unseal(&shares).await;
    a.call("GET", "sys/mounts", None).await;
    a.stop().await;
    if let Err(f) = crate::audit::check(&[rotated, log_a], &key) {
        panic!("node a's files do not verify as one chain: {f:?}");
    }
    crate::audit::check(&[log_b], &key).unwrap();
    db.close().await;
}

/// Server options for a node named `name` (`ha.node_name`), with a 3 s singleton lease.
fn named(name: &str) -> coffer::server::Options {
    coffer::server::Options {
        seal: coffer::core::seal::SealKind::Shamir,
        limits: crate::harness::limits(),
        audit: coffer::core::audit::Settings { node_name: name.to_string(), ..Default::default() },
        lease_ttl: Duration::from_secs(3),
        cache: Default::default(),
        aws: Default::default(),
    }
}

/// The `hostname` of every node `sys/ha-status` lists, sorted.
async fn listed_names(s: &TestServer) -> Vec<String> {
    let (st, ha) = s.call("GET", "sys/ha-status", None).await;
    assert_eq!(st, StatusCode::OK, "{ha}");
    let mut names: Vec<String> =
        ha["data"]["nodes"].as_array().unwrap().iter().map(|n| n["hostname"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ha_status_names_nodes_by_ha_node_name_and_drops_stopped_and_silent_nodes() {
    let (store, db) = fresh_pg().await;
    let mut a = TestServer::at_url_opts(db.url(), named("alpha")).await;
    let (shares, root) = a.init(1, 1).await;
    a.unseal(&shares).await;
    let mut b = TestServer::at_url_opts(db.url(), named("beta")).await;
    b.token = root.clone();
    b.unseal(&shares).await;
    // A node that crashed two minutes ago: its row stays, but it no longer counts as alive.
    let now = chrono::Utc::now().timestamp_millis();
    let crashed = coffer::store::NodeRow {
        id: "crashed-node".into(),
        name: "gamma".into(),
        address: "http://127.0.0.1:1".into(),
        last_seen: now - 120_000,
    };
    store.node_seen(&crashed).await.unwrap();

    // Each node records its first heartbeat as it starts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while listed_names(&a).await != ["alpha", "beta"] {
        assert!(tokio::time::Instant::now() < deadline, "ha-status never listed alpha and beta");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, ha) = a.call("GET", "sys/ha-status", None).await;
    let beta = ha["data"]["nodes"].as_array().unwrap().iter().find(|n| n["hostname"] == "beta").unwrap().clone();
    assert_eq!(beta["api_address"], b.base.as_str(), "{ha}");
    assert_ne!(beta["node_id"], "beta", "{ha}");
    assert!(!beta["node_id"].as_str().unwrap().is_empty(), "{ha}");

    // A node that stops cleanly is gone from the list at once.
    b.stop().await;
    assert_eq!(listed_names(&a).await, ["alpha"]);
    a.stop().await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_restored_on_one_node_reaches_the_other_and_a_forced_one_seals_it() {
    let (_store, db) = fresh_pg().await;
    let mut a = node(db.url()).await;
    let (shares, root) = a.init(1, 1).await;
    a.unseal(&shares).await;
    let mut b = node(db.url()).await;
    b.token = root.clone();
    b.unseal(&shares).await;
    let (st, v) = a.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    a.write("secret/data/k", json!({"v": "old"})).await;
    within_a_second("the mount and the write", || async {
        b.call("GET", "secret/data/k", None).await.1["data"]["data"]["v"] == "old"
    })
    .await;
    let snap = a.request("GET", "sys/storage/raft/snapshot").send().await.unwrap().bytes().await.unwrap().to_vec();
    a.write("secret/data/k", json!({"v": "new"})).await;
    within_a_second("the new value", || async { b.read("secret/data/k").await["v"] == "new" }).await;
    let resp = a.request("POST", "sys/storage/raft/snapshot").body(snap.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // B's caches (token, policy, KV rows when the cache is on) give way to the restored store.
    within_a_second("the restore", || async { b.read("secret/data/k").await["v"] == "old" }).await;

    // A forced restore on A: B finds the store replaced under it and seals itself.
    let resp = a.request("POST", "sys/storage/raft/snapshot-force").body(snap).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    within_a_second("B sealing", || async { b.call_as("", "GET", "sys/seal-status", None).await.1["sealed"] == true })
        .await;
    a.unseal(&shares).await;
    b.unseal(&shares).await;
    assert_eq!(b.read("secret/data/k").await["v"], "old");
}

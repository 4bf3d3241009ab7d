//! The KV rows cache on several PostgreSQL nodes (issue 16, LOAD-2): without `multi_node` there is
//! no cache and a read on node B sees a write acknowledged on node A at once; with it, A's write
//! drops B's entry through the change feed within a second, and a node whose feed went down serves
//! from the database until it has subscribed again.
// These tests measure propagation against the wall clock.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::TestServer;
use crate::store_contract::fresh_pg;

fn options(multi_node: bool) -> coffer::server::Options {
    coffer::server::Options {
        seal: coffer::core::seal::SealKind::Shamir,
        limits: crate::harness::limits(),
        audit: Default::default(),
        lease_ttl: Duration::from_secs(3),
        cache: coffer::store::cache::Settings { size: coffer::store::cache::DEFAULT_SIZE, multi_node },
        aws: Default::default(),
    }
}

/// Two unsealed nodes on one fresh database, `secret/` mounted.
pub(crate) async fn pair(url: &str, multi_node: bool) -> (TestServer, TestServer) {
    let mut a = TestServer::at_url_opts(url, options(multi_node)).await;
    let (shares, root) = a.init(1, 1).await;
    a.unseal(&shares).await;
    let mut b = TestServer::at_url_opts(url, options(multi_node)).await;
    b.token = root;
    b.unseal(&shares).await;
    let (st, v) = a.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    // B learns of the mount through the feed.
    let deadline = Instant::now() + Duration::from_secs(2);
    while b.call("GET", "secret/config", None).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "the mount did not reach node b");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (a, b)
}

fn cache(s: &TestServer) -> Option<std::sync::Arc<coffer::store::cache::KvCache>> {
    s.running.as_ref().unwrap().core.kv_cache.load_full()
}

/// How long node `b` took to return `want` at `path`, polling every 2 ms for at most a second.
async fn seen_within(b: &TestServer, path: &str, want: i64) -> Duration {
    let start = Instant::now();
    loop {
        let (st, v) = b.call("GET", path, None).await;
        if st == StatusCode::OK && v["data"]["data"]["v"] == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(1), "node b still answers {v} after a second (want {want})");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load2_without_multi_node_a_read_on_another_node_sees_the_write_at_once() {
    let (_store, db) = fresh_pg().await;
    let (a, b) = pair(db.url(), false).await;
    assert!(cache(&a).is_none() && cache(&b).is_none(), "a shared store has no KV cache by default");
    for v in 1..=20 {
        a.write("secret/data/app", json!({ "v": v })).await;
        // No polling: the very next read on the other node sees the acknowledged write.
        assert_eq!(b.read("secret/data/app").await["v"], v);
        assert_eq!(b.read("secret/data/app").await["v"], v);
    }
    for n in [a, b] {
        n.stop().await;
    }
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_multi_node_a_write_on_one_node_drops_the_entry_on_the_other_within_a_second() {
    let (_store, db) = fresh_pg().await;
    let (a, b) = pair(db.url(), true).await;
    let cb = cache(&b).expect("multi_node turns the cache on");
    assert!(cb.is_serving(), "node b's feed has subscribed");
    let mut windows = Vec::new();
    for v in 1..=20 {
        a.write("secret/data/app", json!({ "v": v })).await;
        windows.push(seen_within(&b, "secret/data/app", v).await);
        // B then serves the value from its cache (once the notice of A's write, which may come
        // after B already read the new value, has dropped the entry one last time).
        let start = Instant::now();
        loop {
            let hits = cb.counts().hits;
            assert_eq!(b.read("secret/data/app").await["v"], v);
            if cb.counts().hits > hits {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(1), "node b never served the value from its cache");
        }
        // A's own cache never serves its old value after its write.
        assert_eq!(a.read("secret/data/app").await["v"], v);
    }
    windows.sort();
    eprintln!(
        "staleness window on node b after a write on node a: median {:?}, max {:?}",
        windows[windows.len() / 2],
        windows[windows.len() - 1]
    );
    for n in [a, b] {
        n.stop().await;
    }
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_feed_went_down_never_serves_what_it_missed() {
    use sqlx::Connection;
    let (_store, db) = fresh_pg().await;
    let (a, b) = pair(db.url(), true).await;
    let cb = cache(&b).unwrap();
    a.write("secret/data/app", json!({"v": 1})).await;
    seen_within(&b, "secret/data/app", 1).await;
    b.read("secret/data/app").await;
    assert!(cb.counts().entries >= 1);
    // The database drops every LISTEN connection; A writes while B may not be listening.
    let mut admin = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and query ilike 'listen%'")
        .bind(db.name())
        .execute(&mut admin)
        .await
        .unwrap();
    for v in 2..=5 {
        a.write("secret/data/app", json!({ "v": v })).await;
        seen_within(&b, "secret/data/app", v).await;
    }
    // B subscribes again and serves from its cache once more.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cb.is_serving() {
        assert!(Instant::now() < deadline, "node b's cache did not resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.write("secret/data/app", json!({"v": 6})).await;
    seen_within(&b, "secret/data/app", 6).await;
    admin.close().await.unwrap();
    for n in [a, b] {
        n.stop().await;
    }
    db.close().await;
}

//! FLT-13: wall-clock jumps, driven through injected clocks. A day forward: due leases are
//! revoked in one bounded pass (no more than a few connections to the target at once) and each
//! scheduled rotation runs once, not once per missed period. An hour back: nothing is revoked or
//! rotated early, and no lease or token can be renewed past issue + max TTL, because expiry is
//! stored as an absolute time.
// These tests stand outside the server and compare its answers with the wall clock.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coffer::base::schedule::{Clock, ManualClock};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::database::{creds_of, role_exists, setup, ROOT_PW};
use crate::rotation::{at, configure_ok, core, leader, status, versions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flt13_clock_jumps_neither_storm_nor_extend_rotations() {
    let s = leader().await;
    let c = core(&s);
    let mut latest = Utc::now();
    for i in 0..8 {
        let path = format!("r{i}");
        s.write(&format!("secret/data/{path}"), json!({"password": "p0"})).await;
        let cfg = configure_ok(
            &s,
            &path,
            json!({"schedule": "rate(1 hour)", "rotator": {"type": "password", "policy": "default"}}),
        )
        .await;
        latest = latest.max(at(&cfg["next_rotation"]));
    }
    // An hour back: nothing is due.
    let clock = ManualClock::new(Utc::now() - TimeDelta::hours(1));
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 0);
    // A day forward: 24 missed periods, one rotation each.
    clock.set(latest + TimeDelta::days(1));
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 8);
    assert_eq!(
        coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await,
        0,
        "a second pass at the same instant rotated again"
    );
    for i in 0..8 {
        let path = format!("r{i}");
        assert_eq!(versions(&s, &path).await, vec![1, 2], "{path}");
        let next = at(&status(&s, &path).await["next_rotation"]);
        assert!(next > clock.now(), "{path}: next rotation {next} is not after the jumped clock");
        assert!(next <= clock.now() + TimeDelta::hours(1) + TimeDelta::minutes(1), "{path}: {next}");
    }
    // And back an hour from there: nothing runs, nothing moves.
    clock.advance(TimeDelta::hours(-1));
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 0);
    for i in 0..8 {
        assert_eq!(versions(&s, &format!("r{i}")).await, vec![1, 2]);
    }
}

/// Moves every lease's times `by` ms: as if the wall clock had jumped by `-by`.
async fn shift_leases(db: &std::path::Path, by: i64) {
    let opts = SqliteConnectOptions::new().filename(db).busy_timeout(Duration::from_secs(10));
    let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
    sqlx::query(
        "update secret_lease set issue_time = issue_time + ?1, expire_time = expire_time + ?1, \
         max_expire = max_expire + ?1, next_attempt = next_attempt + ?1",
    )
    .bind(by)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flt13_clock_jumps_revoke_leases_without_a_storm_and_never_extend_them() {
    let (pg, s) = setup().await;
    let c = core(&s);
    until_leader(&c).await;
    let mut users = Vec::new();
    for _ in 0..40 {
        let (st, v) = s.call("GET", "database/creds/readonly", None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        users.push(creds_of(&v).1);
    }
    // An hour back: nothing is due.
    let clock = ManualClock::new(Utc::now() - TimeDelta::hours(1));
    assert_eq!(coffer::core::leases::worker::tick(&c, &clock).await, 0);
    assert!(role_exists(&pg, &users[0]).await);

    // A day forward: every lease is revoked in one pass, with a bounded number of connections
    // to the target at any moment.
    let busiest = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (busiest, done, url) = (busiest.clone(), done.clone(), pg.url_as("postgres", ROOT_PW));
        tokio::spawn(async move {
            let mut admin = PgConnection::connect(&url).await.unwrap();
            while !done.load(Ordering::Relaxed) {
                let n: i64 = sqlx::query_scalar("select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()")
                    .fetch_one(&mut admin)
                    .await
                    .unwrap();
                busiest.fetch_max(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    clock.set(Utc::now() + TimeDelta::days(1));
    assert_eq!(coffer::core::leases::worker::tick(&c, &clock).await, 40);
    done.store(true, Ordering::Relaxed);
    watcher.await.unwrap();
    for u in &users {
        assert!(!role_exists(&pg, u).await, "{u} outlived its lease");
    }
    let busiest = busiest.load(Ordering::Relaxed);
    assert!(busiest <= 17, "{busiest} connections to the target at once");
    assert_eq!(coffer::core::leases::worker::tick(&c, &clock).await, 0);

    // The clock an hour behind the lease's issue time (the same as the clock jumping back after
    // issue): renewal is still capped at the stored absolute max expiry.
    let (st, v) = s.call("GET", "database/creds/readonly", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let lease = creds_of(&v).0;
    shift_leases(&s.db_path(), 3_600_000).await;
    let (st, v) = s.call("PUT", "sys/leases/renew", Some(json!({"lease_id": lease, "increment": "72h"}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, l) = s.call("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await;
    assert_eq!(st, StatusCode::OK, "{l}");
    let issued = at(&l["data"]["issue_time"]);
    let expires = at(&l["data"]["expire_time"]);
    assert!(expires <= issued + TimeDelta::hours(24), "renewed to {expires}, issued {issued}, max_ttl 24h");
    assert!(!v["warnings"].as_array().unwrap().is_empty(), "the capped renewal says so: {v}");
    s.stop().await;
    drop(pg);
}

#[test]
fn flt13_token_renewal_never_passes_creation_plus_max_ttl_when_the_clock_goes_back() {
    let now = Utc::now();
    let mut row = coffer::core::tokens::root_row([7; 32], now);
    row.ttl = 3600;
    row.explicit_max_ttl = 7200;
    row.expire_time = Some(now.timestamp() + 3600);
    for back in [0, 60, 3600, 86_400] {
        let at = now.timestamp() - back;
        let (ttl, _) = coffer::core::tokens::renewal_ttl(&row, Some(1_000_000), at);
        assert!(at + ttl <= row.creation_time + 7200, "{back} s back: renewed to {}", at + ttl);
    }
    row.period = 1800;
    let at = now.timestamp() - 3600;
    let (ttl, _) = coffer::core::tokens::renewal_ttl(&row, None, at);
    assert!(at + ttl <= row.creation_time + 7200);
}

async fn until_leader(c: &Arc<coffer::core::Core>) {
    let c = c.clone();
    crate::harness::until("leadership", Duration::from_secs(10), || {
        let c = c.clone();
        async move { c.leader.load().is_some() }
    })
    .await;
}

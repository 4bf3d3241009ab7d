//! The cost of one page of a KV folder on SQLite (tests): counted in SQLite virtual machine
//! steps, a page of 10 costs no more in a folder of 40,000 keys than in a folder of 20. A walk
//! that read the folder, or a sub-folder's keys, would cost thousands of times more.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

use super::{SqliteStore, KV_CHILDREN};
use crate::store::children::{names, Page, Walk};

/// The first page of `limit` children of `prefix` in mount `m`, and the VM steps it took.
async fn page(c: &mut SqliteConnection, prefix: &str, limit: u64) -> (Vec<String>, u64) {
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    c.lock_handle().await.unwrap().set_progress_handler(1, move || {
        counter.fetch_add(1, Ordering::Relaxed);
        true
    });
    let walk = Walk::new(prefix, Page::new(None, Some(limit)));
    let paths: Vec<String> = sqlx::query_scalar(KV_CHILDREN)
        .bind("m")
        .bind(prefix)
        .bind(&walk.seed)
        .bind(walk.steps)
        .fetch_all(&mut *c)
        .await
        .unwrap();
    c.lock_handle().await.unwrap().remove_progress_handler();
    (names(prefix, paths), count.load(Ordering::Relaxed))
}

#[tokio::test]
async fn a_page_costs_no_more_in_a_folder_of_forty_thousand_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("coffer.db").display());
    let _store = SqliteStore::open(&url).await.unwrap();
    let mut c = SqliteConnectOptions::from_str(&url).unwrap().foreign_keys(false).connect().await.unwrap();
    sqlx::query(
        "with recursive i(n) as (select 0 union all select n + 1 from i where n < 19999) \
         insert into kv_metadata (mount_id, path, created_time, updated_time) \
         select 'm', f.p || printf('%05d', n), '', '' from i, \
         (select 'big/a/k' as p union all select 'big/k' union all select 'small/k') f \
         where f.p <> 'small/k' or n < 20",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let (small, small_steps) = page(&mut c, "small/", 10).await;
    let (big, big_steps) = page(&mut c, "big/", 10).await;
    assert_eq!(small, (0..10).map(|i| format!("k{i:05}")).collect::<Vec<_>>());
    assert_eq!(big[..2], ["a/", "k00000"]);
    assert_eq!(big.len(), 10);
    assert!(big_steps <= small_steps * 2, "{big_steps} steps in the big folder, {small_steps} in the small one");
}

//! Storage contract: the same checks run against every `Store` backend, each on a fresh store (a
//! SQLite file in a temporary directory, a PostgreSQL database created for the test and dropped
//! after it). PostgreSQL comes from `COFFER_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); these tests fail, never skip, without it.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use coffer::store::{
    self, KvConfigRow, KvMetadataRow, KvVersionRow, KvWrite, MountRow, NodeRow, Page, Sealed, SharedStore, StoreError,
    StoreResult, TokenRow, WriteOutcome,
};
use sqlx::{Connection, PgConnection};

/// The admin database used when `COFFER_TEST_PG_URL` is unset.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin connection URL for test databases.
pub fn pg_admin_url() -> String {
    std::env::var("COFFER_TEST_PG_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_PG_URL.to_string())
}

/// `url` with its database (path) replaced by `name`; host, credentials and query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[host_start..].find('/').map_or(base.len(), |i| host_start + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(&format!("drop database if exists \"{name}\" with (force)")).execute(&mut admin).await?;
    admin.close().await
}

/// A PostgreSQL database that exists for one test. `close().await` drops it; if the test panics
/// first, `Drop` drops it from a background thread (best effort, never blocking the test).
pub struct PgDb {
    admin_url: String,
    name: String,
    url: String,
    closed: bool,
}

impl PgDb {
    /// Creates `coffer_test_<uuid>` through the admin connection.
    pub async fn create() -> PgDb {
        let admin_url = pg_admin_url();
        let name = format!("coffer_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at COFFER_TEST_PG_URL is not reachable: {e}"));
        sqlx::raw_sql(&format!("create database \"{name}\"")).execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
        let url = with_database(&admin_url, &name);
        PgDb { admin_url, name, url, closed: false }
    }

    /// The connection URL of this database (for opening more stores on it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, ending any session still connected to it.
    pub async fn close(mut self) {
        self.closed = true;
        drop_database(&self.admin_url, &self.name).await.unwrap();
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                let _ = rt.block_on(drop_database(&admin_url, &name));
            }
        });
    }
}

/// A store over a new, empty PostgreSQL database, and the handle that drops that database.
pub async fn fresh_pg() -> (SharedStore, PgDb) {
    let db = PgDb::create().await;
    let store = store::open(db.url()).await.unwrap_or_else(|e| panic!("opening {}: {e}", db.name()));
    (store, db)
}

async fn on_sqlite<F, Fut>(check: F)
where
    F: FnOnce(SharedStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}", dir.path().join("coffer.db").display())).await.unwrap();
    check(store).await;
}

async fn on_postgres<F, Fut>(check: F)
where
    F: FnOnce(SharedStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, db) = fresh_pg().await;
    check(store).await;
    db.close().await;
}

/// `contract!(check, sqlite_test, postgres_test)`: runs `check` on each backend.
macro_rules! contract {
    ($check:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            on_sqlite($check).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            on_postgres($check).await;
        }
    };
}

contract!(system_records, contract_system_sqlite, contract_system_postgres);
contract!(leader_lease_and_fencing, contract_lease_sqlite, contract_lease_postgres);
contract!(secret_leases, contract_secret_leases_sqlite, contract_secret_leases_postgres);
contract!(kv_stages, contract_kv_stages_sqlite, contract_kv_stages_postgres);
contract!(mounts, contract_mounts_sqlite, contract_mounts_postgres);
contract!(mount_delete_removes_data, contract_mount_delete_sqlite, contract_mount_delete_postgres);
contract!(tokens, contract_tokens_sqlite, contract_tokens_postgres);
contract!(token_tree, contract_token_tree_sqlite, contract_token_tree_postgres);
contract!(token_use, contract_token_use_sqlite, contract_token_use_postgres);
contract!(token_renew_and_expiry, contract_token_expiry_sqlite, contract_token_expiry_postgres);
contract!(entries, contract_entries_sqlite, contract_entries_postgres);
contract!(
    listing_exact_prefixes,
    sec30_awkward_names_store_and_list_exactly_sqlite,
    sec30_awkward_names_store_and_list_exactly_postgres
);
contract!(nul_values, sec30_nul_round_trips_or_is_refused_sqlite, sec30_nul_round_trips_or_is_refused_postgres);
contract!(kv_versions, contract_kv_versions_sqlite, contract_kv_versions_postgres);
contract!(kv_metadata, contract_kv_metadata_sqlite, contract_kv_metadata_postgres);
contract!(kv_pruning, contract_kv_pruning_sqlite, contract_kv_pruning_postgres);
contract!(kv_delete_destroy, contract_kv_delete_destroy_sqlite, contract_kv_delete_destroy_postgres);
contract!(kv_rewrap, contract_kv_rewrap_sqlite, contract_kv_rewrap_postgres);
contract!(kv_children_pages, contract_kv_children_pages_sqlite, contract_kv_children_pages_postgres);
contract!(kv_concurrent_writers, contract_kv_concurrent_sqlite, contract_kv_concurrent_postgres);
contract!(kv_failed_write_leaves_nothing, contract_kv_atomic_sqlite, contract_kv_atomic_postgres);
contract!(kv_move, contract_kv_move_sqlite, contract_kv_move_postgres);
contract!(kv_metadata_pages, contract_kv_metadata_pages_sqlite, contract_kv_metadata_pages_postgres);

// The same checks with the KV rows cache in front (issue 16): a 1 KiB cache that evicts all the
// time, the default 64 MiB one, and PostgreSQL with `multi_node`.
async fn cached<F, Fut>(store: SharedStore, size: usize, check: F)
where
    F: FnOnce(SharedStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let settings = store::cache::Settings { size, multi_node: true };
    let (store, cache) = store::cache::wrap(store, &settings);
    // A shared store's cache serves once a change feed subscribes; there is none here.
    cache.expect("the cache is on").set_serving(true);
    check(store).await;
}

async fn on_sqlite_cached<F, Fut>(size: usize, check: F)
where
    F: FnOnce(SharedStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}", dir.path().join("coffer.db").display())).await.unwrap();
    cached(store, size, check).await;
}

async fn on_postgres_cached<F, Fut>(check: F)
where
    F: FnOnce(SharedStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, db) = fresh_pg().await;
    cached(store, store::cache::DEFAULT_SIZE, check).await;
    db.close().await;
}

/// `contract_cached!(check, tiny, default, postgres)`: runs `check` behind the cache.
macro_rules! contract_cached {
    ($check:ident, $tiny:ident, $default:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $tiny() {
            on_sqlite_cached(1024, $check).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $default() {
            on_sqlite_cached(store::cache::DEFAULT_SIZE, $check).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            on_postgres_cached($check).await;
        }
    };
}

contract_cached!(kv_stages, cached_kv_stages_1k, cached_kv_stages, cached_kv_stages_postgres);
contract_cached!(mount_delete_removes_data, cached_mount_delete_1k, cached_mount_delete, cached_mount_delete_postgres);
contract_cached!(kv_versions, cached_kv_versions_1k, cached_kv_versions, cached_kv_versions_postgres);
contract_cached!(kv_metadata, cached_kv_metadata_1k, cached_kv_metadata, cached_kv_metadata_postgres);
contract_cached!(kv_pruning, cached_kv_pruning_1k, cached_kv_pruning, cached_kv_pruning_postgres);
contract_cached!(
    kv_delete_destroy,
    cached_kv_delete_destroy_1k,
    cached_kv_delete_destroy,
    cached_kv_delete_destroy_postgres
);
contract_cached!(kv_rewrap, cached_kv_rewrap_1k, cached_kv_rewrap, cached_kv_rewrap_postgres);
contract_cached!(
    kv_children_pages,
    cached_kv_children_pages_1k,
    cached_kv_children_pages,
    cached_kv_children_pages_postgres
);
contract_cached!(kv_concurrent_writers, cached_kv_concurrent_1k, cached_kv_concurrent, cached_kv_concurrent_postgres);
contract_cached!(kv_failed_write_leaves_nothing, cached_kv_atomic_1k, cached_kv_atomic, cached_kv_atomic_postgres);
contract_cached!(kv_move, cached_kv_move_1k, cached_kv_move, cached_kv_move_postgres);

// ---------------------------------------------------------------------------------------------
// Fixtures

const T0: &str = "2024-01-01T00:00:00Z";

fn time(n: i64) -> String {
    format!("2024-01-01T00:00:{:02}Z", n % 60)
}

pub fn mount_row(id: &str, table: &str, path: &str) -> MountRow {
    MountRow {
        id: id.into(),
        table_name: table.into(),
        path: path.into(),
        kind: "kv".into(),
        description: String::new(),
        accessor: format!("kv_{id}"),
        config: "{}".into(),
        options: r#"{"version":"2"}"#.into(),
        local: false,
        seal_wrap: false,
        created_at: T0.into(),
    }
}

async fn kv_mount(s: &SharedStore, id: &str) {
    s.mount_insert(&mount_row(id, "mounts", &format!("{id}/"))).await.unwrap();
}

fn token_row(hash: &[u8], accessor: &str, parent: Option<&[u8]>, expire_time: Option<i64>) -> TokenRow {
    TokenRow {
        hash: hash.to_vec(),
        accessor: accessor.into(),
        parent_hash: parent.map(<[u8]>::to_vec),
        policies: r#"["default"]"#.into(),
        meta: "{}".into(),
        display_name: "token".into(),
        path: "auth/token/create".into(),
        token_type: "service".into(),
        creation_time: 100,
        ttl: 0,
        explicit_max_ttl: 0,
        period: 0,
        num_uses: 0,
        expire_time,
        renewable: false,
        orphan: parent.is_none(),
        bound_cidrs: "[]".into(),
        identity: String::new(),
        max_ttl: 0,
    }
}

fn version(v: i64, term: Option<i64>, ciphertext: &[u8]) -> KvVersionRow {
    KvVersionRow {
        version: v,
        created_time: time(v),
        deletion_time: None,
        destroyed: false,
        key_term: term,
        ciphertext: Some(Sealed::from_stored(ciphertext.to_vec())),
    }
}

/// Appends `row` to `path` if the key is still at `expected`.
async fn write(
    s: &SharedStore,
    mount: &str,
    path: &str,
    expected: i64,
    row: &KvVersionRow,
    max: i64,
) -> StoreResult<()> {
    let w =
        KvWrite { mount_id: mount, path, expected_current: expected, row, max_versions: max, stages: &[], token: None };
    match s.kv_write(&w).await? {
        WriteOutcome::Written { .. } => Ok(()),
        other => panic!("unexpected {other:?}"),
    }
}

/// Appends versions `1..=n` (ciphertext `c<v>`, term 1) to a new key.
async fn write_n(s: &SharedStore, mount: &str, path: &str, n: i64, max: i64) {
    for v in 1..=n {
        write(s, mount, path, v - 1, &version(v, Some(1), format!("c{v}").as_bytes()), max).await.unwrap();
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn is_conflict<T: std::fmt::Debug>(r: &StoreResult<T>) -> bool {
    matches!(r, Err(StoreError::Conflict))
}

// ---------------------------------------------------------------------------------------------
// System records and mounts

async fn system_records(s: SharedStore) {
    assert_eq!(s.system_get("seal").await.unwrap(), None);
    let binary = [0u8, 255, 1, 0, 39, 92];
    s.system_put(&[("seal", b"{}".as_slice()), ("keyring", binary.as_slice())]).await.unwrap();
    assert_eq!(s.system_get("seal").await.unwrap(), Some(b"{}".to_vec()));
    assert_eq!(s.system_get("keyring").await.unwrap(), Some(binary.to_vec()));
    s.system_put(&[("seal", b"v2".as_slice())]).await.unwrap();
    assert_eq!(s.system_get("seal").await.unwrap(), Some(b"v2".to_vec()));
    assert_eq!(s.system_get("keyring").await.unwrap(), Some(binary.to_vec()));
    s.system_put(&[]).await.unwrap();
    // A swap of several records, conditional on one (rekey): all or nothing.
    let stale = s.system_swap_with("keyring", b"stale", &[("keyring", b"k2"), ("seal", b"v3")]).await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    assert_eq!(s.system_get("seal").await.unwrap(), Some(b"v2".to_vec()), "nothing written on conflict");
    s.system_swap_with("keyring", &binary, &[("keyring", b"k2"), ("seal", b"v3")]).await.unwrap();
    assert_eq!(s.system_get("keyring").await.unwrap(), Some(b"k2".to_vec()));
    assert_eq!(s.system_get("seal").await.unwrap(), Some(b"v3".to_vec()));
    let missing = s.system_swap_with("absent", b"x", &[("seal", b"v4")]).await;
    assert!(matches!(missing, Err(StoreError::Conflict)), "{missing:?}");
    assert_eq!(s.system_get("seal").await.unwrap(), Some(b"v3".to_vec()));
}

async fn mounts(s: SharedStore) {
    let mut a = mount_row("id-a", "mounts", "secret/");
    a.local = true;
    a.seal_wrap = true;
    let b = mount_row("id-b", "auth", "secret/");
    let c = mount_row("id-c", "mounts", "apps/");
    for m in [&a, &b, &c] {
        s.mount_insert(m).await.unwrap();
    }
    assert!(is_conflict(&s.mount_insert(&mount_row("id-d", "mounts", "secret/")).await), "path taken in its table");
    assert!(is_conflict(&s.mount_insert(&mount_row("id-a", "mounts", "other/")).await), "id taken");

    let list = s.mount_list().await.unwrap();
    assert_eq!(list.iter().map(|m| m.path.as_str()).collect::<Vec<_>>(), ["apps/", "secret/", "secret/"]);
    assert_eq!(list.iter().find(|m| m.id == "id-a"), Some(&a));

    let mut changed = a.clone();
    changed.description = "team secrets".into();
    changed.config = r#"{"default_lease_ttl":60}"#.into();
    changed.options = r#"{"version":"2","x":"y"}"#.into();
    changed.path = "moved/".into();
    changed.kind = "other".into();
    s.mount_update(&changed).await.unwrap();
    let got = s.mount_list().await.unwrap().into_iter().find(|m| m.id == "id-a").unwrap();
    let expected = MountRow { description: changed.description, config: changed.config, options: changed.options, ..a };
    assert_eq!(got, expected, "update touches only description, config and options");
}

async fn mount_delete_removes_data(s: SharedStore) {
    let (gone, kept) = ("0b5c1e7a-1111-4c55-9d1e-3a3f3f3f3f3f", "7d2e9f10-2222-4a66-8b2f-4b4f4f4f4f4f");
    for id in [gone, kept] {
        kv_mount(&s, id).await;
        s.kv_config_put(id, &KvConfigRow { max_versions: 4, cas_required: true, delete_version_after: 9 })
            .await
            .unwrap();
        write_n(&s, id, "app/db", 2, 10).await;
        s.entry_put(&format!("approle/{id}/role"), "billing", "{}").await.unwrap();
    }
    s.entry_put("policy", "app", "{}").await.unwrap();

    s.mount_delete(gone).await.unwrap();
    assert_eq!(s.mount_list().await.unwrap().iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [kept]);
    assert_eq!(s.kv_config_get(gone).await.unwrap(), KvConfigRow::default());
    assert!(s.kv_read(gone, "app/db", None).await.unwrap().is_none());
    assert!(s.kv_children(gone, "", Page::ALL).await.unwrap().is_empty());
    assert!(s.kv_versions_below_term(99, 100).await.unwrap().iter().all(|(m, _, _)| m == kept));
    assert!(s.entry_list(&format!("approle/{gone}/role"), "").await.unwrap().is_empty());

    assert_eq!(s.kv_config_get(kept).await.unwrap().max_versions, 4);
    assert_eq!(s.kv_read(kept, "app/db", None).await.unwrap().unwrap().0.current_version, 2);
    assert_eq!(s.entry_list(&format!("approle/{kept}/role"), "").await.unwrap(), ["billing"]);
    assert_eq!(s.entry_get("policy", "app").await.unwrap().as_deref(), Some("{}"));
}

// ---------------------------------------------------------------------------------------------
// Tokens

async fn tokens(s: SharedStore) {
    let h1: &[u8] = &[0, 1, 255, 0];
    let mut t1 = token_row(h1, "acc-b", None, Some(1000));
    t1.policies = r#"["default","app"]"#.into();
    t1.meta = r#"{"user":"o'brien"}"#.into();
    t1.num_uses = 3;
    t1.renewable = true;
    t1.ttl = 60;
    t1.explicit_max_ttl = 120;
    t1.period = 30;
    t1.bound_cidrs = r#"["10.0.0.0/8"]"#.into();
    t1.identity = r#"{"mount_accessor":"auth_approle_1","name":"billing"}"#.into();
    s.token_put(&t1).await.unwrap();
    assert_eq!(s.token_get(h1).await.unwrap(), Some(t1.clone()));
    assert_eq!(s.token_by_accessor("acc-b").await.unwrap(), Some(t1.clone()));
    assert_eq!(s.token_get(b"missing").await.unwrap(), None);
    assert_eq!(s.token_by_accessor("missing").await.unwrap(), None);

    let t2 = token_row(b"h2", "acc-a", Some(h1), None);
    s.token_put(&t2).await.unwrap();
    assert_eq!(s.token_get(b"h2").await.unwrap(), Some(t2.clone()));
    assert_eq!(s.token_accessors().await.unwrap(), ["acc-a", "acc-b"]);

    let mut replaced = t1.clone();
    replaced.policies = r#"["root"]"#.into();
    replaced.expire_time = None;
    s.token_put(&replaced).await.unwrap();
    assert_eq!(s.token_get(h1).await.unwrap(), Some(replaced));

    // A put whose accessor another token holds replaces that token (SQLite `insert or replace`).
    let t3 = token_row(b"h3", "acc-a", None, None);
    s.token_put(&t3).await.unwrap();
    assert_eq!(s.token_get(b"h2").await.unwrap(), None);
    assert_eq!(s.token_by_accessor("acc-a").await.unwrap(), Some(t3));

    s.token_delete(h1).await.unwrap();
    assert_eq!(s.token_get(h1).await.unwrap(), None);
    s.token_delete(h1).await.unwrap();
    assert_eq!(s.token_accessors().await.unwrap(), ["acc-a"]);
}

async fn token_tree(s: SharedStore) {
    // r → a → b, r → c; x is unrelated.
    for (h, parent) in [("r", None), ("a", Some("r")), ("b", Some("a")), ("c", Some("r")), ("x", None)] {
        s.token_put(&token_row(h.as_bytes(), &format!("acc-{h}"), parent.map(str::as_bytes), None)).await.unwrap();
    }
    let tree = |v: Vec<Vec<u8>>| sorted(v.into_iter().map(|h| String::from_utf8(h).unwrap()).collect::<Vec<_>>());
    assert_eq!(tree(s.token_tree(b"r").await.unwrap()), ["a", "b", "c", "r"]);
    assert_eq!(tree(s.token_tree(b"a").await.unwrap()), ["a", "b"]);
    assert_eq!(tree(s.token_tree(b"x").await.unwrap()), ["x"]);
    assert!(s.token_tree(b"nope").await.unwrap().is_empty());

    s.token_delete_tree(b"a").await.unwrap();
    assert_eq!(s.token_accessors().await.unwrap(), ["acc-c", "acc-r", "acc-x"]);

    s.token_delete_orphaning(b"r").await.unwrap();
    assert_eq!(s.token_get(b"r").await.unwrap(), None);
    let c = s.token_get(b"c").await.unwrap().unwrap();
    assert_eq!((c.parent_hash, c.orphan), (None, true));
    assert_eq!(s.token_get(b"x").await.unwrap(), Some(token_row(b"x", "acc-x", None, None)));
}

async fn token_use(s: SharedStore) {
    let mut t = token_row(b"limited", "acc-l", None, None);
    t.num_uses = 2;
    s.token_put(&t).await.unwrap();
    s.token_use(b"limited", 2).await.unwrap();
    assert_eq!(s.token_get(b"limited").await.unwrap().unwrap().num_uses, 1);
    assert!(is_conflict(&s.token_use(b"limited", 2).await), "stale expected count");
    s.token_use(b"limited", 1).await.unwrap();
    assert_eq!(s.token_get(b"limited").await.unwrap().unwrap().num_uses, -1, "the last use leaves -1");
    assert!(is_conflict(&s.token_use(b"limited", 1).await));
    assert!(is_conflict(&s.token_use(b"missing", 1).await));

    // Twenty requests race for the same use: exactly one gets it.
    t.num_uses = 5;
    s.token_put(&t).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                s.token_use(b"limited", 5).await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("token_use failed: {e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(s.token_get(b"limited").await.unwrap().unwrap().num_uses, 4);
}

async fn token_renew_and_expiry(s: SharedStore) {
    for (h, exp) in [("e100", Some(100)), ("e200", Some(200)), ("e300", Some(300)), ("never", None)] {
        s.token_put(&token_row(h.as_bytes(), h, None, exp)).await.unwrap();
    }
    let expired = |v: Vec<Vec<u8>>| sorted(v.into_iter().map(|h| String::from_utf8(h).unwrap()).collect::<Vec<_>>());
    assert_eq!(expired(s.token_expired(200, 10).await.unwrap()), ["e100", "e200"]);
    let one = expired(s.token_expired(200, 1).await.unwrap());
    assert!(one == ["e100"] || one == ["e200"], "{one:?}");
    assert!(s.token_expired(99, 10).await.unwrap().is_empty());
    assert!(s.token_expired(1000, 0).await.unwrap().is_empty());
    assert_eq!(s.token_expired(i64::MAX, 10).await.unwrap().len(), 3);

    s.token_renew(b"e100", 600, Some(700)).await.unwrap();
    let t = s.token_get(b"e100").await.unwrap().unwrap();
    assert_eq!((t.ttl, t.expire_time), (600, Some(700)));
    assert_eq!(expired(s.token_expired(200, 10).await.unwrap()), ["e200"]);
    s.token_renew(b"e200", 0, None).await.unwrap();
    assert_eq!(s.token_get(b"e200").await.unwrap().unwrap().expire_time, None);
    assert!(s.token_expired(200, 10).await.unwrap().is_empty());
    assert!(is_conflict(&s.token_renew(b"missing", 1, Some(1)).await));
}

// ---------------------------------------------------------------------------------------------
// Entries and listing

async fn entries(s: SharedStore) {
    assert_eq!(s.entry_get("policy", "app").await.unwrap(), None);
    s.entry_put("policy", "app", r#"{"v":1}"#).await.unwrap();
    s.entry_put("policy", "app", r#"{"v":2}"#).await.unwrap();
    s.entry_put("policy", "admin", "{}").await.unwrap();
    s.entry_put("policy", "web/frontend", "{}").await.unwrap();
    s.entry_put("token_role", "app", "{}").await.unwrap();
    assert_eq!(s.entry_get("policy", "app").await.unwrap().as_deref(), Some(r#"{"v":2}"#));
    assert_eq!(s.entry_list("policy", "").await.unwrap(), ["admin", "app", "web/frontend"]);
    assert_eq!(s.entry_list("policy", "ap").await.unwrap(), ["app"]);
    assert_eq!(s.entry_list("policy", "web/").await.unwrap(), ["web/frontend"]);
    assert!(s.entry_list("nothing", "").await.unwrap().is_empty());

    s.entry_delete("policy", "app").await.unwrap();
    s.entry_delete("policy", "app").await.unwrap();
    assert_eq!(s.entry_get("policy", "app").await.unwrap(), None);
    assert_eq!(s.entry_get("token_role", "app").await.unwrap().as_deref(), Some("{}"));
    s.entry_delete_kind("policy").await.unwrap();
    assert!(s.entry_list("policy", "").await.unwrap().is_empty());
    assert_eq!(s.entry_list("token_role", "").await.unwrap(), ["app"]);
}

/// SEC-30: names with quotes, `;`, `%`, `_`, `\`, emoji and the highest code points round-trip, and
/// a prefix matches literally (`%` and `_` are not wildcards; a prefix followed by U+10FFFF is
/// still under it). NUL is in `nul_values`.
const AWKWARD: &[&str] = &[
    "a",
    "ab",
    "a b",
    "axb",
    "a%",
    "a%b",
    "a_b",
    "a\\b",
    "a'b",
    "a\"b",
    "a;b",
    "a'; drop table entry; --",
    "%",
    "_",
    "\\",
    "\\%",
    "b",
    "x/🔑/y",
    "🔑",
    "🔑/x",
    "Ä",
    "ä/z",
    "日本/語",
    "a\u{10FFFF}",
    "a\u{10FFFF}z",
    "\u{10FFFF}",
    "\u{10FFFF}\u{10FFFF}",
    "a\u{FFFF}",
    "a\u{D7FF}",
    "a\u{E000}",
];

const PREFIXES: &[&str] = &[
    "",
    "a",
    "a%",
    "a_",
    "a\\",
    "a'",
    "a\"",
    "%",
    "_",
    "\\",
    "\\%",
    "x/",
    "🔑",
    "🔑/",
    "ä",
    "日本/",
    "zzz",
    "a\u{10FFFF}",
    "\u{10FFFF}",
    "a\u{D7FF}",
    "a\u{FFFF}",
];

fn expected_under(prefix: &str) -> Vec<String> {
    sorted(AWKWARD.iter().filter(|k| k.starts_with(prefix)).map(|k| k.to_string()).collect())
}

/// The children of `prefix` among `keys`, worked out plainly: each key's name below `prefix` up
/// to and including its first `/`, once each, sorted.
fn children_of(keys: &[String], prefix: &str) -> Vec<String> {
    let names: BTreeSet<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(prefix))
        .filter(|rest| !rest.is_empty())
        .map(|rest| rest.find('/').map_or(rest, |i| &rest[..=i]).to_string())
        .collect();
    names.into_iter().collect()
}

async fn listing_exact_prefixes(s: SharedStore) {
    kv_mount(&s, "m").await;
    for (i, key) in AWKWARD.iter().enumerate() {
        s.entry_put("policy", key, &format!("{{\"i\":{i}}}")).await.unwrap();
        write(&s, "m", key, 0, &version(1, Some(1), key.as_bytes()), 10).await.unwrap();
    }
    for (i, key) in AWKWARD.iter().enumerate() {
        assert_eq!(s.entry_get("policy", key).await.unwrap(), Some(format!("{{\"i\":{i}}}")), "{key}");
        let (meta, v) = s.kv_read("m", key, None).await.unwrap().unwrap();
        assert_eq!(
            (meta.path.as_str(), v.unwrap().ciphertext.unwrap()),
            (*key, Sealed::from_stored(key.as_bytes().to_vec()))
        );
    }
    for prefix in PREFIXES {
        assert_eq!(s.entry_list("policy", prefix).await.unwrap(), expected_under(prefix), "entry prefix {prefix:?}");
        let all: Vec<String> = AWKWARD.iter().map(|k| k.to_string()).collect();
        let got = s.kv_children("m", prefix, Page::ALL).await.unwrap();
        assert_eq!(got, children_of(&all, prefix), "kv prefix {prefix:?}");
    }
    assert!(s.kv_children("other", "", Page::ALL).await.unwrap().is_empty());
}

/// NUL cannot be stored by every backend: it either round-trips exactly or is refused with an
/// error, never a panic, and the store keeps working.
async fn nul_values(s: SharedStore) {
    kv_mount(&s, "m").await;
    let name = "a\0b";
    match s.entry_put("policy", name, "v\0w").await {
        Ok(()) => assert_eq!(s.entry_get("policy", name).await.unwrap().as_deref(), Some("v\0w")),
        Err(e) => assert!(matches!(e, StoreError::Backend(_)) && e.to_string().contains("NUL"), "{e}"),
    }
    match write(&s, "m", name, 0, &version(1, Some(1), b"c"), 10).await {
        Ok(()) => assert_eq!(s.kv_children("m", "a", Page::ALL).await.unwrap(), ["\0b"]),
        Err(e) => assert!(e.to_string().contains("NUL"), "{e}"),
    }
    match s.system_put(&[("ok", b"1".as_slice()), ("bad\0", b"2".as_slice())]).await {
        Ok(()) => assert_eq!(s.system_get("bad\0").await.unwrap(), Some(b"2".to_vec())),
        Err(e) => {
            assert!(e.to_string().contains("NUL"), "{e}");
            assert_eq!(s.system_get("ok").await.unwrap(), None, "all or nothing");
        }
    }
    s.entry_put("policy", "fine", "{}").await.unwrap();
    assert_eq!(s.entry_get("policy", "fine").await.unwrap().as_deref(), Some("{}"));
}

// ---------------------------------------------------------------------------------------------
// KV

async fn kv_versions(s: SharedStore) {
    kv_mount(&s, "m").await;
    assert_eq!(s.kv_config_get("m").await.unwrap(), KvConfigRow::default());
    let cfg = KvConfigRow { max_versions: 5, cas_required: true, delete_version_after: 60 };
    s.kv_config_put("m", &cfg).await.unwrap();
    assert_eq!(s.kv_config_get("m").await.unwrap(), cfg);
    s.kv_config_put("m", &KvConfigRow::default()).await.unwrap();
    assert_eq!(s.kv_config_get("m").await.unwrap(), KvConfigRow::default());

    assert!(s.kv_read("m", "k", None).await.unwrap().is_none());
    assert!(s.kv_metadata_get("m", "k").await.unwrap().is_none());
    assert!(s.kv_metadata_with_versions("m", "k").await.unwrap().is_none());

    let v1 = version(1, Some(1), &[0, 1, 2, 255]);
    write(&s, "m", "k", 0, &v1, 10).await.unwrap();
    let (meta, got) = s.kv_read("m", "k", None).await.unwrap().unwrap();
    assert_eq!((meta.current_version, meta.oldest_version), (1, 0));
    assert_eq!(
        (meta.created_time.as_str(), meta.updated_time.as_str()),
        (v1.created_time.as_str(), v1.created_time.as_str())
    );
    assert_eq!(got, Some(v1.clone()));
    assert!(is_conflict(&write(&s, "m", "k", 0, &version(1, Some(1), b"x"), 10).await), "key exists");
    assert!(is_conflict(&write(&s, "m", "k", 2, &version(3, Some(1), b"x"), 10).await), "ahead of the key");

    let v2 = version(2, Some(2), b"second");
    write(&s, "m", "k", 1, &v2, 10).await.unwrap();
    let (meta, got) = s.kv_read("m", "k", None).await.unwrap().unwrap();
    assert_eq!(
        (meta.current_version, meta.created_time.as_str(), meta.updated_time.as_str()),
        (2, v1.created_time.as_str(), v2.created_time.as_str())
    );
    assert_eq!(got, Some(v2.clone()));
    assert_eq!(s.kv_read("m", "k", Some(1)).await.unwrap().unwrap().1, Some(v1.clone()));
    assert_eq!(s.kv_read("m", "k", Some(7)).await.unwrap().unwrap(), (meta.clone(), None));
    assert_eq!(s.kv_metadata_get("m", "k").await.unwrap(), Some(meta.clone()));

    let (with_meta, versions) = s.kv_metadata_with_versions("m", "k").await.unwrap().unwrap();
    assert_eq!(with_meta, meta);
    let bare = |v: &KvVersionRow| KvVersionRow { ciphertext: None, ..v.clone() };
    assert_eq!(versions, [bare(&v1), bare(&v2)], "versions come without ciphertext");
    assert_eq!(s.kv_children("m", "", Page::ALL).await.unwrap(), ["k"]);
}

async fn kv_metadata(s: SharedStore) {
    kv_mount(&s, "m").await;
    let meta = KvMetadataRow {
        mount_id: "m".into(),
        path: "n".into(),
        max_versions: 3,
        cas_required: true,
        delete_version_after: 10,
        custom_metadata: Some(r#"{"owner":"team-a"}"#.into()),
        created_time: T0.into(),
        updated_time: T0.into(),
        current_version: 0,
        oldest_version: 0,
    };
    s.kv_metadata_put(&meta).await.unwrap();
    assert_eq!(s.kv_metadata_get("m", "n").await.unwrap(), Some(meta.clone()));
    assert_eq!(s.kv_read("m", "n", None).await.unwrap(), Some((meta.clone(), None)));

    // A key with metadata but no version yet takes its first write at expected 0.
    let v1 = version(1, Some(1), b"c1");
    write(&s, "m", "n", 0, &v1, 3).await.unwrap();
    let after = s.kv_metadata_get("m", "n").await.unwrap().unwrap();
    assert_eq!(after, KvMetadataRow { current_version: 1, updated_time: v1.created_time.clone(), ..meta.clone() });

    // Replacing metadata keeps versions, creation time and the version counters.
    let replace = KvMetadataRow {
        max_versions: 7,
        cas_required: false,
        delete_version_after: 0,
        custom_metadata: None,
        created_time: "2030-01-01T00:00:00Z".into(),
        updated_time: "2030-01-02T00:00:00Z".into(),
        current_version: 99,
        oldest_version: 99,
        ..meta.clone()
    };
    s.kv_metadata_put(&replace).await.unwrap();
    let got = s.kv_metadata_get("m", "n").await.unwrap().unwrap();
    let expected = KvMetadataRow { created_time: T0.into(), current_version: 1, oldest_version: 0, ..replace.clone() };
    assert_eq!(got, expected);
    assert_eq!(s.kv_read("m", "n", None).await.unwrap().unwrap().1, Some(v1));
}

async fn kv_pruning(s: SharedStore) {
    kv_mount(&s, "m").await;
    write_n(&s, "m", "k", 5, 3).await;
    let (meta, versions) = s.kv_metadata_with_versions("m", "k").await.unwrap().unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!((meta.current_version, meta.oldest_version), (5, 3));
    assert_eq!(s.kv_read("m", "k", Some(1)).await.unwrap().unwrap().1, None);

    write(&s, "m", "k", 5, &version(6, Some(1), b"c6"), 10).await.unwrap();
    let (meta, versions) = s.kv_metadata_with_versions("m", "k").await.unwrap().unwrap();
    assert_eq!(versions.len(), 4);
    assert_eq!((meta.current_version, meta.oldest_version), (6, 3));
}

async fn kv_delete_destroy(s: SharedStore) {
    kv_mount(&s, "m").await;
    write_n(&s, "m", "k", 3, 10).await;
    let at = "2025-06-01T00:00:00Z";
    let get = |v: i64| {
        let s = s.clone();
        async move { s.kv_read("m", "k", Some(v)).await.unwrap().unwrap().1.unwrap() }
    };
    s.kv_set_deletion("m", "k", &[1, 2], Some(at)).await.unwrap();
    assert_eq!((get(1).await.deletion_time, get(3).await.deletion_time), (Some(at.into()), None));

    s.kv_destroy("m", "k", &[2]).await.unwrap();
    let v2 = get(2).await;
    assert_eq!((v2.destroyed, v2.ciphertext, v2.key_term, v2.deletion_time), (true, None, None, Some(at.into())));

    // Undelete leaves destroyed versions as they are.
    s.kv_set_deletion("m", "k", &[1, 2], None).await.unwrap();
    assert_eq!((get(1).await.deletion_time, get(2).await.deletion_time), (None, Some(at.into())));
    assert_eq!(get(1).await.ciphertext, Some(Sealed::from_stored(b"c1".to_vec())));

    s.kv_set_deletion("m", "k", &[], Some(at)).await.unwrap();
    s.kv_destroy("m", "k", &[]).await.unwrap();
    s.kv_destroy("m", "k", &[9]).await.unwrap();
    assert!(!get(3).await.destroyed);

    s.kv_delete_all("m", "k", None).await.unwrap();
    assert!(s.kv_read("m", "k", None).await.unwrap().is_none());
    assert!(s.kv_metadata_with_versions("m", "k").await.unwrap().is_none());
    assert!(s.kv_children("m", "", Page::ALL).await.unwrap().is_empty());
    write(&s, "m", "k", 0, &version(1, Some(1), b"again"), 10).await.unwrap();
    assert_eq!(
        s.kv_read("m", "k", None).await.unwrap().unwrap().1.unwrap().ciphertext,
        Some(Sealed::from_stored(b"again".to_vec()))
    );
}

/// Keys for the paging checks: keys and folders side by side, names that sort between a folder's
/// name and its `/` (`c-d`, `c.x`) or just after it (`c0`), a folder of many keys, the highest
/// code point, and neighbours of the listed folder that must never show (`dir-x`, `dir0`, `dirt`).
const PAGED: &[&str] = &[
    "dir/a",
    "dir/b",
    "dir/c",
    "dir/c-d",
    "dir/c.x",
    "dir/c/x",
    "dir/c/y/z",
    "dir/c0",
    "dir/d/e",
    "dir/ü",
    "dir/\u{10FFFF}",
    "dir/\u{10FFFF}/x",
    "dir-x",
    "dir0",
    "dirt",
];

/// `after` values besides the children themselves: none, between children, past the end, and
/// strings no child can be (OpenBao compares them as plain strings: `c/y` and `c//` sort just
/// after `c/`, so everything in `c/` is skipped).
const AFTERS: &[&str] = &["", "b0", "c/y", "c//", "big", "big/k", "bigger/", "zz", "\u{10FFFF}\u{10FFFF}", "/", "0"];

/// `kv_children`: each folder once, sorted as OpenBao sorts, strictly after `after`, at most
/// `limit`, and never a key outside the folder; paging by the last name seen walks every child
/// exactly once, whatever the page size.
async fn kv_children_pages(s: SharedStore) {
    kv_mount(&s, "m").await;
    kv_mount(&s, "other").await;
    let mut keys: Vec<String> = PAGED.iter().map(|k| k.to_string()).collect();
    keys.extend((0..40).map(|i| format!("dir/big/k{i:02}")));
    for key in &keys {
        write(&s, "m", key, 0, &version(1, Some(1), b"c"), 10).await.unwrap();
    }
    write(&s, "other", "dir/zzz", 0, &version(1, Some(1), b"c"), 10).await.unwrap();

    for prefix in ["dir/", "", "dir/c/", "dir/big/", "dir/nothing/"] {
        let all = children_of(&keys, prefix);
        assert_eq!(s.kv_children("m", prefix, Page::ALL).await.unwrap(), all, "{prefix:?}");
        for limit in [1, 2, 3, 7, 100] {
            let (mut seen, mut after) = (Vec::new(), None::<String>);
            loop {
                let page = s.kv_children("m", prefix, Page::new(after.as_deref(), Some(limit))).await.unwrap();
                assert!(page.len() <= limit as usize, "{prefix:?} limit {limit}: {page:?}");
                let Some(last) = page.last().cloned() else { break };
                seen.extend(page);
                after = Some(last);
            }
            assert_eq!(seen, all, "{prefix:?} paged by {limit}");
        }
        let names = all.iter().map(String::as_str).chain(AFTERS.iter().copied());
        for after in names {
            let want: Vec<String> = all.iter().filter(|c| c.as_str() > after).cloned().collect();
            let got = s.kv_children("m", prefix, Page::new(Some(after), None)).await.unwrap();
            assert_eq!(got, want, "{prefix:?} after {after:?}");
            let got = s.kv_children("m", prefix, Page::new(Some(after), Some(2))).await.unwrap();
            assert_eq!(got, want.iter().take(2).cloned().collect::<Vec<_>>(), "{prefix:?} after {after:?}, 2");
        }
    }
    assert_eq!(s.kv_children("m", "dir/", Page::new(None, Some(4))).await.unwrap(), ["a", "b", "big/", "c"]);
    assert_eq!(s.kv_children("m", "dir/", Page::new(Some("c"), Some(4))).await.unwrap(), ["c-d", "c.x", "c/", "c0"]);
    assert_eq!(s.kv_children("m", "dir/", Page::new(Some("c/"), Some(2))).await.unwrap(), ["c0", "d/"]);
    assert_eq!(s.kv_children("m", "dir/", Page::new(Some("ü"), None)).await.unwrap(), ["\u{10FFFF}", "\u{10FFFF}/"]);
    assert_eq!(s.kv_children("m", "", Page::ALL).await.unwrap(), ["dir-x", "dir/", "dir0", "dirt"]);
    assert_eq!(s.kv_children("other", "dir/", Page::ALL).await.unwrap(), ["zzz"]);
    assert_eq!(s.kv_children("m", "dir/", Page::new(Some("\u{10FFFF}/"), None)).await.unwrap(), Vec::<String>::new());
}

async fn kv_rewrap(s: SharedStore) {
    kv_mount(&s, "m").await;
    for (path, v, term) in [("a", 1, 1), ("a", 2, 2), ("a", 3, 1), ("b", 1, 3)] {
        write(&s, "m", path, v - 1, &version(v, Some(term), format!("{path}{v}").as_bytes()), 10).await.unwrap();
    }
    s.kv_destroy("m", "a", &[3]).await.unwrap();
    let below = |term: i64, limit: i64| {
        let s = s.clone();
        async move {
            let rows = s.kv_versions_below_term(term, limit).await.unwrap();
            for (_, path, v) in &rows {
                assert_eq!(
                    v.ciphertext.as_ref().map(Sealed::as_bytes),
                    Some(format!("{path}{}", v.version).as_bytes())
                );
            }
            sorted(rows.into_iter().map(|(m, p, v)| (m, p, v.version, v.key_term)).collect::<Vec<_>>())
        }
    };
    let m = || "m".to_string();
    assert_eq!(below(3, 10).await, [(m(), "a".into(), 1, Some(1)), (m(), "a".into(), 2, Some(2))]);
    assert_eq!(below(3, 1).await.len(), 1);
    assert!(below(1, 10).await.is_empty());

    s.kv_rewrap("m", "a", 1, 2, 3, &Sealed::from_stored(b"wrong term".to_vec())).await.unwrap();
    assert_eq!(s.kv_read("m", "a", Some(1)).await.unwrap().unwrap().1.unwrap().key_term, Some(1));
    s.kv_rewrap("m", "a", 1, 1, 3, &Sealed::from_stored(b"rewrapped".to_vec())).await.unwrap();
    let v1 = s.kv_read("m", "a", Some(1)).await.unwrap().unwrap().1.unwrap();
    assert_eq!((v1.key_term, v1.ciphertext), (Some(3), Some(Sealed::from_stored(b"rewrapped".to_vec()))));
    assert_eq!(below(3, 10).await, [(m(), "a".into(), 2, Some(2))]);
}

/// 50 writers race for one key: one wins each version, then all land with dense versions.
async fn kv_concurrent_writers(s: SharedStore) {
    const WRITERS: usize = 50;
    kv_mount(&s, "m").await;
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let race: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                write(&s, "m", "hot", 0, &version(1, Some(1), format!("first-{i}").as_bytes()), 100).await
            })
        })
        .collect();
    let mut won = 0;
    for task in race {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("conditional write failed: {e}"),
        }
    }
    assert_eq!(won, 1, "exactly one writer creates version 1");

    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let retrying: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                write_until_landed(&s, format!("w{i}")).await
            })
        })
        .collect();
    for task in retrying {
        task.await.unwrap();
    }
    let (meta, versions) = s.kv_metadata_with_versions("m", "hot").await.unwrap().unwrap();
    assert_eq!(meta.current_version, WRITERS as i64 + 1);
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), (1..=WRITERS as i64 + 1).collect::<Vec<_>>());
    let mut payloads = BTreeSet::new();
    for v in 2..=WRITERS as i64 + 1 {
        payloads.insert(
            s.kv_read("m", "hot", Some(v)).await.unwrap().unwrap().1.unwrap().ciphertext.unwrap().as_bytes().to_vec(),
        );
    }
    assert_eq!(payloads.len(), WRITERS, "every writer's value landed exactly once");
}

/// Reads the current version and appends the next one, again and again until it wins.
async fn write_until_landed(s: &SharedStore, payload: String) {
    for _ in 0..10_000 {
        let current = s.kv_metadata_get("m", "hot").await.unwrap().map_or(0, |m| m.current_version);
        match write(s, "m", "hot", current, &version(current + 1, Some(1), payload.as_bytes()), 100).await {
            Ok(()) => return,
            Err(StoreError::Conflict) => tokio::task::yield_now().await,
            Err(e) => panic!("conditional write failed: {e}"),
        }
    }
    panic!("{payload} never landed");
}

/// A write that fails, before or after its first statement, leaves nothing behind.
async fn kv_failed_write_leaves_nothing(s: SharedStore) {
    kv_mount(&s, "m").await;
    write_n(&s, "m", "k", 2, 10).await;
    let before = s.kv_metadata_with_versions("m", "k").await.unwrap().unwrap();

    let stale = version(2, Some(1), b"stale");
    assert!(is_conflict(&write(&s, "m", "k", 1, &stale, 10).await), "stale cas");
    assert_eq!(s.kv_metadata_with_versions("m", "k").await.unwrap().unwrap(), before);

    // The metadata update succeeds, then the version insert collides with version 1: the whole
    // write must roll back, leaving current_version and updated_time as they were.
    let mut colliding = version(1, Some(1), b"collides");
    colliding.created_time = "2031-01-01T00:00:00Z".into();
    assert!(is_conflict(&write(&s, "m", "k", 2, &colliding, 10).await), "duplicate version");
    assert_eq!(s.kv_metadata_with_versions("m", "k").await.unwrap().unwrap(), before);
    assert_eq!(
        s.kv_read("m", "k", Some(1)).await.unwrap().unwrap().1.unwrap().ciphertext,
        Some(Sealed::from_stored(b"c1".to_vec()))
    );

    write(&s, "m", "k", 2, &version(3, Some(1), b"c3"), 10).await.unwrap();
    assert_eq!(s.kv_metadata_get("m", "k").await.unwrap().unwrap().current_version, 3);
}

/// The singleton lease: one holder at a time, renewals keep the epoch, a takeover after expiry
/// raises it, and a write fenced with a superseded epoch is refused.
async fn leader_lease_and_fencing(s: SharedStore) {
    use coffer::store::Fence;
    assert_eq!(s.lease_get().await.unwrap(), None);
    assert_eq!(s.lease_acquire("a", 1_000, 3_000).await.unwrap(), Some(1));
    assert_eq!(s.lease_acquire("b", 2_000, 3_000).await.unwrap(), None, "held by a until 4000");
    assert_eq!(s.lease_acquire("a", 3_000, 3_000).await.unwrap(), Some(1), "a renewal keeps the epoch");
    assert_eq!(s.lease_get().await.unwrap().unwrap().expires_at, 6_000);
    // a pauses; b takes over after expiry.
    assert_eq!(s.lease_acquire("b", 6_000, 3_000).await.unwrap(), Some(2));
    assert_eq!(s.lease_acquire("a", 6_500, 3_000).await.unwrap(), None, "the paused ex-leader does not get it back");
    s.token_put(&token_row(b"t1", "acc-t1", None, Some(1))).await.unwrap();
    let stale = Fence { node: "a".into(), epoch: 1 };
    assert!(matches!(s.token_delete_tree_fenced(b"t1", &stale).await, Err(StoreError::Conflict)));
    assert!(s.token_get(b"t1").await.unwrap().is_some(), "the fenced write committed nothing");
    s.token_delete_tree_fenced(b"t1", &Fence { node: "b".into(), epoch: 2 }).await.unwrap();
    assert!(s.token_get(b"t1").await.unwrap().is_none());
    // A release by a non-holder does nothing; the holder's release frees it at once.
    s.lease_release("a").await.unwrap();
    assert_eq!(s.lease_acquire("c", 7_000, 3_000).await.unwrap(), None);
    s.lease_release("b").await.unwrap();
    assert_eq!(s.lease_acquire("c", 7_000, 3_000).await.unwrap(), Some(3));
    // Heartbeats.
    let beat = |id: &str, name: &str, address: &str, last_seen: i64| NodeRow {
        id: id.into(),
        name: name.into(),
        address: address.into(),
        last_seen,
    };
    s.node_seen(&beat("a", "alpha", "http://a", 10)).await.unwrap();
    s.node_seen(&beat("b", "beta", "http://b", 20)).await.unwrap();
    s.node_seen(&beat("a", "alpha2", "http://a2", 30)).await.unwrap();
    s.node_seen(&beat("c", "gamma", "http://c", 5)).await.unwrap();
    let nodes = s.node_list().await.unwrap();
    assert_eq!(
        nodes.iter().map(|n| (n.id.as_str(), n.name.as_str(), n.address.as_str())).collect::<Vec<_>>(),
        [("a", "alpha2", "http://a2"), ("b", "beta", "http://b"), ("c", "gamma", "http://c")]
    );
    // A clean shutdown removes the node's row; forgetting an unknown node is not an error.
    s.node_forget("c").await.unwrap();
    s.node_forget("nobody").await.unwrap();
    assert_eq!(s.node_list().await.unwrap().iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
}

async fn staged_write(
    s: &SharedStore,
    v: i64,
    stages: &[&str],
    token: Option<(&str, &[u8])>,
    max: i64,
) -> WriteOutcome {
    let stages: Vec<String> = stages.iter().map(|x| x.to_string()).collect();
    let row = version(v, Some(1), format!("c{v}").as_bytes());
    let w = KvWrite {
        mount_id: "st",
        path: "k",
        expected_current: v - 1,
        row: &row,
        max_versions: max,
        stages: &stages,
        token,
    };
    s.kv_write(&w).await.unwrap()
}

async fn kv_stages(s: SharedStore) {
    kv_mount(&s, "st").await;
    let labels = |v: Vec<(String, i64)>| v.into_iter().map(|(l, n)| format!("{l}={n}")).collect::<Vec<_>>().join(",");
    assert_eq!(staged_write(&s, 1, &[], None, 10).await, WriteOutcome::Written { abandoned: false });
    assert_eq!(
        staged_write(&s, 2, &["pending"], Some(("t", b"d2")), 10).await,
        WriteOutcome::Written { abandoned: false }
    );
    assert_eq!(labels(s.kv_stages("st", "k").await.unwrap()), "current=1,pending=2");
    // The request token is found with the version it made (the AWS API's version id).
    assert_eq!(s.kv_request_tokens("st", "k").await.unwrap(), vec![("t".to_string(), 2)]);
    // Reads without a version return `current`, not the newest (also once the newest was read
    // by number, and read again: a cache must not work the answer out from the metadata).
    assert_eq!(s.kv_read("st", "k", None).await.unwrap().unwrap().1.unwrap().version, 1);
    assert_eq!(s.kv_read("st", "k", Some(2)).await.unwrap().unwrap().1.unwrap().version, 2);
    for _ in 0..2 {
        assert_eq!(s.kv_read("st", "k", None).await.unwrap().unwrap().1.unwrap().version, 1);
    }
    // Rule 7 and rule 9, with nothing written.
    assert_eq!(staged_write(&s, 3, &["pending"], Some(("t", b"d2")), 10).await, WriteOutcome::Replayed(2));
    assert_eq!(staged_write(&s, 3, &["pending"], Some(("t", b"other")), 10).await, WriteOutcome::TokenReused);
    assert_eq!(staged_write(&s, 3, &["pending"], None, 10).await, WriteOutcome::PendingBusy);
    assert_eq!(s.kv_metadata_get("st", "k").await.unwrap().unwrap().current_version, 2, "refused writes leave nothing");
    // Rule 4: compare-and-set moves; current drags previous.
    assert!(matches!(s.kv_stage_move("st", "k", "current", Some(2), Some(9)).await, Err(StoreError::Conflict)));
    s.kv_stage_move("st", "k", "current", Some(2), Some(1)).await.unwrap();
    s.kv_stage_move("st", "k", "pending", None, Some(2)).await.unwrap();
    assert_eq!(labels(s.kv_stages("st", "k").await.unwrap()), "current=2,previous=1");
    assert_eq!(s.kv_read("st", "k", None).await.unwrap().unwrap().1.unwrap().version, 2);
    // Rule 8: a plain write while a rotation is in flight abandons it.
    assert_eq!(staged_write(&s, 3, &["pending", "blue"], None, 10).await, WriteOutcome::Written { abandoned: false });
    assert_eq!(staged_write(&s, 4, &[], None, 2).await, WriteOutcome::Written { abandoned: true });
    // Rule 5 with max_versions 2: versions 1 and 2 fall out of the last two; `previous` (on 2)
    // does not keep a version alive and goes with it; `blue` keeps version 3.
    assert_eq!(labels(s.kv_stages("st", "k").await.unwrap()), "blue=3,current=4");
    let (_, kept) = s.kv_metadata_with_versions("st", "k").await.unwrap().unwrap();
    assert_eq!(kept.iter().map(|v| v.version).collect::<Vec<_>>(), [3, 4]);
    // Deleting the key deletes its labels and tokens.
    s.kv_delete_all("st", "k", None).await.unwrap();
    assert!(s.kv_stages("st", "k").await.unwrap().is_empty());
    assert!(s.kv_request_tokens("st", "k").await.unwrap().is_empty());
}

fn secret_lease(id: &str, token: Option<&[u8]>, expire: i64) -> coffer::store::leases::SecretLeaseRow {
    coffer::store::leases::SecretLeaseRow {
        id: id.into(),
        mount_id: "m1".into(),
        path: "creds/r".into(),
        role: id.rsplit_once('/').map(|(r, _)| r.to_string()).unwrap_or_default(),
        token_hash: token.map(<[u8]>::to_vec),
        issue_time: 0,
        expire_time: expire,
        max_expire: expire * 2,
        last_renewal: None,
        renewable: true,
        key_term: 1,
        secret: Sealed::from_stored(vec![1, 2, 3]),
        attempts: 0,
        next_attempt: expire,
        last_error: String::new(),
    }
}

async fn secret_leases(s: SharedStore) {
    use coffer::store::Fence;
    let rows = [
        secret_lease("db/creds/a/1", Some(b"t1"), 300),
        secret_lease("db/creds/a/2", Some(b"t1"), 100),
        secret_lease("db/creds/ab/3", Some(b"t2"), 200),
        secret_lease("db/creds/b/4", None, 5_000),
    ];
    for r in &rows {
        s.secret_lease_insert(r).await.unwrap();
    }
    assert!(matches!(s.secret_lease_insert(&rows[0]).await, Err(StoreError::Conflict)), "ids are unique");
    assert_eq!(s.secret_lease_get("db/creds/a/1").await.unwrap().as_ref(), Some(&rows[0]));
    assert_eq!(s.secret_lease_get("db/creds/a/9").await.unwrap(), None);
    // Prefixes are exact: "a/" does not match "ab/".
    assert_eq!(s.secret_lease_ids("db/creds/a/", 100).await.unwrap(), ["db/creds/a/1", "db/creds/a/2"]);
    assert_eq!(s.secret_lease_ids("db/creds/", 2).await.unwrap().len(), 2);
    // Due rows, earliest first, by the expiry index.
    let due: Vec<String> = s.secret_lease_due(300, 10).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(due, ["db/creds/a/2", "db/creds/ab/3", "db/creds/a/1"]);
    assert_eq!(s.secret_lease_due(300, 1).await.unwrap().len(), 1);
    // Renewal moves the expiry and the next attempt; a missing lease is a conflict.
    s.secret_lease_renew("db/creds/a/2", 1_000, 50).await.unwrap();
    let r = s.secret_lease_get("db/creds/a/2").await.unwrap().unwrap();
    assert_eq!((r.expire_time, r.next_attempt, r.last_renewal), (1_000, 1_000, Some(50)));
    assert!(matches!(s.secret_lease_renew("db/creds/a/9", 1, 1).await, Err(StoreError::Conflict)));
    // A failed revocation is recorded and pushes the next attempt out.
    s.secret_lease_failed("db/creds/a/1", 1, 9_000, "boom").await.unwrap();
    let r = s.secret_lease_get("db/creds/a/1").await.unwrap().unwrap();
    assert_eq!((r.attempts, r.next_attempt, r.last_error.as_str()), (1, 9_000, "boom"));
    assert_eq!(s.secret_lease_counts().await.unwrap(), (4, 1));
    assert_eq!(s.secret_lease_counts_by_mount(false).await.unwrap(), [("m1".to_string(), 4)]);
    assert_eq!(s.secret_lease_counts_by_mount(true).await.unwrap(), [("m1".to_string(), 1)]);
    // Counts for quotas.
    assert_eq!(s.secret_lease_count_role("db/creds/a").await.unwrap(), 2);
    assert_eq!(s.secret_lease_count_token(b"t1", None).await.unwrap(), 2);
    assert_eq!(s.secret_lease_count_token(b"t1", Some("db/creds/ab")).await.unwrap(), 0);
    // A revoked token's leases become due now (never later than they were).
    assert_eq!(s.secret_lease_ids_by_token(b"t1").await.unwrap(), ["db/creds/a/1", "db/creds/a/2"]);
    s.secret_lease_due_for_token(b"t1", 60).await.unwrap();
    let due: Vec<String> = s.secret_lease_due(60, 10).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(due, ["db/creds/a/1", "db/creds/a/2"]);
    // Deletes: plain, and fenced by the leader epoch.
    s.secret_lease_delete("db/creds/a/1").await.unwrap();
    s.secret_lease_delete("db/creds/a/1").await.unwrap();
    assert_eq!(s.lease_acquire("n1", 0, 1_000).await.unwrap(), Some(1));
    assert_eq!(s.lease_acquire("n2", 2_000, 1_000).await.unwrap(), Some(2));
    let stale = Fence { node: "n1".into(), epoch: 1 };
    assert!(matches!(s.secret_lease_delete_fenced("db/creds/a/2", &stale).await, Err(StoreError::Conflict)));
    assert!(s.secret_lease_get("db/creds/a/2").await.unwrap().is_some());
    s.secret_lease_delete_fenced("db/creds/a/2", &Fence { node: "n2".into(), epoch: 2 }).await.unwrap();
    assert_eq!(s.secret_lease_counts().await.unwrap(), (2, 0));
    assert!(s.secret_lease_counts_by_mount(true).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_postgres_pool_opens_no_more_than_max_connections() {
    use sqlx::Connection;
    let db = PgDb::create().await;
    let pool = store::Pool { max_connections: 2, ..store::Pool::default() };
    let store = store::open_with(db.url(), &pool).await.unwrap();
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.entry_put("pool", &format!("k{i}"), "v").await.unwrap() })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(store.entry_list("pool", "").await.unwrap().len(), 20);
    let mut admin = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let others: i64 =
        sqlx::query_scalar("select count(*) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()")
            .bind(db.name())
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!((1..=2).contains(&others), "{others} connections for a pool of 2");
    admin.close().await.unwrap();
    drop(store);
    db.close().await;
}

/// Rows of `kv_metadata` that PostgreSQL has read so far, by index or by sequential scan. Every
/// other session of the database is ended first: a session flushes its counts as it exits, so the
/// figure is complete without waiting for the statistics' own schedule.
async fn kv_metadata_rows_read(admin: &mut PgConnection) -> i64 {
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()")
        .execute(&mut *admin)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let others: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
        )
        .fetch_one(&mut *admin)
        .await
        .unwrap();
        if others == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{others} sessions did not end");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    sqlx::query("set stats_fetch_consistency = none").execute(&mut *admin).await.unwrap();
    sqlx::query_scalar(
        "select cast(coalesce((select sum(idx_tup_read) from pg_stat_user_indexes where relname = 'kv_metadata'), 0) \
         + coalesce((select seq_tup_read from pg_stat_user_tables where relname = 'kv_metadata'), 0) as bigint)",
    )
    .fetch_one(&mut *admin)
    .await
    .unwrap()
}

/// A page of a folder reads about one row per child, not the folder: 40,000 keys (half of them
/// in one sub-folder, which counts once), and a page of 10 reads at most 30 rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_of_a_big_folder_reads_one_row_per_child_postgres() {
    let (store, db) = fresh_pg().await;
    kv_mount(&store, "m").await;
    let mut setup = PgConnection::connect(db.url()).await.unwrap();
    sqlx::query(
        "insert into kv_metadata (mount_id, path, created_time, updated_time) \
         select 'm', p || lpad(cast(i as text), 5, '0'), '', '' from generate_series(0, 19999) i, \
         (values ('big/a/k'), ('big/k')) as f(p)",
    )
    .execute(&mut setup)
    .await
    .unwrap();
    setup.close().await.unwrap();
    let mut admin = PgConnection::connect(db.url()).await.unwrap();
    let before = kv_metadata_rows_read(&mut admin).await;
    let page = store.kv_children("m", "big/", Page::new(None, Some(10))).await.unwrap();
    assert_eq!(page, ["a/", "k00000", "k00001", "k00002", "k00003", "k00004", "k00005", "k00006", "k00007", "k00008"]);
    let read = kv_metadata_rows_read(&mut admin).await - before;
    assert!((10..=30).contains(&read), "a page of 10 read {read} rows of kv_metadata");
    admin.close().await.unwrap();
    drop(store);
    db.close().await;
}

// ---------------------------------------------------------------------------------------------
// KV move and metadata pages (sys/search, <mount>/move)

/// Everything stored for one key, to compare before and after a move.
#[derive(Debug, PartialEq)]
struct KeyState {
    meta: Option<KvMetadataRow>,
    versions: Vec<KvVersionRow>,
    stages: Vec<(String, i64)>,
    tokens: Vec<(String, i64)>,
    rotation: Option<coffer::store::rotation::RotationRow>,
}

async fn key_state(s: &SharedStore, mount: &str, path: &str) -> KeyState {
    let mut versions = Vec::new();
    let meta = s.kv_metadata_get(mount, path).await.unwrap();
    if let Some((_, kept)) = s.kv_metadata_with_versions(mount, path).await.unwrap() {
        for v in kept {
            versions.push(s.kv_read(mount, path, Some(v.version)).await.unwrap().unwrap().1.unwrap());
        }
    }
    KeyState {
        meta,
        versions,
        stages: s.kv_stages(mount, path).await.unwrap(),
        tokens: s.kv_request_tokens(mount, path).await.unwrap(),
        rotation: s.rotation_get(mount, path).await.unwrap(),
    }
}

/// What a mover hands the store for `from` → `to`: what it read, each ciphertext "sealed again"
/// (`n<v>`), token digests `d<v>`, and the rotation row's configuration `cfg-new`.
async fn prepared(
    s: &SharedStore,
    mount: &str,
    from: &str,
) -> (KvMetadataRow, Vec<KvVersionRow>, Vec<(String, i64, Vec<u8>)>, Option<(Sealed, i64)>) {
    let (meta, kept) = s
        .kv_metadata_with_versions(mount, from)
        .await
        .unwrap()
        .unwrap_or_else(|| (KvMetadataRow::new(mount, from, T0.into()), Vec::new()));
    let versions = kept
        .into_iter()
        .map(|v| KvVersionRow {
            ciphertext: (!v.destroyed).then(|| Sealed::from_stored(format!("n{}", v.version).into_bytes())),
            ..v
        })
        .collect();
    let tokens = s
        .kv_request_tokens(mount, from)
        .await
        .unwrap()
        .into_iter()
        .map(|(t, v)| (t, v, format!("d{v}").into_bytes()))
        .collect();
    let rotation =
        s.rotation_get(mount, from).await.unwrap().map(|r| (Sealed::from_stored(b"cfg-new".to_vec()), r.rev));
    (meta, versions, tokens, rotation)
}

async fn try_move(s: &SharedStore, mount: &str, from: &str, to: &str) -> coffer::store::moves::MoveOutcome {
    let (meta, versions, tokens, rotation) = prepared(s, mount, from).await;
    let m = coffer::store::moves::KvMove {
        mount_id: mount,
        from,
        to,
        expected: &meta,
        versions: &versions,
        tokens: &tokens,
        rotation: rotation.as_ref().map(|(config, rev)| coffer::store::moves::MovedRotation {
            config,
            key_term: 2,
            rev: *rev,
        }),
    };
    s.kv_move(&m).await.unwrap()
}

async fn kv_move(s: SharedStore) {
    use coffer::store::moves::{KvMove, MoveOutcome};
    kv_mount(&s, "mv").await;
    // A secret with everything a move carries: four versions (one deleted, one destroyed), labels
    // on two, a request token, settings and custom metadata, and a rotation row.
    write_n(&s, "mv", "a", 3, 10).await;
    let row4 = version(4, Some(1), b"c4");
    let staged = ["blue".to_string()];
    let w = KvWrite {
        mount_id: "mv",
        path: "a",
        expected_current: 3,
        row: &row4,
        max_versions: 10,
        stages: &staged,
        token: Some(("tok", b"old-digest")),
    };
    assert_eq!(s.kv_write(&w).await.unwrap(), WriteOutcome::Written { abandoned: false });
    s.kv_set_deletion("mv", "a", &[1], Some("2030-01-01T00:00:00Z")).await.unwrap();
    s.kv_destroy("mv", "a", &[2]).await.unwrap();
    let mut meta = s.kv_metadata_get("mv", "a").await.unwrap().unwrap();
    meta.max_versions = 7;
    meta.cas_required = true;
    meta.delete_version_after = 3600;
    meta.custom_metadata = Some(r#"{"owner":"team-a"}"#.into());
    s.kv_metadata_put(&meta).await.unwrap();
    let mut rot = coffer::store::rotation::RotationRow::new("mv", "a");
    rot.config = Sealed::from_stored(b"cfg-old".to_vec());
    rot.key_term = 1;
    rot.due_at = Some(5);
    s.rotation_insert(&rot).await.unwrap();
    write_n(&s, "mv", "taken", 1, 10).await;
    // Read once, so that a cache in front holds the source.
    assert!(s.kv_read("mv", "a", None).await.unwrap().is_some());
    let before = key_state(&s, "mv", "a").await;
    let taken = key_state(&s, "mv", "taken").await;
    assert_eq!(before.stages, [("blue".to_string(), 4), ("current".to_string(), 3), ("previous".to_string(), 2)]);
    assert_eq!(before.tokens, [("tok".to_string(), 4)]);
    let unchanged = |why: &'static str| {
        let (s, before, taken) = (&s, &before, &taken);
        async move {
            assert_eq!(&key_state(s, "mv", "a").await, before, "{why}: the source changed");
            assert_eq!(&key_state(s, "mv", "taken").await, taken, "{why}: the taken target changed");
            assert_eq!(key_state(s, "mv", "b").await.meta, None, "{why}: something is at the target");
        }
    };

    // Refusals change nothing.
    assert_eq!(try_move(&s, "mv", "nope", "b").await, MoveOutcome::SourceMissing);
    assert_eq!(try_move(&s, "mv", "a", "taken").await, MoveOutcome::TargetExists);
    unchanged("an existing target").await;
    // What the mover read went stale: each difference alone refuses the move.
    let (meta_read, versions, tokens, rotation) = prepared(&s, "mv", "a").await;
    let (cfg, rev) = rotation.unwrap();
    let fresh = coffer::store::moves::MovedRotation { config: &cfg, key_term: 2, rev };
    let base = KvMove {
        mount_id: "mv",
        from: "a",
        to: "b",
        expected: &meta_read,
        versions: &versions,
        tokens: &tokens,
        rotation: Some(fresh),
    };
    let stale_meta = KvMetadataRow { max_versions: 8, ..meta_read.clone() };
    let mut stale_versions = versions.clone();
    stale_versions[0].deletion_time = None;
    let mut resurrected = versions.clone();
    resurrected[1].destroyed = false;
    let other_tokens = [("tok".to_string(), 3, b"d3".to_vec())];
    let old_rev = coffer::store::moves::MovedRotation { rev: rev - 1, ..fresh };
    for (why, m) in [
        ("metadata", KvMove { expected: &stale_meta, ..base }),
        ("a deletion time", KvMove { versions: &stale_versions, ..base }),
        ("a destroyed flag", KvMove { versions: &resurrected, ..base }),
        ("a version missing", KvMove { versions: &versions[1..], ..base }),
        ("no token", KvMove { tokens: &[], ..base }),
        ("a token on another version", KvMove { tokens: &other_tokens, ..base }),
        ("no rotation row", KvMove { rotation: None, ..base }),
        ("an older rotation row", KvMove { rotation: Some(old_rev), ..base }),
    ] {
        assert_eq!(s.kv_move(&m).await.unwrap(), MoveOutcome::Changed, "{why}");
    }
    unchanged("a stale read").await;
    // A rotation in flight refuses the move.
    let mut busy = s.rotation_get("mv", "a").await.unwrap().unwrap();
    busy.step = "set".into();
    s.rotation_update(&busy, None).await.unwrap();
    assert_eq!(try_move(&s, "mv", "a", "b").await, MoveOutcome::RotationInFlight);
    let mut idle = s.rotation_get("mv", "a").await.unwrap().unwrap();
    idle.step = String::new();
    s.rotation_update(&idle, None).await.unwrap();
    let before = key_state(&s, "mv", "a").await;

    // The move: everything is at the target, nothing at the source.
    assert_eq!(try_move(&s, "mv", "a", "b").await, MoveOutcome::Moved);
    let gone = key_state(&s, "mv", "a").await;
    assert_eq!(gone, KeyState { meta: None, versions: vec![], stages: vec![], tokens: vec![], rotation: None });
    assert!(s.kv_read("mv", "a", None).await.unwrap().is_none(), "the old path is not served");
    let after = key_state(&s, "mv", "b").await;
    assert_eq!(after.meta, before.meta.clone().map(|m| KvMetadataRow { path: "b".into(), ..m }));
    assert_eq!(after.stages, before.stages);
    assert_eq!(after.tokens, before.tokens);
    assert_eq!(after.versions.len(), before.versions.len());
    for (new, old) in after.versions.iter().zip(&before.versions) {
        assert_eq!(
            (new.version, &new.created_time, &new.deletion_time, new.destroyed),
            (old.version, &old.created_time, &old.deletion_time, old.destroyed)
        );
        let want = (!old.destroyed).then(|| Sealed::from_stored(format!("n{}", old.version).into_bytes()));
        assert_eq!(new.ciphertext, want, "version {}: the ciphertext sealed for the target", new.version);
    }
    assert_eq!(s.kv_read("mv", "b", None).await.unwrap().unwrap().1.unwrap().version, 3, "current moved with it");
    let r = after.rotation.unwrap();
    let old = before.rotation.unwrap();
    assert_eq!((r.path.as_str(), r.config.as_bytes(), r.key_term, r.rev), ("b", &b"cfg-new"[..], 2, old.rev + 1));
    assert_eq!((r.due_at, r.scheduled, r.step.as_str()), (old.due_at, old.scheduled, ""));
    // The moved key takes writes at its new path; the old path is free for a new secret.
    write(&s, "mv", "b", 4, &version(5, Some(1), b"c5"), 10).await.unwrap();
    write_n(&s, "mv", "a", 1, 10).await;
    assert_eq!(s.kv_metadata_get("mv", "a").await.unwrap().unwrap().current_version, 1);
    assert!(s.kv_stages("mv", "a").await.unwrap().iter().all(|(l, _)| l == "current"));
    // A key with nothing but metadata moves too.
    s.kv_metadata_put(&KvMetadataRow::new("mv", "bare", T0.into())).await.unwrap();
    assert_eq!(try_move(&s, "mv", "bare", "bare2").await, MoveOutcome::Moved);
    assert!(s.kv_metadata_get("mv", "bare").await.unwrap().is_none());
    assert_eq!(s.kv_metadata_get("mv", "bare2").await.unwrap().unwrap().current_version, 0);
}

async fn kv_metadata_pages(s: SharedStore) {
    kv_mount(&s, "pg").await;
    kv_mount(&s, "other").await;
    let keys = ["a", "app/db1", "app/x", "app/y/z", "apq", "app0", "b", "ü", "\u{10FFFF}x"];
    for k in keys {
        write_n(&s, "pg", k, 1, 10).await;
    }
    write_n(&s, "other", "app/z", 1, 10).await;
    let page = |prefix: &'static str, after: Option<&'static str>, limit: i64| {
        let s = s.clone();
        async move {
            s.kv_metadata_page("pg", prefix, after, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.path)
                .collect::<Vec<_>>()
        }
    };
    let mut all: Vec<&str> = keys.to_vec();
    all.sort_unstable();
    assert_eq!(page("", None, 100).await, all);
    assert_eq!(page("app/", None, 2).await, ["app/db1", "app/x"]);
    assert_eq!(page("app/", Some("app/x"), 2).await, ["app/y/z"]);
    assert_eq!(page("app/", Some("app/y/z"), 2).await, Vec::<String>::new());
    assert_eq!(page("app/", Some("apa"), 1).await, ["app/db1"], "after below the prefix: from the prefix");
    assert_eq!(page("app/", Some("b"), 5).await, Vec::<String>::new(), "after past the prefix: nothing");
    assert_eq!(page("app/", Some("app/c"), 5).await, ["app/db1", "app/x", "app/y/z"], "after need not be a key");
    assert_eq!(page("app", None, 10).await, ["app/db1", "app/x", "app/y/z", "app0"], "a prefix is a string prefix");
    assert_eq!(page("", Some("b"), 10).await, ["ü", "\u{10FFFF}x"]);
    assert_eq!(page("\u{10FFFF}", None, 10).await, ["\u{10FFFF}x"], "a prefix without an upper bound");
    assert_eq!(page("\u{10FFFF}", Some("\u{10FFFF}x"), 10).await, Vec::<String>::new());
    assert_eq!(page("app/", None, 0).await, Vec::<String>::new());
    let rows = s.kv_metadata_page("pg", "app/x", None, 10).await.unwrap();
    assert_eq!(rows, vec![s.kv_metadata_get("pg", "app/x").await.unwrap().unwrap()], "whole metadata rows");
}

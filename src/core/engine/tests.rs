//! The narrow engine context holds: a mount's storage view refuses another mount's rows, and only
//! the core's own faces get the whole core; and the change feed drives the KV cache it serves beside.

use std::sync::Arc;

use super::{Background, Builtin, Host, MountStorage, Registry};
use crate::core::mounts::{MountEntry, Unreadable};
use crate::core::seal::SealKind;
use crate::core::Core;
use crate::store::rotation::RotationRow;
use crate::store::{KvMetadataRow, KvVersionRow, KvWrite, MountRow, StoreError};

fn mount(id: &str, kind: &str, path: &str) -> MountEntry {
    MountEntry {
        row: MountRow {
            id: id.into(),
            table_name: "mounts".into(),
            path: path.into(),
            kind: kind.into(),
            description: String::new(),
            accessor: format!("{kind}_1"),
            config: "{}".into(),
            options: "{}".into(),
            local: false,
            seal_wrap: false,
            created_at: String::new(),
        },
        api_path: path.into(),
        engine: Arc::new(Unreadable),
    }
}

async fn core() -> Arc<Core> {
    let store = crate::store::open("sqlite::memory:").await.unwrap();
    let system: Arc<dyn super::Engine> = Arc::new(Unreadable);
    let builtin =
        vec![Builtin { table: "mounts", path: "sys/", kind: "system", description: "", engine: system.clone() }];
    Core::new(store, SealKind::Shamir, Default::default(), 1, Registry { system, builtin, types: Vec::new() })
}

fn foreign<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::Backend(m)) => assert!(m.contains("another mount"), "{m}"),
        other => panic!("a foreign row was served: {other:?}"),
    }
}

#[tokio::test]
async fn a_mount_view_refuses_another_mounts_rows() {
    let core = core().await;
    let own = mount("m1", "approle", "auth/approle/");
    let view: MountStorage<'_> = Host::new(&core, &own).storage();
    view.entry_put("approle/m1/role", "web", "{}").await.unwrap();
    assert_eq!(view.entry_get("approle/m1/role", "web").await.unwrap().as_deref(), Some("{}"));
    // Another mount's kinds, however they are spelled.
    for kind in ["approle/m2/role", "approle", "m1", "approle/m1x/role", "database/m2/config", "cubbyhole/abc", ""] {
        foreign(view.entry_get(kind, "web").await);
        foreign(view.entry_put(kind, "web", "{}").await);
        foreign(view.entry_delete(kind, "web").await);
        foreign(view.entry_list(kind, "").await);
    }
    let row = KvVersionRow {
        version: 1,
        created_time: String::new(),
        deletion_time: None,
        destroyed: false,
        key_term: None,
        ciphertext: None,
    };
    let write = KvWrite {
        mount_id: "m2",
        path: "k",
        expected_current: 0,
        row: &row,
        max_versions: 1,
        stages: &[],
        token: None,
    };
    foreign(view.kv_write(&write).await);
    let meta = KvMetadataRow::bare("m2", "k", 0, 0);
    foreign(view.kv_metadata_put(&meta).await);
    let rotation = RotationRow::new("m2", "k");
    foreign(view.rotation_insert(&rotation).await);
    foreign(view.rotation_update(&rotation, None).await);
    foreign(view.secret_lease_delete("secret/creds/x/abc").await);
}

#[tokio::test]
async fn only_the_cores_own_faces_get_the_whole_core() {
    let core = core().await;
    for kind in ["system", "token"] {
        let m = mount("b", kind, "x/");
        assert!(Host::new(&core, &m).whole_core().is_ok(), "{kind}");
    }
    for kind in ["kv", "database", "approle", "userpass", "jwt", "cubbyhole"] {
        let m = mount("m", kind, "x/");
        let e = Host::new(&core, &m).whole_core().err().unwrap_or_else(|| panic!("{kind} got the core"));
        assert_eq!(e.status, http::StatusCode::INTERNAL_SERVER_ERROR);
    }
    // Background work sees only mounts of its own type.
    let work = Background::new(core.clone(), "kv");
    assert!(work.host(&mount("d", "database", "database/")).is_none());
    assert!(work.host(&mount("k", "kv", "secret/")).is_some());
}

#[tokio::test]
async fn the_feed_stops_the_kv_cache_while_it_is_down_and_restarts_it_empty() {
    use crate::store::bus::{Change, Heard};
    let core = core().await;
    let cache = Arc::new(crate::store::cache::KvCache::shared(1 << 20));
    core.kv_cache.store(Some(cache.clone()));
    assert!(!cache.is_serving(), "a shared store's cache waits for the first subscription");
    crate::core::feed::apply(&core, &Heard::Everything).await;
    assert!(cache.is_serving());
    crate::core::feed::apply(&core, &Heard::Lost).await;
    assert!(!cache.is_serving(), "the cache kept serving while the feed was down");
    crate::core::feed::apply(&core, &Heard::Everything).await;
    assert!(cache.is_serving());
    // Another node's write drops the key here (a fill taken before it is refused).
    let ticket = cache.ticket("m", "k");
    let heard = Heard::Changed(Change::Kv { mount_id: "m".into(), path: "k".into() });
    crate::core::feed::apply(&core, &heard).await;
    let meta = crate::store::KvMetadataRow::bare("m", "k", 1, 1);
    let row = KvVersionRow {
        version: 1,
        created_time: String::new(),
        deletion_time: None,
        destroyed: false,
        key_term: None,
        ciphertext: None,
    };
    cache.fill(ticket, None, &(meta, Some(row)));
    assert!(cache.get("m", "k", None).is_none(), "a read older than the other node's write was kept");
}

//! FLT-06: the disk under the SQLite data directory, or under a PostgreSQL tablespace, fills up (a
//! small tmpfs mounted for the test; the tests run as root). Writes get 507 and leave nothing
//! behind, reads keep working, the process stays up, and writes work again once space is freed,
//! without a restart.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::restart::{call, init, spawn, write_config};

/// A tmpfs mounted for one test; unmounted (lazily, so a still-open file cannot block it) on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the filesystem refuses (ENOSPC).
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match f.write_all(&chunk).and_then(|()| f.sync_all()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => return,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt06_a_full_disk_answers_507_keeps_reads_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _mount = Tmpfs::mount(&data, "8m");
    let cfg = write_config(dir.path());
    let mut p = spawn(&cfg);
    let token = init(&p.base).await;
    let (s, v) = call(&p.base, &token, "POST", "secret/data/before", Some(json!({"data": {"v": "before"}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    fill(&data.join("filler"));
    // Writes may still fit in space the WAL already holds; large ones soon need more.
    let big = "x".repeat(100 * 1024);
    let mut acked = Vec::new();
    let refused = loop {
        let key = format!("big{}", acked.len());
        let (s, v) =
            call(&p.base, &token, "POST", &format!("secret/data/{key}"), Some(json!({"data": {"v": big}}))).await;
        if s != StatusCode::OK {
            assert_eq!(s, StatusCode::INSUFFICIENT_STORAGE, "{v}");
            assert_eq!(v["errors"], json!(["storage is full; the write was not saved"]));
            break key;
        }
        acked.push(key);
        assert!(acked.len() < 80, "the disk never filled up");
    };
    // Further writes are refused the same way (a new version of an existing key too).
    let (s, v) = call(&p.base, &token, "POST", "secret/data/before", Some(json!({"data": {"v": big}}))).await;
    assert_eq!(s, StatusCode::INSUFFICIENT_STORAGE, "{v}");

    // The process is up and reads work: the refused write left nothing, acknowledged ones are whole.
    assert!(p.child.try_wait().unwrap().is_none(), "the server exited on a full disk");
    let (s, _) = call(&p.base, &token, "GET", &format!("secret/data/{refused}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a refused write was stored");
    let (s, v) = call(&p.base, &token, "GET", "secret/data/before", None).await;
    assert_eq!(
        (s, &v["data"]["data"]["v"], &v["data"]["metadata"]["version"]),
        (StatusCode::OK, &json!("before"), &json!(1))
    );
    for key in &acked {
        let (s, v) = call(&p.base, &token, "GET", &format!("secret/data/{key}"), None).await;
        assert_eq!(s, StatusCode::OK, "{key}: {v}");
        assert_eq!(v["data"]["data"]["v"].as_str().map(str::len), Some(big.len()), "{key}");
    }

    // Space is freed: writes work again at once, on the same process.
    std::fs::remove_file(data.join("filler")).unwrap();
    let start = Instant::now();
    loop {
        let (s, v) =
            call(&p.base, &token, "POST", &format!("secret/data/{refused}"), Some(json!({"data": {"v": big}}))).await;
        if s == StatusCode::OK {
            assert_eq!(v["data"]["version"], 1, "{v}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "writes did not resume: {s} {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, v) = call(&p.base, &token, "GET", &format!("secret/data/{refused}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(p.child.try_wait().unwrap().is_none());

    // The file is sound, and no metadata row points at a missing version.
    let db =
        sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", data.join("coffer.db").display())).await.unwrap();
    let check: String = sqlx::query_scalar("pragma integrity_check").fetch_one(&db).await.unwrap();
    assert_eq!(check, "ok");
    let orphans: i64 = sqlx::query_scalar(
        "select count(*) from kv_metadata m where not exists (select 1 from kv_version v where v.mount_id = \
         m.mount_id and v.path = m.path and v.version = m.current_version)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(orphans, 0, "metadata without its version");
    db.close().await;
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt06_postgres_disk_full_answers_507_and_recovers() {
    use sqlx::{Connection, Executor};
    let pg = crate::pg_faults::OwnCluster::start();
    let mnt = tempfile::tempdir().unwrap();
    let _mount = Tmpfs::mount(mnt.path(), "16m");
    let ts = mnt.path().join("ts");
    std::fs::create_dir(&ts).unwrap();
    let out = Command::new("chown").arg("postgres").arg(&ts).output().unwrap();
    assert!(out.status.success());
    std::fs::set_permissions(mnt.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // A database whose tables live on the small filesystem (the WAL stays in the data directory).
    let mut admin = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    admin.execute(format!("create tablespace small location '{}'", ts.display()).as_str()).await.unwrap();
    admin.execute("create database coffer tablespace small").await.unwrap();
    admin.close().await.unwrap();
    let url = format!("postgres://postgres@127.0.0.1:{}/coffer", pg.port);
    let mut s = crate::harness::TestServer::at_url(&url, coffer::server::DEFAULT_LEASE_TTL).await;
    let (shares, _) = s.init(1, 1).await;
    s.unseal(&shares).await;
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("secret/data/before", json!({"v": "before"})).await;

    fill(&mnt.path().join("filler"));
    let big = "x".repeat(100 * 1024);
    let mut acked = 0;
    let refused = loop {
        let key = format!("big{acked}");
        let (st, v) = s.call("POST", &format!("secret/data/{key}"), Some(json!({"data": {"v": big}}))).await;
        if st != StatusCode::OK {
            assert_eq!(st, StatusCode::INSUFFICIENT_STORAGE, "{v}");
            assert_eq!(v["errors"], json!(["storage is full; the write was not saved"]));
            break key;
        }
        acked += 1;
        assert!(acked < 80, "the tablespace never filled up");
    };
    let (st, _) = s.call("GET", &format!("secret/data/{refused}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "a refused write was stored");
    let (st, v) = s.call("GET", "secret/data/before", None).await;
    assert_eq!((st, &v["data"]["data"]["v"]), (StatusCode::OK, &json!("before")), "{v}");

    std::fs::remove_file(mnt.path().join("filler")).unwrap();
    let start = Instant::now();
    loop {
        let (st, v) = s.call("POST", &format!("secret/data/{refused}"), Some(json!({"data": {"v": big}}))).await;
        if st == StatusCode::OK {
            assert_eq!(v["data"]["version"], 1, "{v}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "writes did not resume: {st} {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
    drop(pg);
}

//! One-time table rebuilds at open that need foreign keys off, which SQLite allows only outside a
//! transaction and sqlx's migrator (one transaction per migration) cannot do.

use rusqlite::Connection;

use crate::store::{StoreError, StoreResult};

/// KV v2 tables as `WITHOUT ROWID` tables.
const KV_WITHOUT_ROWID: &str = include_str!("kv_without_rowid.sql");

/// Rebuilds the KV tables as `WITHOUT ROWID` unless they already are: foreign keys off, the
/// rebuild and a foreign key check in one transaction, foreign keys back on. All or nothing (a
/// rebuild that fails leaves the old tables, with a warning), and decided from the schema itself,
/// so a crash at any point leaves a store that opens.
pub(super) fn kv_without_rowid(c: &Connection) -> StoreResult<()> {
    let schema: String =
        c.query_row("select sql from sqlite_master where type = 'table' and name = 'kv_metadata'", [], |r| r.get(0))?;
    if schema.to_ascii_lowercase().contains("without rowid") {
        return Ok(());
    }
    c.execute_batch("pragma foreign_keys = off")?;
    if let Err(e) = rebuild(c) {
        // The old tables keep working (one more lookup per read): a store that opened before
        // this version still opens.
        let _ = c.execute_batch("rollback");
        tracing::warn!(error = %e, "the KV tables were not rebuilt as WITHOUT ROWID tables; they work as before");
    }
    c.execute_batch("pragma foreign_keys = on")?;
    Ok(())
}

fn rebuild(c: &Connection) -> StoreResult<()> {
    c.execute_batch("begin immediate")?;
    c.execute_batch(KV_WITHOUT_ROWID)?;
    let broken: i64 = c.query_row("select count(*) from pragma_foreign_key_check", [], |r| r.get(0))?;
    if broken > 0 {
        return Err(StoreError::Backend(format!("rebuilding the KV tables would break {broken} foreign keys")));
    }
    c.execute_batch("commit")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database as every migration before the rebuild left it, with one of everything in it.
    fn old_store() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        for sql in [
            include_str!("../../../migrations/sqlite/0001_init.sql"),
            include_str!("../../../migrations/sqlite/0002_entries.sql"),
            include_str!("../../../migrations/sqlite/0003_token_bound_cidrs.sql"),
            include_str!("../../../migrations/sqlite/0004_token_identity.sql"),
            include_str!("../../../migrations/sqlite/0005_leader.sql"),
            include_str!("../../../migrations/sqlite/0006_secret_lease.sql"),
            include_str!("../../../migrations/sqlite/0007_kv_stages.sql"),
            include_str!("../../../migrations/sqlite/0008_kv_rotation.sql"),
            include_str!("../../../migrations/sqlite/0009_node_name_token_max_ttl.sql"),
        ] {
            c.execute_batch(sql).unwrap();
        }
        c.execute_batch(
            "pragma foreign_keys = on;
             insert into mount (id, table_name, path, kind, accessor, created_at) values ('m', 'mounts', 'secret/', 'kv', 'kv_1', 't');
             insert into kv_metadata (mount_id, path, created_time, updated_time, current_version) values ('m', 'a', 't', 't', 2);
             insert into kv_version (mount_id, path, version, created_time, ciphertext) values ('m', 'a', 1, 't', x'01'), ('m', 'a', 2, 't', x'02');
             insert into kv_stage (mount_id, path, stage, version) values ('m', 'a', 'current', 2);
             insert into kv_rotation (mount_id, path, config, key_term, scheduled) values ('m', 'a', x'03', 1, 1);",
        )
        .unwrap();
        c
    }

    fn count(c: &Connection, table: &str) -> i64 {
        c.query_row(&format!("select count(*) from {table}"), [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn the_rebuild_keeps_every_row_and_every_foreign_key_and_runs_once() {
        let c = old_store();
        kv_without_rowid(&c).unwrap();
        for table in ["kv_metadata", "kv_version", "kv_stage"] {
            let sql: String =
                c.query_row("select sql from sqlite_master where name = ?1", [table], |r| r.get(0)).unwrap();
            assert!(sql.contains("WITHOUT ROWID"), "{table}: {sql}");
        }
        assert_eq!([count(&c, "kv_metadata"), count(&c, "kv_version"), count(&c, "kv_stage")], [1, 2, 1]);
        let blob: Vec<u8> =
            c.query_row("select ciphertext from kv_version where version = 2", [], |r| r.get(0)).unwrap();
        assert_eq!(blob, vec![2]);
        // A second open finds the tables rebuilt and changes nothing.
        kv_without_rowid(&c).unwrap();
        assert_eq!(count(&c, "kv_version"), 2);
        // Foreign keys are on again and still point at the rebuilt metadata table: deleting the
        // key takes its versions and its rotation with it, and deleting the mount takes the key.
        let fk: i64 = c.query_row("pragma foreign_keys", [], |r| r.get(0)).unwrap();
        assert_eq!(fk, 1);
        c.execute_batch("delete from kv_metadata where path = 'a'").unwrap();
        assert_eq!([count(&c, "kv_version"), count(&c, "kv_rotation")], [0, 0]);
        c.execute_batch(
            "insert into kv_metadata (mount_id, path, created_time, updated_time) values ('m', 'b', 't', 't');
                         delete from mount where id = 'm';",
        )
        .unwrap();
        assert_eq!(count(&c, "kv_metadata"), 0);
    }

    #[test]
    fn a_rebuild_that_would_break_a_foreign_key_changes_nothing_and_the_store_still_opens() {
        let c = old_store();
        // A version whose key is gone (possible only with foreign keys off, as in a damaged file).
        c.execute_batch(
            "pragma foreign_keys = off;
             insert into kv_version (mount_id, path, version, created_time) values ('m', 'gone', 1, 't');
             pragma foreign_keys = on;",
        )
        .unwrap();
        kv_without_rowid(&c).unwrap();
        let sql: String =
            c.query_row("select sql from sqlite_master where name = 'kv_metadata'", [], |r| r.get(0)).unwrap();
        assert!(!sql.contains("WITHOUT ROWID"));
        assert_eq!(count(&c, "kv_version"), 3);
        let fk: i64 = c.query_row("pragma foreign_keys", [], |r| r.get(0)).unwrap();
        assert_eq!(fk, 1);
    }
}

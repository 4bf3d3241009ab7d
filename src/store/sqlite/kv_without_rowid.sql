-- KV v2 tables keyed by their primary key alone (WITHOUT ROWID): a read finds its row with one
-- B-tree descent instead of two (the primary-key index, then the table by rowid), and each key is
-- stored once rather than twice. Run by src/store/sqlite/rebuild.rs inside one transaction with
-- foreign keys off (SQLite's table-rebuild procedure), which sqlx's migrator cannot do.

CREATE TABLE kv_metadata_new (
    mount_id             text not null references mount (id) on delete cascade,
    path                 text not null,
    max_versions         integer not null default 0,
    cas_required         integer not null default 0,
    delete_version_after integer not null default 0,
    custom_metadata      text,
    created_time         text not null,
    updated_time         text not null,
    current_version      integer not null default 0,
    oldest_version       integer not null default 0,
    primary key (mount_id, path)
) WITHOUT ROWID;
INSERT INTO kv_metadata_new (mount_id, path, max_versions, cas_required, delete_version_after, custom_metadata,
    created_time, updated_time, current_version, oldest_version)
    SELECT mount_id, path, max_versions, cas_required, delete_version_after, custom_metadata, created_time,
    updated_time, current_version, oldest_version FROM kv_metadata;
DROP TABLE kv_metadata;
ALTER TABLE kv_metadata_new RENAME TO kv_metadata;

CREATE TABLE kv_version_new (
    mount_id      text not null,
    path          text not null,
    version       integer not null,
    created_time  text not null,
    deletion_time text,
    destroyed     integer not null default 0,
    key_term      integer,
    ciphertext    blob,
    primary key (mount_id, path, version),
    foreign key (mount_id, path) references kv_metadata (mount_id, path) on delete cascade
) WITHOUT ROWID;
INSERT INTO kv_version_new (mount_id, path, version, created_time, deletion_time, destroyed, key_term, ciphertext)
    SELECT mount_id, path, version, created_time, deletion_time, destroyed, key_term, ciphertext FROM kv_version;
DROP TABLE kv_version;
ALTER TABLE kv_version_new RENAME TO kv_version;

CREATE TABLE kv_stage_new (
    mount_id TEXT NOT NULL,
    path     TEXT NOT NULL,
    stage    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (mount_id, path, stage)
) WITHOUT ROWID;
INSERT INTO kv_stage_new (mount_id, path, stage, version) SELECT mount_id, path, stage, version FROM kv_stage;
DROP TABLE kv_stage;
ALTER TABLE kv_stage_new RENAME TO kv_stage;

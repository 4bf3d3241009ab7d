-- Coffer schema, version 1 (PostgreSQL). The same tables, columns and indexes as the SQLite
-- schema: BYTEA for blobs, BIGINT for integers and Unix times, BOOLEAN for flags, TEXT for the
-- rest. Only secret values are stored, and only as barrier ciphertext (`ciphertext`, `value`).
-- Key columns that are listed by prefix or returned sorted use the "C" collation, so ordering and
-- prefix ranges compare code points (byte order), as SQLite's BINARY collation does, whatever the
-- database's default collation.

-- Small system records: seal configuration (clear), wrapped root key, wrapped keyring, and
-- barrier-encrypted system secrets such as the token HMAC key.
create table system_entry (
    key   text collate "C" primary key not null,
    value bytea not null
);

-- Secrets engines and auth methods. `table_name` is 'mounts' or 'auth'.
create table mount (
    id          text primary key not null,
    table_name  text not null,
    path        text collate "C" not null,
    kind        text not null,
    description text not null default '',
    accessor    text not null,
    config      text not null default '{}',
    options     text not null default '{}',
    local       boolean not null default false,
    seal_wrap   boolean not null default false,
    created_at  text not null,
    unique (table_name, path)
);

-- Tokens, keyed by HMAC-SHA256(token) under a key kept inside the barrier; never the token itself.
create table token (
    hash             bytea primary key not null,
    accessor         text collate "C" not null unique,
    parent_hash      bytea,
    policies         text not null,
    meta             text not null default '{}',
    display_name     text not null default '',
    path             text not null default '',
    token_type       text not null default 'service',
    creation_time    bigint not null,
    ttl              bigint not null default 0,
    explicit_max_ttl bigint not null default 0,
    period           bigint not null default 0,
    num_uses         bigint not null default 0,
    expire_time      bigint,
    renewable        boolean not null default false,
    orphan           boolean not null default false
);
create index token_expire_idx on token (expire_time) where expire_time is not null;
create index token_parent_idx on token (parent_hash) where parent_hash is not null;

-- KV v2 engine-wide settings, one row per mount.
create table kv_config (
    mount_id             text primary key not null references mount (id) on delete cascade,
    max_versions         bigint not null default 0,
    cas_required         boolean not null default false,
    delete_version_after bigint not null default 0
);

-- KV v2 per-key metadata.
create table kv_metadata (
    mount_id             text not null references mount (id) on delete cascade,
    path                 text collate "C" not null,
    max_versions         bigint not null default 0,
    cas_required         boolean not null default false,
    delete_version_after bigint not null default 0,
    custom_metadata      text,
    created_time         text not null,
    updated_time         text not null,
    current_version      bigint not null default 0,
    oldest_version       bigint not null default 0,
    primary key (mount_id, path)
);

-- KV v2 versions: the value is barrier ciphertext whose AAD names mount, path and version.
create table kv_version (
    mount_id      text not null,
    path          text collate "C" not null,
    version       bigint not null,
    created_time  text not null,
    deletion_time text,
    destroyed     boolean not null default false,
    key_term      bigint,
    ciphertext    bytea,
    primary key (mount_id, path, version),
    foreign key (mount_id, path) references kv_metadata (mount_id, path) on delete cascade
);

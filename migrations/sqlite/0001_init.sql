-- Coffer schema, version 1. Relational tables with real columns and indexes; only secret values
-- are stored, and only as barrier ciphertext (blob columns named `ciphertext` or `sealed`).

-- Small system records: seal configuration (clear), wrapped root key, wrapped keyring, and
-- barrier-encrypted system secrets such as the token HMAC key.
create table system_entry (
    key   text primary key not null,
    value blob not null
);

-- Secrets engines and auth methods. `table_name` is 'mounts' or 'auth'.
create table mount (
    id          text primary key not null,
    table_name  text not null,
    path        text not null,
    kind        text not null,
    description text not null default '',
    accessor    text not null,
    config      text not null default '{}',
    options     text not null default '{}',
    local       integer not null default 0,
    seal_wrap   integer not null default 0,
    created_at  text not null,
    unique (table_name, path)
);

-- Tokens, keyed by HMAC-SHA256(token) under a key kept inside the barrier; never the token itself.
create table token (
    hash             blob primary key not null,
    accessor         text not null unique,
    parent_hash      blob,
    policies         text not null,
    meta             text not null default '{}',
    display_name     text not null default '',
    path             text not null default '',
    token_type       text not null default 'service',
    creation_time    integer not null,
    ttl              integer not null default 0,
    explicit_max_ttl integer not null default 0,
    period           integer not null default 0,
    num_uses         integer not null default 0,
    expire_time      integer,
    renewable        integer not null default 0,
    orphan           integer not null default 0
);
create index token_expire_idx on token (expire_time) where expire_time is not null;
create index token_parent_idx on token (parent_hash) where parent_hash is not null;

-- KV v2 engine-wide settings, one row per mount.
create table kv_config (
    mount_id             text primary key not null references mount (id) on delete cascade,
    max_versions         integer not null default 0,
    cas_required         integer not null default 0,
    delete_version_after integer not null default 0
);

-- KV v2 per-key metadata.
create table kv_metadata (
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
);

-- KV v2 versions: the value is barrier ciphertext whose AAD names mount, path and version.
create table kv_version (
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
);

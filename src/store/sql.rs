//! The SQL statements both stores run, each written once with `$1…` placeholders.
//!
//! sqlx's SQLite driver reads a `$N` marker as "bind argument N", exactly as PostgreSQL does, so
//! one `&'static str` serves both: no rewriting, nothing to cache. Two rules keep a statement
//! portable: no `::` casts (SQLite would read `$1::bigint` as one parameter name; write
//! `cast($1 as bigint)`), and booleans as `true`/`false`. What truly differs (SQLite's
//! `insert or replace`, `instr`, version lists, `rowid` claims; PostgreSQL's arrays, `strpos`,
//! `for share`/`for update` locks, `skip locked`) stays in each store, built from the column
//! lists below where it can.

/// Columns of `token`, in [`super::TokenRow`] order (`$1…$19` in [`TOKEN_VALUES`]).
macro_rules! token_cols {
    () => {
        "hash, accessor, parent_hash, policies, meta, display_name, path, token_type, creation_time, ttl, \
         explicit_max_ttl, period, num_uses, expire_time, renewable, orphan, bound_cidrs, identity, max_ttl"
    };
}
pub(crate) use token_cols;

/// The placeholders for [`token_cols`].
macro_rules! token_values {
    () => {
        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19"
    };
}
pub(crate) use token_values;

/// Columns of `kv_version` after `mount_id, path`, in [`super::KvVersionRow`] order.
macro_rules! version_cols {
    () => {
        "version, created_time, deletion_time, destroyed, key_term, ciphertext"
    };
}

/// Columns of `secret_lease`, in [`super::leases::SecretLeaseRow`] order.
macro_rules! lease_cols {
    () => {
        "id, mount_id, path, role, token_hash, issue_time, expire_time, max_expire, last_renewal, renewable, \
         key_term, secret, attempts, next_attempt, last_error"
    };
}

/// Columns of `kv_rotation`, in [`super::rotation::RotationRow`] order.
macro_rules! rotation_cols {
    () => {
        "mount_id, path, config, key_term, scheduled, fire_at, next_rotation_at, due_at, claim_epoch, step, \
         step_done, cause, version_token, from_version, pending_version, new_value, attempts, started_at, \
         last_rotated_at, last_outcome, last_error, succeeded, failed, abandoned, rev"
    };
}
pub(crate) use rotation_cols;

/// The least string greater than every string that starts with `prefix`, in code point order;
/// `None` when there is none (empty prefix, or only U+10FFFF). With the "C" collation (and
/// SQLite's binary one), `prefix <= s < upper` is exactly "`s` starts with `prefix`": no wildcard
/// to escape, and an index range scan. Without an upper bound, `s >= prefix` alone is exact.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Where a page of [`KV_METADATA_PAGE`] starts: `(lower bound, excluded path)`. From `after` when
/// it sorts at or past `prefix` (excluding `after` itself), else from `prefix` (excluding nothing:
/// no path is empty).
pub(crate) fn page_start<'a>(prefix: &'a str, after: Option<&'a str>) -> (&'a str, &'a str) {
    match after {
        Some(a) if a >= prefix => (a, a),
        _ => (prefix, ""),
    }
}

// ---- System entries ----

pub(crate) const SYSTEM_GET: &str = "select value from system_entry where key = $1";
pub(crate) const SYSTEM_PUT: &str =
    "insert into system_entry (key, value) values ($1, $2) on conflict (key) do update set value = excluded.value";
pub(crate) const SYSTEM_SWAP: &str = "update system_entry set value = $1 where key = $2 and value = $3";

// ---- Mounts ----

pub(crate) const MOUNT_LIST: &str = "select * from mount order by path";
pub(crate) const MOUNT_INSERT: &str = "insert into mount (id, table_name, path, kind, description, accessor, \
     config, options, local, seal_wrap, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
pub(crate) const MOUNT_UPDATE: &str = "update mount set description = $1, config = $2, options = $3 where id = $4";
/// A mount's KV rows, deleted before its auth entries (dialect-specific) and the mount row.
pub(crate) const MOUNT_DELETE_KV: [&str; 5] = [
    "delete from kv_version where mount_id = $1",
    "delete from kv_metadata where mount_id = $1",
    "delete from kv_config where mount_id = $1",
    "delete from kv_stage where mount_id = $1",
    "delete from kv_request_token where mount_id = $1",
];
pub(crate) const MOUNT_DELETE: &str = "delete from mount where id = $1";

// ---- Tokens ----

pub(crate) const TOKEN_GET: &str = "select * from token where hash = $1";
pub(crate) const TOKEN_DELETE: &str = "delete from token where hash = $1";
pub(crate) const TOKEN_BY_ACCESSOR: &str = "select * from token where accessor = $1";
pub(crate) const TOKEN_ACCESSORS: &str = "select accessor from token order by accessor";
/// A token and all its descendants, by parent links.
pub(crate) const TOKEN_TREE: &str = "with recursive tree(h) as (select hash from token where hash = $1 \
     union select t.hash from token t join tree on t.parent_hash = tree.h) select h from tree";
/// Deletes a token and all its descendants.
pub(crate) const TOKEN_TREE_DELETE: &str = "delete from token where hash in (with recursive tree(h) as (select hash \
     from token where hash = $1 union select t.hash from token t join tree on t.parent_hash = tree.h) select h from tree)";
/// Makes a token's children orphans (before [`TOKEN_DELETE`]).
pub(crate) const TOKEN_ORPHAN_CHILDREN: &str =
    "update token set parent_hash = null, orphan = true where parent_hash = $1";
/// The last use leaves -1 ("used up"), never 0, which would mean unlimited.
pub(crate) const TOKEN_USE: &str = "update token set num_uses = case when num_uses = 1 then -1 else num_uses - 1 end \
     where hash = $1 and num_uses = $2";
pub(crate) const TOKEN_RENEW: &str = "update token set ttl = $1, expire_time = $2 where hash = $3";
pub(crate) const TOKEN_EXPIRED: &str =
    "select hash from token where expire_time is not null and expire_time <= $1 limit $2";

// ---- Entries (auth roles, users, policies…) ----

pub(crate) const ENTRY_GET: &str = "select value from entry where kind = $1 and name = $2";
pub(crate) const ENTRY_PUT: &str = "insert into entry (kind, name, value) values ($1, $2, $3) \
     on conflict (kind, name) do update set value = excluded.value";
pub(crate) const ENTRY_DELETE: &str = "delete from entry where kind = $1 and name = $2";
pub(crate) const ENTRY_DELETE_KIND: &str = "delete from entry where kind = $1";
/// Names of kind `$1` from `$2` (the prefix) below `$3` (its [`prefix_upper_bound`]).
pub(crate) const ENTRY_LIST: &str = "select name from entry where kind = $1 and name >= $2 and name < $3 order by name";
/// [`ENTRY_LIST`] for a prefix without an upper bound.
pub(crate) const ENTRY_LIST_FROM: &str = "select name from entry where kind = $1 and name >= $2 order by name";

// ---- KV v2 ----

pub(crate) const KV_CONFIG_GET: &str =
    "select max_versions, cas_required, delete_version_after from kv_config where mount_id = $1";
pub(crate) const KV_CONFIG_PUT: &str = "insert into kv_config (mount_id, max_versions, cas_required, \
     delete_version_after) values ($1, $2, $3, $4) on conflict (mount_id) do update set \
     max_versions = excluded.max_versions, cas_required = excluded.cas_required, \
     delete_version_after = excluded.delete_version_after";
/// One indexed query: the metadata row joined to the wanted version (`$1`, else the `current`
/// label, else the current version) by primary key; read into [`super::binds::Joined`].
pub(crate) const KV_READ: &str = "select m.*, v.version as v_version, v.created_time as v_created_time, \
     v.deletion_time as v_deletion_time, v.destroyed as v_destroyed, \
     v.key_term as v_key_term, v.ciphertext as v_ciphertext \
     from kv_metadata m left join kv_version v on v.mount_id = m.mount_id \
     and v.path = m.path and v.version = coalesce(cast($1 as bigint), (select s.version from kv_stage s \
     where s.mount_id = m.mount_id and s.path = m.path and s.stage = 'current'), m.current_version) \
     where m.mount_id = $2 and m.path = $3";
pub(crate) const KV_METADATA_GET: &str = "select * from kv_metadata where mount_id = $1 and path = $2";
/// Every version of a key, without the ciphertext.
pub(crate) const KV_VERSIONS: &str = "select version, created_time, deletion_time, destroyed, key_term, \
     cast(null as bytea) as ciphertext from kv_version where mount_id = $1 and path = $2 order by version";
/// Moves the key from `$5` to the new version `$1`; no row when another writer got there first
/// (or the key is new).
pub(crate) const KV_ADVANCE: &str = "update kv_metadata set current_version = $1, updated_time = $2 \
     where mount_id = $3 and path = $4 and current_version = $5";
/// Creates a new key's metadata; a unique violation (someone created it meanwhile) is a conflict.
pub(crate) const KV_CREATE: &str = "insert into kv_metadata (mount_id, path, created_time, updated_time, \
     current_version) values ($1, $2, $3, $3, $4)";
pub(crate) const KV_VERSION_INSERT: &str =
    concat!("insert into kv_version (mount_id, path, ", version_cols!(), ") values ($1, $2, $3, $4, $5, $6, $7, $8)");
/// Drops versions below `$3`, except those with a label other than `previous` (ROTATION.md rule 5).
pub(crate) const KV_PRUNE: &str = "delete from kv_version where mount_id = $1 and path = $2 and version < $3 \
     and version not in (select version from kv_stage where mount_id = $1 and path = $2 and stage <> 'previous')";
/// After [`KV_PRUNE`]: records the oldest version left (`$1` if none).
pub(crate) const KV_OLDEST: &str = "update kv_metadata set oldest_version = (select coalesce(min(version), $1) \
     from kv_version where mount_id = $2 and path = $3) where mount_id = $2 and path = $3";
/// After [`KV_PRUNE`]: drops the labels of versions gone.
pub(crate) const KV_STAGE_CLEAN: &str = "delete from kv_stage where mount_id = $1 and path = $2 and version not in \
     (select version from kv_version where mount_id = $1 and path = $2)";
pub(crate) const KV_REQUEST_TOKENS: &str =
    "select token, version from kv_request_token where mount_id = $1 and path = $2 order by version";
pub(crate) const KV_STAGES: &str =
    "select stage, version from kv_stage where mount_id = $1 and path = $2 order by stage";
pub(crate) const KV_METADATA_PUT: &str = "insert into kv_metadata (mount_id, path, max_versions, cas_required, \
     delete_version_after, custom_metadata, created_time, updated_time, current_version, oldest_version) \
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (mount_id, path) do update set \
     max_versions = excluded.max_versions, cas_required = excluded.cas_required, \
     delete_version_after = excluded.delete_version_after, \
     custom_metadata = excluded.custom_metadata, updated_time = excluded.updated_time";
/// A key's labels (`$1` mount, `$2` path).
pub(crate) const KV_DELETE_LABELS: &str = "delete from kv_stage where mount_id = $1 and path = $2";
/// A key's request tokens (`$1` mount, `$2` path).
pub(crate) const KV_DELETE_TOKENS: &str = "delete from kv_request_token where mount_id = $1 and path = $2";
pub(crate) const KV_DELETE_ALL: [&str; 4] = [
    "delete from kv_version where mount_id = $1 and path = $2",
    "delete from kv_metadata where mount_id = $1 and path = $2",
    KV_DELETE_LABELS,
    KV_DELETE_TOKENS,
];
/// One page of folder `$2` of mount `$1` (see `super::children`): a recursive walk from the seed
/// `$3`, one index seek per child, at most `$4` children. From a path whose rest (after `$2`)
/// holds a `/`, a folder, the next seek starts past the folder: the folder's name with `0` (the
/// character after `/`) in place of its `/`, the least string above all its descendants. From
/// any other path it starts strictly after it. The walk stops at the first path outside `$2`.
/// Each row is the first path of one child, in order. `$find` is the store's substring position
/// function (`instr`, `strpos`); `$seed` spells `$3` so that PostgreSQL gives the recursive
/// column one collation ("C", the column's).
macro_rules! kv_children {
    ($find:literal, $seed:literal) => {
        concat!(
            "with recursive walk(p, n) as (select ",
            $seed,
            ", 0 union all select case when ",
            $find,
            "(substr(w.p, length($2) + 1), '/') > 0 \
             then (select k.path from kv_metadata k where k.mount_id = $1 and k.path >= substr(w.p, 1, length($2) + ",
            $find,
            "(substr(w.p, length($2) + 1), '/') - 1) || '0' order by k.path limit 1) \
             else (select k.path from kv_metadata k where k.mount_id = $1 and k.path > w.p order by k.path limit 1) \
             end, w.n + 1 from walk w where w.n < $4 and substr(w.p, 1, length($2)) = $2) \
             select p from walk where n > 0 and substr(p, 1, length($2)) = $2 order by n"
        )
    };
}
pub(crate) use kv_children;
pub(crate) const KV_BELOW_TERM: &str =
    concat!("select mount_id, path, ", version_cols!(), " from kv_version where key_term < $1 limit $2");
pub(crate) const KV_REWRAP: &str = "update kv_version set ciphertext = $1, key_term = $2 where mount_id = $3 \
     and path = $4 and version = $5 and key_term = $6";

// ---- KV search (metadata rows a page at a time) ----

/// Metadata rows of mount `$1` from `$2` (inclusive) below `$3`, except `$4` (the page's `after`
/// when it is the lower bound), at most `$5`, sorted: one index range scan.
pub(crate) const KV_METADATA_PAGE: &str = "select * from kv_metadata where mount_id = $1 and path >= $2 \
     and path < $3 and path <> $4 order by path limit $5";
/// [`KV_METADATA_PAGE`] without an upper bound (`$1`, `$2`, `$3` the excluded path, `$4` the limit).
pub(crate) const KV_METADATA_PAGE_FROM: &str =
    "select * from kv_metadata where mount_id = $1 and path >= $2 and path <> $3 order by path limit $4";

// ---- KV move (one transaction; see `super::moves`) ----

/// The source's metadata row (PostgreSQL adds `for update`).
macro_rules! kv_move_source {
    () => {
        "select * from kv_metadata where mount_id = $1 and path = $2"
    };
}
pub(crate) const KV_MOVE_SOURCE: &str = kv_move_source!();
/// [`KV_MOVE_SOURCE`], locking the row until the move commits.
pub(crate) const KV_MOVE_SOURCE_FOR_UPDATE: &str = concat!(kv_move_source!(), " for update");
/// The source's versions without ciphertext (PostgreSQL adds `for update`).
macro_rules! kv_move_versions {
    () => {
        "select version, created_time, deletion_time, destroyed, key_term, cast(null as bytea) as ciphertext \
         from kv_version where mount_id = $1 and path = $2 order by version"
    };
}
pub(crate) const KV_MOVE_VERSIONS: &str = kv_move_versions!();
/// [`KV_MOVE_VERSIONS`], locking the rows (a destroy or deletion waits for the move).
pub(crate) const KV_MOVE_VERSIONS_FOR_UPDATE: &str = concat!(kv_move_versions!(), " for update");
/// The rotation row of the source (PostgreSQL adds `for update`).
pub(crate) const KV_MOVE_ROTATION: &str = "select step, rev from kv_rotation where mount_id = $1 and path = $2";
/// [`KV_MOVE_ROTATION`], locking the row.
pub(crate) const KV_MOVE_ROTATION_FOR_UPDATE: &str =
    "select step, rev from kv_rotation where mount_id = $1 and path = $2 for update";
/// The target's metadata row, all ten columns: no `on conflict`, a taken path is a unique violation.
pub(crate) const KV_MOVE_INSERT_METADATA: &str = "insert into kv_metadata (mount_id, path, max_versions, \
     cas_required, delete_version_after, custom_metadata, created_time, updated_time, current_version, \
     oldest_version) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
/// Labels follow the key: `$1` the target, `$2` the mount, `$3` the source.
pub(crate) const KV_MOVE_LABELS: &str = "update kv_stage set path = $1 where mount_id = $2 and path = $3";
/// The rotation row follows the key with its configuration sealed for the target (`$1` path, `$2`
/// config, `$3` key term) if it is still at revision `$6` and idle.
pub(crate) const KV_MOVE_ROTATION_UPDATE: &str = "update kv_rotation set path = $1, config = $2, key_term = $3, \
     new_value = null, rev = rev + 1 where mount_id = $4 and path = $5 and rev = $6 and step = ''";

// ---- KV labels and request tokens (inside a write's transaction) ----

pub(crate) const LABEL_GET: &str = "select version from kv_stage where mount_id = $1 and path = $2 and stage = $3";
pub(crate) const LABEL_SET: &str = "insert into kv_stage (mount_id, path, stage, version) values ($1, $2, $3, $4) \
     on conflict (mount_id, path, stage) do update set version = excluded.version";
pub(crate) const LABEL_DROP: &str = "delete from kv_stage where mount_id = $1 and path = $2 and stage = $3";
pub(crate) const REQUEST_TOKEN_GET: &str =
    "select version, digest from kv_request_token where mount_id = $1 and path = $2 and token = $3";
pub(crate) const REQUEST_TOKEN_PUT: &str =
    "insert into kv_request_token (mount_id, path, token, version, digest) values ($1, $2, $3, $4, $5)";

// ---- Cluster: the singleton lease and the node list ----

/// Takes or keeps the singleton lease (`$1` the lease name, `$2` the node, `$3` the new expiry):
/// the same holder renews, another takes it only once it expired before `$4`.
macro_rules! lease_acquire {
    () => {
        "insert into leader (name, holder, epoch, expires_at) values ($1, $2, 1, $3) \
         on conflict (name) do update set \
         epoch = case when leader.holder = excluded.holder then leader.epoch else leader.epoch + 1 end, \
         holder = excluded.holder, expires_at = excluded.expires_at \
         where leader.holder = excluded.holder or leader.expires_at <= $4"
    };
}
pub(crate) const LEASE_ACQUIRE: &str = lease_acquire!();
/// [`LEASE_ACQUIRE`] answering the epoch when this node holds the lease.
pub(crate) const LEASE_ACQUIRE_RETURNING: &str = concat!(lease_acquire!(), " returning epoch");
pub(crate) const LEASE_GET: &str = "select holder, epoch, expires_at from leader where name = $1";
pub(crate) const LEASE_RELEASE: &str = "update leader set expires_at = 0 where name = $1 and holder = $2";
/// A row while `$2` holds lease `$1` at epoch `$3` (PostgreSQL adds `for share`).
macro_rules! fence_held {
    () => {
        "select epoch from leader where name = $1 and holder = $2 and epoch = $3"
    };
}
pub(crate) const FENCE_HELD: &str = fence_held!();
/// [`FENCE_HELD`], locking the row so a takeover waits for this transaction.
pub(crate) const FENCE_HELD_FOR_SHARE: &str = concat!(fence_held!(), " for share");
pub(crate) const NODE_SEEN: &str = "insert into node (id, name, address, last_seen) values ($1, $2, $3, $4) \
     on conflict (id) do update set name = excluded.name, address = excluded.address, \
     last_seen = excluded.last_seen";
pub(crate) const NODE_FORGET: &str = "delete from node where id = $1";
pub(crate) const NODE_LIST: &str = "select id, name, address, last_seen from node order by last_seen desc";

// ---- Secret leases ----

pub(crate) const SECRET_LEASE_INSERT: &str = concat!(
    "insert into secret_lease (",
    lease_cols!(),
    ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
);
pub(crate) const SECRET_LEASE_GET: &str = concat!("select ", lease_cols!(), " from secret_lease where id = $1");
/// Ids from `$1` (the prefix) below `$2` (its [`prefix_upper_bound`]).
pub(crate) const SECRET_LEASE_IDS: &str = "select id from secret_lease where id >= $1 and id < $2 order by id limit $3";
/// [`SECRET_LEASE_IDS`] when the prefix has no upper bound (the empty prefix).
pub(crate) const SECRET_LEASE_IDS_ALL: &str = "select id from secret_lease order by id limit $1";
pub(crate) const SECRET_LEASE_RENEW: &str =
    "update secret_lease set expire_time = $1, next_attempt = $1, last_renewal = $2 where id = $3";
pub(crate) const SECRET_LEASE_DELETE: &str = "delete from secret_lease where id = $1";
pub(crate) const SECRET_LEASE_DUE: &str =
    concat!("select ", lease_cols!(), " from secret_lease where next_attempt <= $1 order by next_attempt, id limit $2");
pub(crate) const SECRET_LEASE_BY_TOKEN: &str = "select id from secret_lease where token_hash = $1 order by id";
pub(crate) const SECRET_LEASE_FAILED: &str =
    "update secret_lease set attempts = $1, next_attempt = $2, last_error = $3 where id = $4";
pub(crate) const SECRET_LEASE_COUNT_ROLE: &str = "select count(*) from secret_lease where role = $1";
pub(crate) const SECRET_LEASE_COUNT_TOKEN: &str =
    "select count(*) from secret_lease where token_hash = $1 and (cast($2 as text) is null or role = $2)";
pub(crate) const SECRET_LEASE_DUE_FOR_TOKEN: &str =
    "update secret_lease set next_attempt = $1 where token_hash = $2 and next_attempt > $1";
pub(crate) const SECRET_LEASE_COUNTS: &str = "select count(*), count(*) filter (where attempts > 0) from secret_lease";
pub(crate) const SECRET_LEASE_COUNTS_BY_MOUNT: &str = "select mount_id, count(*) from secret_lease \
     where (not $1 or attempts > 0) group by mount_id order by mount_id";

// ---- KV rotation ----

/// The columns of `kv_rotation`, in [`super::rotation::RotationRow`] order.
pub(crate) const ROTATION_COLS: &str = rotation_cols!();
pub(crate) const ROTATION_GET: &str =
    concat!("select ", rotation_cols!(), " from kv_rotation where mount_id = $1 and path = $2");
/// Inserts a row (all columns, `$1…$25`) only while its KV key exists.
pub(crate) const ROTATION_INSERT: &str = concat!(
    "insert into kv_rotation (",
    rotation_cols!(),
    ") select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
     $22, $23, $24, $25 where exists (select 1 from kv_metadata where mount_id = $1 and path = $2)"
);
/// Writes the state columns (`$1…$22`) if the revision is still `$25`, and bumps it.
pub(crate) const ROTATION_UPDATE: &str = "update kv_rotation set config = $1, key_term = $2, scheduled = $3, \
     fire_at = $4, next_rotation_at = $5, due_at = $6, claim_epoch = $7, step = $8, step_done = $9, cause = $10, \
     version_token = $11, from_version = $12, pending_version = $13, new_value = $14, attempts = $15, \
     started_at = $16, last_rotated_at = $17, last_outcome = $18, last_error = $19, succeeded = $20, \
     failed = $21, abandoned = $22, rev = rev + 1 where mount_id = $23 and path = $24 and rev = $25";
pub(crate) const ROTATION_DELETE: &str = "delete from kv_rotation where mount_id = $1 and path = $2 and rev = $3";
/// A claim of an older epoch than `$2` belongs to a leader that crashed or was deposed: due now.
pub(crate) const ROTATION_RELEASE_STALE: &str = "update kv_rotation set due_at = $1 \
     where claim_epoch is not null and claim_epoch <> $2 and due_at > $1";

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn prefix_upper_bound_is_the_next_string_after_every_extension() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("a%").as_deref(), Some("a&"));
        assert_eq!(prefix_upper_bound("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        let upper = prefix_upper_bound("🔑/").unwrap_or_default();
        for key in ["🔑/", "🔑/x", "🔑/\u{10FFFF}\u{10FFFF}"] {
            assert!(key >= "🔑/" && key < upper.as_str(), "{key}");
        }
        assert!("🔑0" >= upper.as_str());
    }
}

//! `coffer operator migrate`: an offline copy of a whole store into another, empty one (typically
//! SQLite to PostgreSQL), byte for byte, then verified: per-table row counts and content digests
//! against the source, and, given the unseal key, every encrypted value decrypted from the target.
//!
//! Exit codes: 0 copied and verified, 1 refused or verification failed, 2 usage error. Messages
//! name tables, keys and paths, never a value; keys stay in zeroizing types and are never printed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::base::redact::redact_url;
use crate::base::schedule::{Clock, SystemClock};
use crate::core::audit::device::{Keys as AuditKeys, KIND_KEYS as AUDIT_KEYS};
use crate::core::seal::{self, KeysError, SealConfig};
use crate::crypto::barrier::{Barrier, Context, Sealed};
use crate::crypto::Key;
use crate::store::copy::{Cell, TableRows};
use crate::store::TextForm;
use crate::store::{self, SharedStore};

/// What `coffer operator migrate` was asked to do. `Debug` shows the URLs without passwords.
pub struct Options {
    /// Source store URL.
    pub from: String,
    /// Target store URL.
    pub to: String,
    /// Key-file seal: the file holding the unseal key.
    pub key_file: Option<PathBuf>,
    /// Shamir seal: unseal key shares (`-` reads them from stdin, one per line).
    pub unseal_keys: Vec<UnsealShare>,
    /// Skip the copy; only compare the stores and decrypt the target.
    pub verify_only: bool,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("from", &redact_url(&self.from))
            .field("to", &redact_url(&self.to))
            .field("key_file", &self.key_file)
            .field("unseal_keys", &self.unseal_keys)
            .field("verify_only", &self.verify_only)
            .finish()
    }
}

/// An unseal key share as given on the command line (hex or base64). Zeroed on drop; `Debug`
/// never shows it.
#[derive(Clone)]
pub struct UnsealShare(Zeroizing<String>);

impl std::str::FromStr for UnsealShare {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(UnsealShare(Zeroizing::new(s.to_string())))
    }
}

impl std::fmt::Debug for UnsealShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsealShare([redacted])")
    }
}

/// Most problems listed one by one; the final line counts them all.
const MAX_PRINTED: usize = 200;

/// How a run ends when it does not succeed.
#[derive(Debug)]
enum Failure {
    /// Bad arguments or key material: exit 2, nothing was opened or changed.
    Usage(String),
    /// Refused, failed or not verified: exit 1, one line per problem.
    Failed(Vec<String>),
}

fn failed(msg: impl Into<String>) -> Failure {
    Failure::Failed(vec![msg.into()])
}

/// The unseal key as given: none, the key itself (key file), or shares still to combine.
enum KeyMaterial {
    None,
    Key(Key),
    Shares(Vec<Zeroizing<Vec<u8>>>),
}

/// Runs `coffer operator migrate`; returns the process exit code.
pub async fn run(opts: Options) -> i32 {
    crate::server::process::init_logging("warn", false);
    match migrate(&opts).await {
        Ok(()) => 0,
        Err(Failure::Usage(msg)) => {
            eprintln!("Error: {msg}");
            2
        }
        Err(Failure::Failed(lines)) => {
            for l in lines {
                eprintln!("Error: {l}");
            }
            1
        }
    }
}

async fn migrate(opts: &Options) -> Result<(), Failure> {
    check_urls(&opts.from, &opts.to)?;
    let material = key_material(opts)?;
    let _locks = lock_sqlite_stores(opts)?;
    println!("Source: {}", redact_url(&opts.from));
    println!("Target: {}", redact_url(&opts.to));
    let source = open(&opts.from, "source").await?;
    refuse_live_servers(&source, &opts.from, "source").await?;
    let target = open(&opts.to, "target").await?;
    refuse_live_servers(&target, &opts.to, "target").await?;

    let source_stats = if opts.verify_only {
        let tables = source.dump_tables().await.map_err(|e| failed(format!("reading the source store: {e}")))?;
        stats(&tables)
    } else {
        copy(&source, &target, &material).await?
    };

    let mut problems = Vec::new();
    let target_tables = target.dump_tables().await.map_err(|e| failed(format!("reading the target store: {e}")))?;
    let target_stats = stats(&target_tables);
    compare(&source_stats, &target_stats, &mut problems);

    let decrypted = match &material {
        KeyMaterial::None => {
            eprintln!(
                "Warning: no unseal key given (--key-file or --unseal-key): the encrypted values were not \
                 decrypted; only row counts and contents were compared with the source."
            );
            None
        }
        m => {
            let key = unseal_key(m, target.as_ref()).await?;
            Some(decrypt_all(&target, &target_tables, &key, &mut problems).await)
        }
    };
    print_summary(&source_stats, &target_stats, decrypted.as_ref());
    if problems.is_empty() {
        println!("{}", if opts.verify_only { "Verified." } else { "Migrated and verified." });
        Ok(())
    } else {
        let summary = format!("verification failed: {} problem(s)", problems.len());
        problems.truncate(MAX_PRINTED);
        problems.push(summary);
        Err(Failure::Failed(problems))
    }
}

/// Refuses a non-empty target, checks the key against the source (if given), then copies every
/// table in one transaction. Returns the source's statistics for the comparison.
async fn copy(source: &SharedStore, target: &SharedStore, material: &KeyMaterial) -> Result<Vec<TableStat>, Failure> {
    let counts = target.count_rows().await.map_err(|e| failed(format!("reading the target store: {e}")))?;
    let full: Vec<String> = counts.iter().filter(|(_, n)| *n > 0).map(|(t, n)| format!("{t} ({n} rows)")).collect();
    if !full.is_empty() {
        return Err(failed(format!(
            "the target store is not empty: {}. Nothing was changed; migrate into a new, empty database.",
            full.join(", ")
        )));
    }
    if !matches!(material, KeyMaterial::None) {
        let key = unseal_key(material, source.as_ref()).await?;
        match seal::open_stored_keys(source.as_ref(), &key).await {
            Ok(_) => {}
            Err(KeysError::WrongKey) => {
                return Err(failed(
                    "the unseal key does not open the source store's root key (system_entry root_key); \
                     nothing was copied",
                ))
            }
            Err(e) => return Err(failed(format!("source store: {e}; nothing was copied"))),
        }
    }
    let tables = source.dump_tables().await.map_err(|e| failed(format!("reading the source store: {e}")))?;
    let rows: usize = tables.iter().map(|t| t.rows.len()).sum();
    if rows == 0 {
        return Err(failed("the source store holds no data (is the URL right?); nothing was copied"));
    }
    let source_stats = stats(&tables);
    let n_tables = tables.len();
    target
        .load_tables(tables)
        .await
        .map_err(|e| failed(format!("the copy failed and was rolled back, the target is unchanged: {e}")))?;
    println!("Copied {rows} rows of {n_tables} tables in one transaction.");
    Ok(source_stats)
}

// ------------------------------------------------------------------------------------------------
// Arguments
// ------------------------------------------------------------------------------------------------

/// Takes the lock a running `coffer server` holds on each SQLite store (`<database>.lock`, D82),
/// so that a store still being served (its heartbeats and workers write to it) is refused before
/// anything is read or copied. Held until the migration ends; PostgreSQL needs none.
fn lock_sqlite_stores(opts: &Options) -> Result<Vec<store::sqlite::DbLock>, Failure> {
    let mut locks = Vec::new();
    for (url, which) in [(&opts.from, "source"), (&opts.to, "target")] {
        match store::sqlite::lock_database(url) {
            Ok(Some(lock)) => locks.push(lock),
            Ok(None) => {}
            Err(e) => return Err(failed(format!("cannot migrate the {which} store: {e}. Nothing was changed"))),
        }
    }
    Ok(locks)
}

/// Refuses a PostgreSQL store that a server still serves: one holds the singleton lease, or has
/// sent a heartbeat within [`store::NODE_ALIVE_MS`] (a cleanly stopped server removes its row).
/// SQLite stores are guarded by their lock file instead (see [`lock_sqlite_stores`]).
async fn refuse_live_servers(store: &SharedStore, url: &str, which: &str) -> Result<(), Failure> {
    if !is_postgres(url) {
        return Ok(());
    }
    // `migrate` runs without a core: the system clock.
    let now = SystemClock.now().timestamp_millis();
    let unreadable = |e: store::StoreError| failed(format!("cannot read the {which} store's node list: {e}"));
    let nodes = store.node_list().await.map_err(unreadable)?;
    let lease = store.lease_get().await.map_err(unreadable)?.filter(|l| l.expires_at > now);
    let live: Vec<String> = nodes
        .iter()
        .filter(|n| now - n.last_seen < store::NODE_ALIVE_MS || lease.as_ref().is_some_and(|l| l.holder == n.id))
        .map(|n| {
            let name = if n.name.is_empty() { &n.id } else { &n.name };
            format!("{name} at {} (last heartbeat {} s ago)", n.address, (now - n.last_seen).max(0) / 1000)
        })
        .collect();
    if live.is_empty() && lease.is_none() {
        return Ok(());
    }
    let who = if live.is_empty() { "a node holding the leader lease".to_string() } else { live.join(", ") };
    Err(failed(format!(
        "cannot migrate the {which} store: it is in use by a running Coffer server: {who}. Stop every \
         server first (a server that crashed stops counting {} s after its last heartbeat). Nothing was changed",
        store::NODE_ALIVE_MS / 1000
    )))
}

/// The file path of a `sqlite:` URL; `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let rest = rest.split('?').next().unwrap_or(rest);
    (!rest.is_empty() && rest != ":memory:").then(|| PathBuf::from(rest))
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn check_urls(from: &str, to: &str) -> Result<(), Failure> {
    for (flag, url) in [("--from", from), ("--to", to)] {
        if url.starts_with("sqlite:") {
            if sqlite_path(url).is_none() {
                return Err(Failure::Usage(format!("{flag}: an in-memory SQLite store cannot be migrated")));
            }
        } else if !is_postgres(url) {
            return Err(Failure::Usage(format!("{flag}: use a sqlite:// or postgres:// URL")));
        }
    }
    if from == to {
        return Err(Failure::Usage("--from and --to name the same store".into()));
    }
    if let Some(src) = sqlite_path(from) {
        // store::open would create a missing file and migrate an empty store.
        if !src.is_file() {
            return Err(Failure::Usage(format!("--from: no database file at {}", src.display())));
        }
        if let Some(dst) = sqlite_path(to) {
            let same = match (std::fs::canonicalize(&src), std::fs::canonicalize(&dst)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if same {
                return Err(Failure::Usage("--from and --to name the same database file".into()));
            }
        }
    }
    Ok(())
}

fn key_material(opts: &Options) -> Result<KeyMaterial, Failure> {
    if let Some(path) = &opts.key_file {
        if !opts.unseal_keys.is_empty() {
            return Err(Failure::Usage("give either --key-file or --unseal-key, not both".into()));
        }
        return seal::read_key_file(path).map(KeyMaterial::Key).map_err(Failure::Usage);
    }
    if opts.unseal_keys.is_empty() {
        return Ok(KeyMaterial::None);
    }
    let mut texts: Vec<Zeroizing<String>> = Vec::new();
    for share in &opts.unseal_keys {
        if share.0.as_str() == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = Zeroizing::new(line.map_err(|e| Failure::Usage(format!("reading shares from stdin: {e}")))?);
                if !line.trim().is_empty() {
                    texts.push(Zeroizing::new(line.trim().to_string()));
                }
            }
        } else {
            texts.push(share.0.clone());
        }
    }
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let part = seal::decode_share(text)
            .map_err(|e| Failure::Usage(format!("unseal key share {}: {}", i + 1, e.errors.join("; "))))?;
        // As `sys/unseal` does, a share given twice counts once.
        if !parts.iter().any(|p| p[..] == part[..]) {
            parts.push(part);
        }
    }
    if parts.is_empty() {
        return Err(Failure::Usage("no unseal key share given".into()));
    }
    Ok(KeyMaterial::Shares(parts))
}

/// The unseal key of `store`: the key file's key, or the shares combined with the threshold in
/// the store's seal configuration (as `sys/unseal` combines them).
async fn unseal_key(material: &KeyMaterial, store: &dyn store::Store) -> Result<Key, Failure> {
    let parts = match material {
        KeyMaterial::None => return Err(failed("no unseal key")),
        KeyMaterial::Key(k) => return Ok(k.clone()),
        KeyMaterial::Shares(parts) => parts,
    };
    let raw = store
        .system_get(seal::SEAL_CONFIG)
        .await
        .map_err(|e| failed(format!("reading system_entry {}: {e}", seal::SEAL_CONFIG)))?
        .ok_or_else(|| {
            failed(format!("system_entry {} is missing: the store is not initialised", seal::SEAL_CONFIG))
        })?;
    let config: SealConfig = serde_json::from_slice(&raw)
        .map_err(|e| failed(format!("system_entry {} is not a seal configuration: {e}", seal::SEAL_CONFIG)))?;
    let threshold = config.secret_threshold.max(1);
    if (parts.len() as u64) < threshold {
        return Err(Failure::Usage(format!(
            "the store's seal needs {threshold} unseal key shares; {} given",
            parts.len()
        )));
    }
    crate::crypto::shamir::combine(parts, threshold)
        .map_err(|_| failed("the unseal key shares do not combine into a key (a share is wrong or mistyped)"))
}

async fn open(url: &str, which: &str) -> Result<SharedStore, Failure> {
    store::open(url).await.map_err(|e| failed(format!("cannot open the {which} store {}: {e}", redact_url(url))))
}

// ------------------------------------------------------------------------------------------------
// Row counts and content digests
// ------------------------------------------------------------------------------------------------

/// What the comparison needs of one table: its row count and a digest of its contents.
struct TableStat {
    table: String,
    rows: usize,
    digest: [u8; 32],
}

fn stats(tables: &[TableRows]) -> Vec<TableStat> {
    tables.iter().map(|t| TableStat { table: t.table.clone(), rows: t.rows.len(), digest: digest(t) }).collect()
}

/// SHA-256 over the column names and the rows of a table, independent of row order, column order
/// and backend (flags count as 0/1 integers on both): equal digests mean equal contents.
fn digest(t: &TableRows) -> [u8; 32] {
    let mut order: Vec<usize> = (0..t.columns.len()).collect();
    order.sort_by(|a, b| t.columns.get(*a).cmp(&t.columns.get(*b)));
    let mut row_hashes: Vec<[u8; 32]> = t
        .rows
        .iter()
        .map(|row| {
            let mut h = Sha256::new();
            for i in &order {
                feed_cell(&mut h, &row.get(*i).map_or(Cell::Null, Cell::canonical));
            }
            h.finalize().into()
        })
        .collect();
    row_hashes.sort_unstable();
    let mut h = Sha256::new();
    for i in &order {
        feed(&mut h, b"c", t.columns.get(*i).map_or(&[][..], |c| c.as_bytes()));
    }
    for r in &row_hashes {
        h.update(r);
    }
    h.finalize().into()
}

fn feed(h: &mut Sha256, tag: &[u8], bytes: &[u8]) {
    h.update(tag);
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn feed_cell(h: &mut Sha256, cell: &Cell) {
    match cell {
        Cell::Null => feed(h, b"n", &[]),
        Cell::Int(v) => feed(h, b"i", &v.to_be_bytes()),
        Cell::Bool(v) => feed(h, b"i", &i64::from(*v).to_be_bytes()),
        Cell::Text(v) => feed(h, b"t", v.as_bytes()),
        Cell::Blob(v) => feed(h, b"b", v),
    }
}

fn compare(source: &[TableStat], target: &[TableStat], problems: &mut Vec<String>) {
    for s in source {
        match target.iter().find(|t| t.table == s.table) {
            None => problems.push(format!("table {}: missing from the target", s.table)),
            Some(t) if t.rows != s.rows => {
                problems.push(format!("table {}: {} rows in the source, {} in the target", s.table, s.rows, t.rows))
            }
            Some(t) if t.digest != s.digest => {
                problems.push(format!("table {}: same row count, but the rows differ from the source", s.table))
            }
            Some(_) => {}
        }
    }
    for t in target.iter().filter(|t| t.rows > 0 && !source.iter().any(|s| s.table == t.table)) {
        problems.push(format!("table {}: {} rows in the target, no such table in the source", t.table, t.rows));
    }
}

// ------------------------------------------------------------------------------------------------
// Decryption
// ------------------------------------------------------------------------------------------------

/// What the decryption check opened, by kind.
#[derive(Debug, Default)]
struct Decrypted {
    /// Root key and keyring opened (the unseal path).
    keys: bool,
    /// The keyring's active term.
    active_term: u32,
    /// Barrier-encrypted system records (the token HMAC key).
    system: usize,
    /// Plain system records that parsed (seal configuration, cluster identity).
    system_plain: usize,
    /// System records of a kind this tool does not know; not checked.
    system_unknown: Vec<String>,
    /// KV versions decrypted.
    kv_versions: usize,
    /// KV versions without a ciphertext (destroyed).
    kv_destroyed: usize,
    /// Cubbyhole entries (including response-wrapping answers) decrypted.
    cubbyhole: usize,
    /// Audit device key sets decrypted.
    audit_keys: usize,
    /// Database connections and static roles decrypted.
    database: usize,
    /// AWS access keys decrypted.
    aws_keys: usize,
    /// Alert rules decrypted.
    alert_rules: usize,
    /// Lease engine data decrypted.
    leases: usize,
    /// Rotation configurations and in-flight values decrypted.
    rotations: usize,
    /// Entries stored in the clear (policies, roles, users' Argon2id hashes, secret-id HMACs, …).
    entries_plain: usize,
    /// Token rows (keyed by HMAC; nothing to decrypt).
    tokens: usize,
}

fn text(cell: Option<&Cell>) -> Option<&str> {
    match cell {
        Some(Cell::Text(s)) => Some(s),
        _ => None,
    }
}

fn rows_of<'a>(tables: &'a [TableRows], name: &str) -> Option<&'a TableRows> {
    tables.iter().find(|t| t.table == name)
}

/// Decrypts every encrypted value of the target through the code paths the server reads them
/// with. Problems name the table and key, never a value.
async fn decrypt_all(target: &SharedStore, tables: &[TableRows], key: &Key, problems: &mut Vec<String>) -> Decrypted {
    let mut d = Decrypted::default();
    let keys = match seal::open_stored_keys(target.as_ref(), key).await {
        Ok(k) => k,
        Err(KeysError::WrongKey) => {
            problems.push(format!("system_entry {}: the unseal key does not open the root key", seal::ROOT_KEY));
            return d;
        }
        Err(e) => {
            problems.push(format!("system_entry: {e}"));
            return d;
        }
    };
    d.keys = true;
    d.active_term = keys.keyring.active().number;
    let barrier = Barrier::default();
    barrier.load(keys);
    check_system(target, tables, &barrier, &mut d, problems).await;
    check_kv(target, tables, &barrier, &mut d, problems).await;
    check_entries(target, tables, &barrier, &mut d, problems).await;
    check_blobs(tables, &barrier, &mut d, problems);
    d.tokens = rows_of(tables, "token").map_or(0, |t| t.rows.len());
    d
}

async fn check_system(
    target: &SharedStore,
    tables: &[TableRows],
    barrier: &Barrier,
    d: &mut Decrypted,
    problems: &mut Vec<String>,
) {
    let Some(t) = rows_of(tables, "system_entry") else {
        problems.push("table system_entry: missing from the target".into());
        return;
    };
    let Some(col) = t.column("key") else {
        problems.push("table system_entry: no key column".into());
        return;
    };
    for row in &t.rows {
        let Some(name) = text(row.get(col)) else {
            problems.push("system_entry: a row without a text key".into());
            continue;
        };
        let value = match target.system_get(name).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                problems.push(format!("system_entry {name}: not readable through system_get"));
                continue;
            }
            Err(e) => {
                problems.push(format!("system_entry {name}: {e}"));
                continue;
            }
        };
        match name {
            // Both opened by `open_stored_keys` already.
            n if n == seal::ROOT_KEY || n == seal::KEYRING => {}
            n if n == seal::TOKEN_HMAC_KEY => {
                match barrier.open(&Sealed::from_stored(value), Context::System { key: n }) {
                    Ok(raw) if Key::from_slice(&raw).is_some() => d.system += 1,
                    Ok(_) => problems.push(format!("system_entry {n}: decrypts, but not to a 32-byte key")),
                    Err(e) => problems.push(format!("system_entry {n}: {e}")),
                }
            }
            n if n == seal::SEAL_CONFIG => match serde_json::from_slice::<SealConfig>(&value) {
                Ok(_) => d.system_plain += 1,
                Err(e) => problems.push(format!("system_entry {n}: not a seal configuration ({:?})", e.classify())),
            },
            n if n == seal::CLUSTER => match serde_json::from_slice::<seal::Cluster>(&value) {
                Ok(_) => d.system_plain += 1,
                Err(e) => problems.push(format!("system_entry {n}: not a cluster identity ({:?})", e.classify())),
            },
            other => d.system_unknown.push(other.to_string()),
        }
    }
}

async fn check_kv(
    target: &SharedStore,
    tables: &[TableRows],
    barrier: &Barrier,
    d: &mut Decrypted,
    problems: &mut Vec<String>,
) {
    let Some(t) = rows_of(tables, "kv_version") else {
        problems.push("table kv_version: missing from the target".into());
        return;
    };
    let mount_paths: BTreeMap<String, String> = rows_of(tables, "mount")
        .and_then(|m| Some((m, m.column("id")?, m.column("path")?)))
        .map(|(m, id, path)| {
            m.rows.iter().filter_map(|r| Some((text(r.get(id))?.to_string(), text(r.get(path))?.to_string()))).collect()
        })
        .unwrap_or_default();
    let (Some(c_mount), Some(c_path), Some(c_version), Some(c_ct)) =
        (t.column("mount_id"), t.column("path"), t.column("version"), t.column("ciphertext"))
    else {
        problems.push("table kv_version: missing columns".into());
        return;
    };
    for row in &t.rows {
        let (Some(mount_id), Some(path), Some(Cell::Int(version))) =
            (text(row.get(c_mount)), text(row.get(c_path)), row.get(c_version))
        else {
            problems.push("kv_version: a row with a malformed key".into());
            continue;
        };
        let place = match mount_paths.get(mount_id) {
            Some(mp) => format!("kv_version {mp}{path} (mount id {mount_id})"),
            None => format!("kv_version mount id {mount_id} path {path} (no such mount)"),
        };
        if matches!(row.get(c_ct), Some(Cell::Null) | None) {
            d.kv_destroyed += 1;
            continue;
        }
        // The engine's read path: one `kv_read` by version, then the barrier with the AAD.
        match target.kv_read(mount_id, path, Some(*version)).await {
            Ok(Some((_, Some(v)))) if v.version == *version => {
                match crate::engines::kv::decrypt_version(barrier, mount_id, path, &v) {
                    Ok(_) => d.kv_versions += 1,
                    Err(e) => problems.push(format!("{place}: {e}")),
                }
            }
            Ok(_) => {
                problems.push(format!("{place}: version {version}: not readable through kv_read (no metadata row?)"))
            }
            Err(e) => problems.push(format!("{place}: version {version}: {e}")),
        }
    }
}

async fn check_entries(
    target: &SharedStore,
    tables: &[TableRows],
    barrier: &Barrier,
    d: &mut Decrypted,
    problems: &mut Vec<String>,
) {
    let Some(t) = rows_of(tables, "entry") else {
        problems.push("table entry: missing from the target".into());
        return;
    };
    let (Some(c_kind), Some(c_name)) = (t.column("kind"), t.column("name")) else {
        problems.push("table entry: missing columns".into());
        return;
    };
    for row in &t.rows {
        let (Some(kind), Some(name)) = (text(row.get(c_kind)), text(row.get(c_name))) else {
            problems.push("entry: a row with a malformed key".into());
            continue;
        };
        if crate::engines::database::is_encrypted_kind(kind) {
            match target.entry_get_sealed(kind, name, TextForm::Hex).await {
                Ok(Some(v)) => match crate::engines::database::open_entry(barrier, kind, name, &v) {
                    Ok(_) => d.database += 1,
                    Err(e) => problems.push(format!("entry kind {kind} name {name}: {e}")),
                },
                Ok(None) => problems.push(format!("entry kind {kind} name {name}: not readable through entry_get")),
                Err(e) => problems.push(format!("entry kind {kind} name {name}: {e}")),
            }
            continue;
        }
        let hash = kind.strip_prefix("cubbyhole/");
        let aws_key = kind == crate::core::aws::keys::KIND;
        let alert_rule = kind == crate::core::alerts::rules::KIND;
        if hash.is_none() && kind != AUDIT_KEYS && !aws_key && !alert_rule {
            d.entries_plain += 1;
            continue;
        }
        let place = format!("entry kind {kind} name {name}");
        let value = match target.entry_get_sealed(kind, name, TextForm::Base64).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                problems.push(format!("{place}: not readable through entry_get"));
                continue;
            }
            Err(e) => {
                problems.push(format!("{place}: {e}"));
                continue;
            }
        };
        match hash {
            Some(hex_hash) => match hex::decode(hex_hash) {
                Ok(token_hash) => match crate::core::cubbyhole::open(barrier, &token_hash, name, &value) {
                    Ok(_) => d.cubbyhole += 1,
                    Err(e) => problems.push(format!("{place}: {e}")),
                },
                Err(_) => problems.push(format!("{place}: the kind does not end in a hex token hash")),
            },
            None if aws_key => match crate::core::aws::keys::check(barrier, name, &value) {
                Ok(()) => d.aws_keys += 1,
                Err(e) => problems.push(format!("{place}: {e}")),
            },
            None if alert_rule => match crate::core::alerts::rules::open(barrier, name, &value) {
                Ok(_) => d.alert_rules += 1,
                Err(e) => problems.push(format!("{place}: {e}")),
            },
            None => match AuditKeys::open(barrier, name, &value) {
                Ok(_) => d.audit_keys += 1,
                Err(_) => problems.push(format!("{place}: the audit device keys do not decrypt (cause logged above)")),
            },
        }
    }
}

/// The barrier blobs held in columns: lease engine data (AAD: the lease id) and rotation
/// configurations and in-flight values (AAD: mount, path and rotation token).
fn check_blobs(tables: &[TableRows], barrier: &Barrier, d: &mut Decrypted, problems: &mut Vec<String>) {
    let blob = |row: &[Cell], col: Option<usize>| match col.and_then(|c| row.get(c)) {
        Some(Cell::Blob(b)) => Some(Sealed::from_stored(b.clone())),
        _ => None,
    };
    if let Some(t) = rows_of(tables, "secret_lease") {
        let (c_id, c_secret) = (t.column("id"), t.column("secret"));
        for row in &t.rows {
            let Some(id) = c_id.and_then(|c| text(row.get(c))) else {
                problems.push("secret_lease: a row with a malformed id".into());
                continue;
            };
            match blob(row, c_secret).map(|b| barrier.open(&b, Context::Lease { id })) {
                Some(Ok(_)) => d.leases += 1,
                Some(Err(e)) => problems.push(format!("secret_lease {id}: {e}")),
                None => problems.push(format!("secret_lease {id}: no secret column")),
            }
        }
    }
    if let Some(t) = rows_of(tables, "kv_rotation") {
        let (c_mount, c_path, c_config, c_token, c_value) = (
            t.column("mount_id"),
            t.column("path"),
            t.column("config"),
            t.column("version_token"),
            t.column("new_value"),
        );
        for row in &t.rows {
            let (Some(mount), Some(path)) =
                (c_mount.and_then(|c| text(row.get(c))), c_path.and_then(|c| text(row.get(c))))
            else {
                problems.push("kv_rotation: a row with a malformed key".into());
                continue;
            };
            let place = format!("kv_rotation mount id {mount} path {path}");
            match blob(row, c_config).map(|b| barrier.open(&b, Context::RotationConfig { mount_id: mount, path })) {
                Some(Ok(_)) => d.rotations += 1,
                Some(Err(e)) => problems.push(format!("{place}: configuration: {e}")),
                None => problems.push(format!("{place}: no configuration")),
            }
            if let (Some(value), Some(token)) = (blob(row, c_value), c_token.and_then(|c| text(row.get(c)))) {
                match barrier.open(&value, crate::engines::kv::rotation::state::value_context(mount, path, token)) {
                    Ok(_) => d.rotations += 1,
                    Err(e) => problems.push(format!("{place}: value in flight: {e}")),
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Summary
// ------------------------------------------------------------------------------------------------

fn print_summary(source: &[TableStat], target: &[TableStat], decrypted: Option<&Decrypted>) {
    let names: BTreeSet<&str> = source.iter().chain(target).map(|s| s.table.as_str()).collect();
    let ordered = store::copy::order_tables(names.into_iter().map(str::to_string).collect());
    let width = ordered.iter().map(String::len).max().unwrap_or(5).max(5);
    let count =
        |stats: &[TableStat], t: &str| stats.iter().find(|s| s.table == t).map_or("-".into(), |s| s.rows.to_string());
    println!();
    println!("  {:<width$}  {:>8}  {:>8}  content", "table", "source", "target");
    for t in &ordered {
        let same = match (source.iter().find(|s| s.table == *t), target.iter().find(|s| s.table == *t)) {
            (Some(a), Some(b)) if a.rows == b.rows && a.digest == b.digest => "same",
            _ => "DIFFERS",
        };
        println!("  {t:<width$}  {:>8}  {:>8}  {same}", count(source, t), count(target, t));
    }
    let Some(d) = decrypted else {
        return;
    };
    println!();
    println!("Decrypted from the target with the unseal key:");
    if d.keys {
        println!("  root key and keyring (active term {})", d.active_term);
    }
    println!("  token HMAC key         {}", d.system);
    println!("  KV versions            {}   ({} destroyed: no ciphertext)", d.kv_versions, d.kv_destroyed);
    println!("  cubbyhole entries      {}   (including response-wrapping answers)", d.cubbyhole);
    println!("  audit device keys      {}", d.audit_keys);
    println!("  AWS access keys        {}", d.aws_keys);
    println!("  alert rules            {}", d.alert_rules);
    println!("  database connections   {}   (and static roles)", d.database);
    println!("  lease engine data      {}", d.leases);
    println!("  rotation state         {}   (configurations and values in flight)", d.rotations);
    println!("Stored in the clear (nothing to decrypt):");
    println!("  system records         {}   (seal configuration, cluster identity)", d.system_plain);
    println!("  entries                {}   (policies, roles, users, secret-id HMACs, …)", d.entries_plain);
    println!("  tokens                 {}   (stored as HMACs)", d.tokens);
    if !d.system_unknown.is_empty() {
        println!("Not checked (unknown system records): {}", d.system_unknown.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: Vec<Vec<Cell>>) -> TableRows {
        TableRows { table: "t".into(), columns: vec!["a".into(), "b".into()], rows }
    }

    #[test]
    fn usage_errors_are_caught_before_anything_is_opened() {
        let usage = |from: &str, to: &str| matches!(check_urls(from, to), Err(Failure::Usage(_)));
        assert!(usage("mysql://x", "postgres://db/x"));
        assert!(usage("sqlite::memory:", "postgres://db/x"));
        assert!(usage("postgres://db/x", "postgres://db/x"));
        assert!(usage("sqlite:///nonexistent/coffer.db", "postgres://db/x"));
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        std::fs::write(&db, b"").unwrap();
        let url = format!("sqlite://{}", db.display());
        assert!(check_urls(&url, "postgres://db/x").is_ok());
        assert!(usage(&url, &format!("sqlite:{}", db.display())));
    }

    #[test]
    fn digests_ignore_row_order_and_flag_encoding_but_see_every_byte() {
        let a = table(vec![vec![Cell::Int(1), Cell::Blob(vec![1, 2])], vec![Cell::Bool(true), Cell::Null]]);
        let b = table(vec![vec![Cell::Int(1), Cell::Null], vec![Cell::Int(1), Cell::Blob(vec![1, 2])]]);
        assert_eq!(digest(&a), digest(&b));
        let c = table(vec![vec![Cell::Int(1), Cell::Null], vec![Cell::Int(1), Cell::Blob(vec![1, 3])]]);
        assert_ne!(digest(&a), digest(&c));
        let d = table(vec![vec![Cell::Int(1), Cell::Text("\u{1}\u{2}".into())], vec![Cell::Int(1), Cell::Null]]);
        assert_ne!(digest(&a), digest(&d), "text and bytes with the same bytes differ");
    }

    #[test]
    fn comparison_names_the_table_that_differs() {
        let s = stats(&[table(vec![vec![Cell::Int(1), Cell::Null]])]);
        let same = stats(&[table(vec![vec![Cell::Bool(true), Cell::Null]])]);
        let changed = stats(&[table(vec![vec![Cell::Int(2), Cell::Null]])]);
        let mut p = Vec::new();
        compare(&s, &same, &mut p);
        assert!(p.is_empty(), "{p:?}");
        compare(&s, &changed, &mut p);
        assert_eq!(p, ["table t: same row count, but the rows differ from the source"]);
        p.clear();
        compare(&s, &[], &mut p);
        assert_eq!(p, ["table t: missing from the target"]);
    }

    #[test]
    fn shares_are_never_shown() {
        let s: UnsealShare = "abcdef0123".parse().unwrap();
        assert!(!format!("{s:?}").contains("abcdef"));
    }
}

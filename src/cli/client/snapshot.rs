//! `coffer operator snapshot save|restore|inspect`: a whole-store snapshot to a file and back, and
//! an offline look at a snapshot file (header, row counts, checksums).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use super::output::{emit, print_structured, table};
use super::{Api, CliError, ClientOpts, Format, EXIT_OK};
use crate::core::snapshot::format;

/// The path of Vault's snapshot endpoints.
const SNAPSHOT: &str = "sys/storage/raft/snapshot";

/// `coffer operator snapshot …`.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Save a snapshot of the whole store to FILE (mode 0600, written atomically)
    ///
    /// Needs a token with sudo on sys/storage/raft/snapshot. The rows stay encrypted as stored:
    /// the file is worthless without the unseal keys, but keep it as private as they are.
    ///
    /// Example:
    ///   coffer operator snapshot save /backup/coffer-$(date +%F).snap
    #[command(verbatim_doc_comment)]
    Save(FileArgs),
    /// Restore a snapshot from FILE
    ///
    /// Without --force, only a snapshot of this cluster is accepted (its signature is checked
    /// with this cluster's key) and the server stays unsealed. With --force, any cluster's
    /// snapshot is accepted: the server seals, and the first unseal must use that snapshot's
    /// keys; if it does not, the store as it was before comes back.
    ///
    /// Examples:
    ///   coffer operator snapshot restore /backup/coffer-2026-12-01.snap
    ///   coffer operator snapshot restore --force other-cluster.snap
    #[command(verbatim_doc_comment)]
    Restore(RestoreArgs),
    /// Show a snapshot file's header and row counts and check its checksums (offline)
    ///
    /// Example:
    ///   coffer operator snapshot inspect /backup/coffer-2026-12-01.snap
    #[command(verbatim_doc_comment)]
    Inspect(InspectArgs),
}

/// A snapshot file and the connection.
#[derive(Debug, Args)]
pub struct FileArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The snapshot file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `coffer operator snapshot restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Accept another cluster's snapshot (the server seals; unseal with that cluster's keys).
    #[arg(long)]
    pub force: bool,
    /// The snapshot file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `coffer operator snapshot inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Table, env = "COFFER_FORMAT")]
    pub format: Format,
    /// The snapshot file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs one `coffer operator snapshot` command.
pub async fn run(c: SnapshotCommand) -> Result<i32, CliError> {
    match c {
        SnapshotCommand::Save(a) => save(a).await,
        SnapshotCommand::Restore(a) => restore(a).await,
        SnapshotCommand::Inspect(a) => inspect(a),
    }
}

fn read(file: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(file).map_err(|e| CliError::Other(format!("cannot read {}: {e}", file.display())))
}

fn check(bytes: &[u8], file: &Path) -> Result<format::Snapshot, CliError> {
    format::decode(bytes, u64::MAX).map_err(|e| CliError::Other(format!("{}: {e}", file.display())))
}

async fn save(a: FileArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let bytes = api.call_bytes(Method::GET, SNAPSHOT, None).await?;
    // What the server sent must read back whole before it replaces anything on disk.
    let snap = check(&bytes, &a.file)?;
    format::write_file(&a.file, &bytes)
        .map_err(|e| CliError::Other(format!("cannot write {}: {e}", a.file.display())))?;
    eprintln!(
        "Saved a snapshot of cluster {} ({} rows, {} bytes) to {}",
        snap.header.cluster_name,
        snap.rows(),
        bytes.len(),
        a.file.display()
    );
    Ok(EXIT_OK)
}

async fn restore(a: RestoreArgs) -> Result<i32, CliError> {
    let bytes = read(&a.file)?;
    let snap = check(&bytes, &a.file)?;
    let api = Api::new(&a.conn)?;
    let path = if a.force { "sys/storage/raft/snapshot-force" } else { SNAPSHOT };
    api.call_bytes(Method::POST, path, Some(bytes)).await?;
    if a.force {
        eprintln!(
            "Restored the snapshot of cluster {} taken {}. The server is sealed: unseal it with that cluster's keys \
             (a wrong key puts the store as it was before back).",
            snap.header.cluster_name, snap.header.created
        );
    } else {
        eprintln!("Restored the snapshot taken {} ({} rows).", snap.header.created, snap.rows());
    }
    Ok(EXIT_OK)
}

fn inspect(a: InspectArgs) -> Result<i32, CliError> {
    let snap = check(&read(&a.file)?, &a.file)?;
    let h = &snap.header;
    if a.format != Format::Table {
        let mut v = serde_json::to_value(h).map_err(|e| CliError::Other(e.to_string()))?;
        if let Value::Object(m) = &mut v {
            m.insert("total_rows".into(), json!(snap.rows()));
            m.insert("checksums".into(), json!("ok"));
        }
        print_structured(a.format, &v)?;
        return Ok(EXIT_OK);
    }
    let mut rows = vec![
        ("Format".to_string(), h.format.to_string()),
        ("Coffer Version".to_string(), h.coffer_version.clone()),
        ("Storage Type".to_string(), h.storage_type.clone()),
        ("Created".to_string(), h.created.clone()),
        ("Cluster Name".to_string(), h.cluster_name.clone()),
        ("Cluster ID".to_string(), h.cluster_id.clone()),
        ("Keyring Term".to_string(), h.keyring_term.to_string()),
        ("Total Rows".to_string(), snap.rows().to_string()),
        ("Checksums".to_string(), "ok".to_string()),
        ("Signature".to_string(), "present (checked by the server at restore)".to_string()),
    ];
    rows.extend(h.tables.iter().map(|t| (format!("Rows: {}", t.name), t.rows.to_string())));
    emit(&table(("Key", "Value"), &rows))?;
    Ok(EXIT_OK)
}

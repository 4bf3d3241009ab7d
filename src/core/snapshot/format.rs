//! The snapshot file: a gzip-compressed tar holding `meta.json` (the header), `state.jsonl` (every
//! row of every data table, as stored), `SHA256SUMS` (of the two) and `SHA256SUMS.sealed` (an
//! HMAC of the sums under a key derived from the root key). This is the layout of Vault's raft
//! snapshots, which `bao operator raft snapshot save` checks for (D194).

use std::io::{Read, Write};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::crypto::{self, Key};
use crate::store::copy::{Cell, TableRows};

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const META: &str = "meta.json";
const STATE: &str = "state.jsonl";
const SUMS: &str = "SHA256SUMS";
const SEALED: &str = "SHA256SUMS.sealed";
/// The archive's members, in the one order they are written and accepted.
const MEMBERS: [&str; 4] = [META, STATE, SUMS, SEALED];

/// The label of the signing key derived from the root key.
const SIGNING_LABEL: &[u8] = b"coffer/snapshot-signature/v1";

/// What a snapshot says about itself. Nothing in it is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`FORMAT_VERSION`] of the writer.
    pub format: u32,
    /// The Coffer version that wrote it.
    pub coffer_version: String,
    /// `sqlite` or `postgresql`: where it was taken (it restores into either).
    pub storage_type: String,
    /// When it was taken (RFC 3339, UTC).
    pub created: String,
    /// The cluster it belongs to.
    pub cluster_id: String,
    /// That cluster's name.
    pub cluster_name: String,
    /// The keyring's active term when it was taken.
    pub keyring_term: u32,
    /// Rows per table, in the order of `state.jsonl`.
    pub tables: Vec<TableCount>,
}

/// One table's row count in the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableCount {
    /// Table name.
    pub name: String,
    /// Rows.
    pub rows: u64,
}

/// The signature file's body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seal {
    algorithm: String,
    signature: String,
}

/// A decoded snapshot whose checksums hold; its signature is checked separately ([`Snapshot::signed_by`]).
pub struct Snapshot {
    /// The header.
    pub header: Header,
    /// Every row, table by table.
    pub tables: Vec<TableRows>,
    sums: Vec<u8>,
    signature: Vec<u8>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("header", &self.header).finish_non_exhaustive()
    }
}

/// Why a snapshot was refused. Messages name what is wrong, never a stored value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct FormatError(pub String);

fn bad(msg: impl Into<String>) -> FormatError {
    FormatError(msg.into())
}

/// The key that signs this cluster's snapshots, derived from its root key (which only an unsealed
/// node holds).
pub fn signing_key(root_key: &Key) -> Key {
    crypto::derive(root_key, SIGNING_LABEL)
}

/// The signature of a snapshot's `SHA256SUMS`, which covers its header and every row.
fn sign(key: &Key, sums: &[u8]) -> [u8; 32] {
    crypto::hmac_sha256(key, sums)
}

/// Whether `signature` is the signature of `sums` under `key` (constant time).
pub fn verify(key: &Key, sums: &[u8], signature: &[u8]) -> bool {
    crypto::ct_eq(&sign(key, sums), signature)
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes a snapshot of `tables` with `header` (whose `tables` counts are filled in here), signed
/// with `key` ([`signing_key`]).
pub fn encode(mut header: Header, tables: &[TableRows], key: &Key) -> Result<Vec<u8>, FormatError> {
    header.tables = tables.iter().map(|t| TableCount { name: t.table.clone(), rows: t.rows.len() as u64 }).collect();
    let meta = serde_json::to_vec_pretty(&header).map_err(|e| bad(format!("writing the header: {e}")))?;
    let state = state_bytes(tables)?;
    let sums = format!("{}  {META}\n{}  {STATE}\n", hex_sha256(&meta), hex_sha256(&state)).into_bytes();
    let seal = Seal { algorithm: "hmac-sha256".into(), signature: hex::encode(sign(key, &sums)) };
    let sealed = serde_json::to_vec(&seal).map_err(|e| bad(format!("writing the signature: {e}")))?;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, body) in MEMBERS.iter().zip([&meta, &state, &sums, &sealed]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o600);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, body.as_slice()).map_err(|e| bad(format!("writing {name}: {e}")))?;
    }
    let gz = tar.into_inner().map_err(|e| bad(format!("writing the archive: {e}")))?;
    gz.finish().map_err(|e| bad(format!("compressing the archive: {e}")))
}

/// `state.jsonl`: per table a line `{"table", "columns", "rows"}`, then one JSON array per row.
fn state_bytes(tables: &[TableRows]) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    for t in tables {
        let head = serde_json::json!({"table": t.table, "columns": t.columns, "rows": t.rows.len()});
        serde_json::to_writer(&mut out, &head).map_err(|e| bad(format!("writing table {}: {e}", t.table)))?;
        out.push(b'\n');
        for row in &t.rows {
            let cells: Vec<Value> = row
                .iter()
                .map(|c| match c {
                    Cell::Null => Value::Null,
                    Cell::Int(i) => Value::from(*i),
                    Cell::Bool(b) => Value::Bool(*b),
                    Cell::Text(s) => Value::String(s.clone()),
                    Cell::Blob(b) => serde_json::json!({ "b64": b64.encode(b) }),
                })
                .collect();
            serde_json::to_writer(&mut out, &cells).map_err(|e| bad(format!("writing table {}: {e}", t.table)))?;
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// Reads a snapshot: the archive's members in order, each checksum, the header and every row.
/// `max` bounds the decompressed size. The signature is not checked here.
pub fn decode(bytes: &[u8], max: u64) -> Result<Snapshot, FormatError> {
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut archive = tar::Archive::new(gz.take(max.saturating_add(1)));
    let members = members(&mut archive, max)?;
    // Read to the end, so that gzip's own CRC covers every byte: tar ignores its padding and
    // headers' free fields, which the checksums below do not cover.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
        .map_err(|e| bad(format!("the archive is damaged or truncated: {e}")))?;
    let [meta, state, sums, sealed] = members;
    check_sums(&sums, &meta, &state)?;
    let seal: Seal = serde_json::from_slice(&sealed).map_err(|_| bad(format!("{SEALED} does not parse")))?;
    let signature = hex::decode(&seal.signature).ok().filter(|s| s.len() == 32 && seal.algorithm == "hmac-sha256");
    let signature = signature.ok_or_else(|| bad(format!("{SEALED} holds no hmac-sha256 signature")))?;
    let header: Header = serde_json::from_slice(&meta).map_err(|e| bad(format!("{META} does not parse: {e}")))?;
    if header.format != FORMAT_VERSION {
        return Err(bad(format!(
            "snapshot format {} is not supported (this build reads {FORMAT_VERSION})",
            header.format
        )));
    }
    let tables = parse_state(&state, &header)?;
    Ok(Snapshot { header, tables, sums, signature })
}

/// The archive's four members, in [`MEMBERS`] order, `max` bytes in all at most.
fn members<R: Read>(archive: &mut tar::Archive<R>, max: u64) -> Result<[Vec<u8>; 4], FormatError> {
    let entries = archive.entries().map_err(|_| bad("not a snapshot: not a gzip-compressed tar archive"))?;
    let mut members: Vec<Vec<u8>> = Vec::with_capacity(MEMBERS.len());
    let mut total: u64 = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("the archive is damaged or truncated: {e}")))?;
        let name = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let Some(expected) = MEMBERS.get(members.len()) else {
            return Err(bad(format!("unexpected member {name:?} after {SEALED}")));
        };
        if name != *expected || entry.header().entry_type() != tar::EntryType::Regular {
            return Err(bad(format!("expected member {expected} at position {}, found {name:?}", members.len() + 1)));
        }
        total = total.saturating_add(entry.size());
        if total > max {
            return Err(bad(format!("the snapshot is larger than {max} bytes uncompressed")));
        }
        let mut body = Vec::new();
        entry
            .read_to_end(&mut body)
            .map_err(|e| bad(format!("reading {name}: the archive is damaged or truncated ({e})")))?;
        members.push(body);
    }
    let found = members.len();
    members.try_into().map_err(|_| {
        bad(format!("the archive is truncated: {} of its {} members are missing", MEMBERS.len() - found, MEMBERS.len()))
    })
}

/// `SHA256SUMS` must be exactly the two lines this format writes, and both must match.
fn check_sums(sums: &[u8], meta: &[u8], state: &[u8]) -> Result<(), FormatError> {
    let expected = format!("{}  {META}\n{}  {STATE}\n", hex_sha256(meta), hex_sha256(state));
    if crypto::ct_eq(sums, expected.as_bytes()) {
        Ok(())
    } else {
        Err(bad("checksum mismatch: the snapshot is damaged (SHA256SUMS does not match its contents)"))
    }
}

fn parse_state(state: &[u8], header: &Header) -> Result<Vec<TableRows>, FormatError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut lines = state.split(|b| *b == b'\n').enumerate().filter(|(_, l)| !l.is_empty());
    let mut tables = Vec::with_capacity(header.tables.len());
    for count in &header.tables {
        let (n, line) = lines.next().ok_or_else(|| bad(format!("{STATE} ends before table {}", count.name)))?;
        let at = |what: String| bad(format!("{STATE} line {}: {what}", n + 1));
        let head: Value = serde_json::from_slice(line).map_err(|_| at("does not parse".into()))?;
        let name = head.get("table").and_then(Value::as_str);
        let rows = head.get("rows").and_then(Value::as_u64);
        let columns: Option<Vec<String>> = head.get("columns").and_then(|c| serde_json::from_value(c.clone()).ok());
        let (Some(name), Some(rows), Some(columns)) = (name, rows, columns) else {
            return Err(at("expected a table line".into()));
        };
        if name != count.name || rows != count.rows {
            return Err(at(format!("table {name} with {rows} rows does not match the header")));
        }
        let mut out = TableRows { table: name.to_string(), columns, rows: Vec::new() };
        for _ in 0..rows {
            let (n, line) = lines.next().ok_or_else(|| bad(format!("{STATE} ends inside table {name}")))?;
            let at = |what: &str| bad(format!("{STATE} line {} (table {name}): {what}", n + 1));
            let cells: Vec<Value> = serde_json::from_slice(line).map_err(|_| at("does not parse"))?;
            if cells.len() != out.columns.len() {
                return Err(at("the row has the wrong number of cells"));
            }
            let row = cells
                .into_iter()
                .map(|v| match v {
                    Value::Null => Ok(Cell::Null),
                    Value::Bool(b) => Ok(Cell::Bool(b)),
                    Value::Number(n) => n.as_i64().map(Cell::Int).ok_or_else(|| at("a number that is not an integer")),
                    Value::String(s) => Ok(Cell::Text(s)),
                    Value::Object(o) => o
                        .get("b64")
                        .and_then(Value::as_str)
                        .filter(|_| o.len() == 1)
                        .and_then(|s| b64.decode(s).ok())
                        .map(Cell::Blob)
                        .ok_or_else(|| at("a cell that is not a value")),
                    Value::Array(_) => Err(at("a cell that is not a value")),
                })
                .collect::<Result<Vec<Cell>, FormatError>>()?;
            out.rows.push(row);
        }
        tables.push(out);
    }
    if let Some((n, _)) = lines.next() {
        return Err(bad(format!("{STATE} line {}: more rows than the header counts", n + 1)));
    }
    Ok(tables)
}

impl Snapshot {
    /// Whether the signature was made with `key` ([`signing_key`] of the cluster's root key).
    pub fn signed_by(&self, key: &Key) -> bool {
        verify(key, &self.sums, &self.signature)
    }

    /// `SHA256SUMS` and its signature: what proves the snapshot later, once its keys are known.
    pub fn proof(&self) -> (&[u8], &[u8]) {
        (&self.sums, &self.signature)
    }

    /// Rows in all.
    pub fn rows(&self) -> u64 {
        self.header.tables.iter().map(|t| t.rows).sum()
    }

    /// The cells of the system record `key` in the snapshot, if it holds one.
    pub fn system_record(&self, key: &str) -> Option<&[u8]> {
        let t = self.tables.iter().find(|t| t.table == "system_entry")?;
        let (k, v) = (t.column("key")?, t.column("value")?);
        t.rows.iter().find(|r| matches!(r.get(k), Some(Cell::Text(s)) if s == key)).and_then(|r| match r.get(v) {
            Some(Cell::Blob(b)) => Some(b.as_slice()),
            Some(Cell::Text(s)) => Some(s.as_bytes()),
            _ => None,
        })
    }
}

/// Writes `bytes` to `path` atomically with mode 0600: a temporary file in the same directory,
/// synced, then renamed over `path`.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", crypto::random_base62(8)));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format: FORMAT_VERSION,
            coffer_version: "0.0.0".into(),
            storage_type: "sqlite".into(),
            created: "2026-12-06T00:00:00Z".into(),
            cluster_id: "c1".into(),
            cluster_name: "coffer-cluster-test".into(),
            keyring_term: 1,
            tables: vec![],
        }
    }

    fn tables() -> Vec<TableRows> {
        vec![
            TableRows {
                table: "system_entry".into(),
                columns: vec!["key".into(), "value".into()],
                rows: vec![vec![Cell::Text("cluster".into()), Cell::Blob(b"{\"id\":\"c1\"}".to_vec())]],
            },
            TableRows {
                table: "token".into(),
                columns: vec!["a".into(), "b".into(), "c".into()],
                rows: vec![
                    vec![Cell::Int(-7), Cell::Bool(true), Cell::Null],
                    vec![Cell::Int(i64::MAX), Cell::Bool(false), Cell::Text("line\nbreak".into())],
                ],
            },
        ]
    }

    #[test]
    fn a_snapshot_reads_back_every_cell_and_its_signature() {
        let key = Key::generate();
        let bytes = encode(header(), &tables(), &key).unwrap();
        let snap = decode(&bytes, 1 << 20).unwrap();
        assert_eq!(snap.tables, tables());
        assert_eq!(snap.header.tables.iter().map(|t| t.rows).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(snap.rows(), 3);
        assert!(snap.signed_by(&key));
        assert!(!snap.signed_by(&Key::generate()));
        assert_eq!(snap.system_record("cluster"), Some(&b"{\"id\":\"c1\"}"[..]));
    }

    #[test]
    fn the_signing_key_depends_on_the_root_key_only() {
        let root = Key::generate();
        assert_eq!(signing_key(&root), signing_key(&root));
        assert_ne!(signing_key(&root), signing_key(&Key::generate()));
        assert_ne!(signing_key(&root), root);
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let gunzip = |b: &[u8]| {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(b).read_to_end(&mut out).ok().map(|_| out)
        };
        let bytes = encode(header(), &tables(), &Key::generate()).unwrap();
        let plain = gunzip(&bytes).unwrap();
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x20;
            // A flip in the gzip header's free fields (mtime, OS) or in the unused bits of the
            // last deflate byte changes nothing that is read.
            if gunzip(&b).as_deref() == Some(&plain[..]) {
                continue;
            }
            assert!(decode(&b, 1 << 20).is_err(), "byte {i} flipped was accepted");
        }
        for len in (0..bytes.len()).step_by(11) {
            assert!(decode(&bytes[..len], 1 << 20).is_err(), "truncated to {len} was accepted");
        }
    }

    #[test]
    fn the_decompressed_size_is_bounded() {
        let big = vec![TableRows {
            table: "entry".into(),
            columns: vec!["v".into()],
            rows: (0..2000).map(|_| vec![Cell::Text("x".repeat(100))]).collect(),
        }];
        let bytes = encode(header(), &big, &Key::generate()).unwrap();
        assert!(bytes.len() < 20_000, "compresses well: {}", bytes.len());
        let e = decode(&bytes, 50_000).unwrap_err();
        assert!(e.0.contains("larger than 50000 bytes"), "{e}");
        assert!(decode(&bytes, 1 << 22).is_ok());
    }

    #[test]
    fn other_archives_are_refused_by_name() {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        tar.append_data(&mut h, "evil.json", &b"{}"[..]).unwrap();
        let bytes = tar.into_inner().unwrap().finish().unwrap();
        let e = decode(&bytes, 1 << 20).unwrap_err();
        assert!(e.0.contains("expected member meta.json"), "{e}");
        assert!(decode(b"not gzip at all", 1 << 20).is_err());
    }
}

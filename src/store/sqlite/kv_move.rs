//! A KV move on SQLite ([`crate::store::Store::kv_move`]): one job of the group-commit writer, so
//! it runs in one savepoint of one transaction. A refused move fails its job, which rolls back.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;

use super::inline::{metadata, version_without_value};
use super::lite::LiteArgs;
use super::SqliteStore;
use crate::store::binds::BindRow;
use crate::store::moves::{self, KvMove, MoveOutcome, MovedRotation};
use crate::store::{sql, KvMetadataRow, KvVersionRow, Sealed, StoreError, StoreResult};

/// What the writer thread needs of a [`KvMove`] (it outlives the caller's borrows).
struct Owned {
    mount_id: String,
    from: String,
    to: String,
    expected: KvMetadataRow,
    versions: Vec<KvVersionRow>,
    tokens: Vec<(String, i64, Vec<u8>)>,
    rotation: Option<(Sealed, i64, i64)>,
}

impl Owned {
    fn of(m: &KvMove<'_>) -> Self {
        Owned {
            mount_id: m.mount_id.to_string(),
            from: m.from.to_string(),
            to: m.to.to_string(),
            expected: m.expected.clone(),
            versions: m.versions.to_vec(),
            tokens: m.tokens.to_vec(),
            rotation: m.rotation.map(|r| (r.config.clone(), r.key_term, r.rev)),
        }
    }

    fn as_move(&self) -> KvMove<'_> {
        KvMove {
            mount_id: &self.mount_id,
            from: &self.from,
            to: &self.to,
            expected: &self.expected,
            versions: &self.versions,
            tokens: &self.tokens,
            rotation: self.rotation.as_ref().map(|(config, key_term, rev)| MovedRotation {
                config,
                key_term: *key_term,
                rev: *rev,
            }),
        }
    }
}

/// Moves a secret; see [`crate::store::Store::kv_move`].
pub(super) async fn run(store: &SqliteStore, m: &KvMove<'_>) -> StoreResult<MoveOutcome> {
    let owned = Owned::of(m);
    // Why the move was refused, if it was (the refused job fails, so its savepoint rolls back).
    let refused = Arc::new(Mutex::new(None::<MoveOutcome>));
    let refused_in = refused.clone();
    let done = store
        .write(move |c| match job(c, &owned.as_move())? {
            MoveOutcome::Moved => Ok(()),
            other => {
                *refused_in.lock().unwrap_or_else(PoisonError::into_inner) = Some(other);
                Err(StoreError::Backend("refused".into()))
            }
        })
        .await;
    let refused = refused.lock().unwrap_or_else(PoisonError::into_inner).take();
    match (done, refused) {
        (_, Some(o)) => Ok(o),
        (Ok(()), None) => Ok(MoveOutcome::Moved),
        (Err(e), None) => Err(e),
    }
}

/// The move's statements, in the order of [`crate::store::moves`]; `Moved` once the source is
/// gone, any other outcome before anything is written (the writer thread is the only writer, so
/// nothing can change between the checks and the writes).
fn job(c: &Connection, m: &KvMove<'_>) -> StoreResult<MoveOutcome> {
    let source = LiteArgs::new().bind(m.mount_id).bind(m.from);
    let Some(meta) = source.query_optional(c, sql::KV_MOVE_SOURCE, metadata)? else {
        return Ok(MoveOutcome::SourceMissing);
    };
    let versions = source.query(c, sql::KV_MOVE_VERSIONS, version_without_value)?;
    let tokens: Vec<(String, i64)> = source.query(c, sql::KV_REQUEST_TOKENS, |r| Ok((r.get(0)?, r.get(1)?)))?;
    if let Some(o) = moves::changed(m, &meta, &versions, &tokens) {
        return Ok(o);
    }
    let rotation: Option<(String, i64)> =
        source.query_optional(c, sql::KV_MOVE_ROTATION, |r| Ok((r.get(0)?, r.get(1)?)))?;
    if let Some(o) = moves::rotation_refuses(m, rotation.as_ref().map(|(s, r)| (s.as_str(), *r))) {
        return Ok(o);
    }
    let target = LiteArgs::new().bind(m.mount_id).bind(m.to);
    if target.query_optional(c, sql::KV_METADATA_GET, |_| Ok(()))?.is_some() {
        return Ok(MoveOutcome::TargetExists);
    }
    // Labels or tokens at a path without a key belong to no secret: they make way.
    for stmt in [sql::KV_DELETE_LABELS, sql::KV_DELETE_TOKENS] {
        target.execute(c, stmt)?;
    }
    match LiteArgs::new().bind_metadata(&moves::target_metadata(m)).execute(c, sql::KV_MOVE_INSERT_METADATA) {
        Err(StoreError::Conflict) => return Ok(MoveOutcome::TargetExists),
        other => other?,
    };
    for v in m.versions {
        LiteArgs::new().bind(m.mount_id).bind(m.to).bind_version(v).execute(c, sql::KV_VERSION_INSERT)?;
    }
    LiteArgs::new().bind(m.to).bind(m.mount_id).bind(m.from).execute(c, sql::KV_MOVE_LABELS)?;
    for (token, version, digest) in m.tokens {
        let args = LiteArgs::new().bind(m.mount_id).bind(m.to).bind(token).bind(*version).bind(digest);
        args.execute(c, sql::REQUEST_TOKEN_PUT)?;
    }
    if let Some(r) = m.rotation {
        let args = LiteArgs::new().bind(m.to).bind(r.config).bind(r.key_term).bind(m.mount_id).bind(m.from).bind(r.rev);
        if args.execute(c, sql::KV_MOVE_ROTATION_UPDATE)? == 0 {
            return Ok(MoveOutcome::Changed);
        }
    }
    moves::crash_point("after-copy");
    for stmt in sql::KV_DELETE_ALL {
        source.execute(c, stmt)?;
    }
    Ok(MoveOutcome::Moved)
}

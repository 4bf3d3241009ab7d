//! Moving one KV v2 secret to another path of its mount, in one transaction: what the mover
//! hands the store (every row already sealed for the new path), what the move did, and the check
//! that the source is still exactly what the mover read. Each store runs the statements of
//! [`super::sql`] (`KV_MOVE_*`) in that order: check the source, take the target, copy, delete.

use super::{KvMetadataRow, KvVersionRow, Sealed};

/// A secret moved from `from` to `to` of mount `mount_id` ([`super::Store::kv_move`]).
#[derive(Debug, Clone, Copy)]
pub struct KvMove<'a> {
    /// The mount (both paths are in it).
    pub mount_id: &'a str,
    /// The source path.
    pub from: &'a str,
    /// The target path; the move refuses it if a key is there.
    pub to: &'a str,
    /// The source's metadata as the mover read it: the move goes ahead only if the stored row is
    /// still equal to it, field for field. The target gets it with its own path.
    pub expected: &'a KvMetadataRow,
    /// Every kept version of the source, sealed for `to`: the same numbers, times, deletion
    /// times and destroyed flags as stored (the move goes ahead only if they still are), each
    /// ciphertext sealed under the target's context (`None` for a destroyed version).
    pub versions: &'a [KvVersionRow],
    /// The source's request tokens: `(token, version, digest)`, the digest computed for `to`. The
    /// move goes ahead only if the source holds exactly these tokens on these versions.
    pub tokens: &'a [(String, i64, Vec<u8>)],
    /// The source's rotation row, if it has one: its configuration sealed for `to`.
    pub rotation: Option<MovedRotation<'a>>,
}

/// A rotation row as it follows its secret.
#[derive(Debug, Clone, Copy)]
pub struct MovedRotation<'a> {
    /// The configuration sealed under the target's context.
    pub config: &'a Sealed,
    /// The keyring term of `config`.
    pub key_term: i64,
    /// The row's revision as the mover read it: the move goes ahead only if it is unchanged (and
    /// no rotation is in flight).
    pub rev: i64,
}

/// What a move did. Anything but `Moved` changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveOutcome {
    /// The secret is at `to` and nothing is left at `from`.
    Moved,
    /// No key at `from`.
    SourceMissing,
    /// A key is at `to` already (its metadata, with or without versions).
    TargetExists,
    /// The source changed after the mover read it (a write, a deletion, a label, a token, a
    /// rotation step): read it again and retry.
    Changed,
    /// A rotation of the source is in flight; it must end first.
    RotationInFlight,
}

/// Test hook: the environment variable that kills the process at a named point of a move (the
/// integration tests kill the real binary between the copy and the delete).
pub const CRASH_ENV: &str = "COFFER_TEST_MOVE_CRASH_AT";

/// Kills this process with SIGKILL when [`CRASH_ENV`] names `point`; nothing otherwise.
pub(crate) fn crash_point(point: &str) {
    if std::env::var_os(CRASH_ENV).is_some_and(|v| v == point) {
        tracing::error!(point, "{CRASH_ENV} is set: killing the process (test hook)");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}

/// A source version as stored (without ciphertext) against the one the mover sealed: equal when
/// number, creation time, deletion time and destroyed flag are.
fn same_version(stored: &KvVersionRow, sealed: &KvVersionRow) -> bool {
    stored.version == sealed.version
        && stored.created_time == sealed.created_time
        && stored.deletion_time == sealed.deletion_time
        && stored.destroyed == sealed.destroyed
        && sealed.ciphertext.is_some() != sealed.destroyed
}

/// `Some(Changed)` unless the stored source (its metadata, versions by number, and tokens as
/// `(token, version)`) is what `m` was built from.
pub(crate) fn changed(
    m: &KvMove<'_>,
    meta: &KvMetadataRow,
    versions: &[KvVersionRow],
    tokens: &[(String, i64)],
) -> Option<MoveOutcome> {
    let same_meta = meta == m.expected;
    let same_versions =
        versions.len() == m.versions.len() && versions.iter().zip(m.versions).all(|(a, b)| same_version(a, b));
    let mut stored: Vec<(&str, i64)> = tokens.iter().map(|(t, v)| (t.as_str(), *v)).collect();
    let mut given: Vec<(&str, i64)> = m.tokens.iter().map(|(t, v, _)| (t.as_str(), *v)).collect();
    stored.sort_unstable();
    given.sort_unstable();
    (!(same_meta && same_versions && stored == given)).then_some(MoveOutcome::Changed)
}

/// The rotation check: `Some(outcome)` when the stored row (`step`, `rev`) refuses the move.
pub(crate) fn rotation_refuses(m: &KvMove<'_>, stored: Option<(&str, i64)>) -> Option<MoveOutcome> {
    match (stored, m.rotation) {
        (None, None) => None,
        (Some((step, _)), _) if !step.is_empty() => Some(MoveOutcome::RotationInFlight),
        (Some((_, rev)), Some(r)) if rev == r.rev => None,
        _ => Some(MoveOutcome::Changed),
    }
}

/// The target's metadata row: the source's with the target's path.
pub(crate) fn target_metadata(m: &KvMove<'_>) -> KvMetadataRow {
    KvMetadataRow { path: m.to.to_string(), ..m.expected.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: i64, destroyed: bool) -> KvVersionRow {
        KvVersionRow {
            version: n,
            created_time: format!("t{n}"),
            deletion_time: None,
            destroyed,
            key_term: Some(1),
            ciphertext: (!destroyed).then(|| Sealed::from_stored(vec![1])),
        }
    }

    #[test]
    fn any_difference_in_what_was_read_is_a_change() {
        let meta = KvMetadataRow::bare("m", "a", 2, 1);
        let sealed = [v(1, true), v(2, false)];
        let tokens = [("t".to_string(), 2, vec![9])];
        let m = KvMove {
            mount_id: "m",
            from: "a",
            to: "b",
            expected: &meta,
            versions: &sealed,
            tokens: &tokens,
            rotation: None,
        };
        let stored = |destroyed_1| {
            let mut a = v(1, destroyed_1);
            a.ciphertext = None;
            let mut b = v(2, false);
            b.ciphertext = None;
            vec![a, b]
        };
        assert_eq!(changed(&m, &meta, &stored(true), &[("t".into(), 2)]), None);
        assert_eq!(changed(&m, &meta, &stored(false), &[("t".into(), 2)]), Some(MoveOutcome::Changed));
        assert_eq!(changed(&m, &meta, &stored(true)[..1], &[("t".into(), 2)]), Some(MoveOutcome::Changed));
        assert_eq!(changed(&m, &meta, &stored(true), &[]), Some(MoveOutcome::Changed));
        let newer = KvMetadataRow::bare("m", "a", 3, 1);
        assert_eq!(changed(&m, &newer, &stored(true), &[("t".into(), 2)]), Some(MoveOutcome::Changed));
        let key = Sealed::from_stored(vec![2]);
        let with = KvMove { rotation: Some(MovedRotation { config: &key, key_term: 1, rev: 4 }), ..m };
        assert_eq!(rotation_refuses(&with, Some(("", 4))), None);
        assert_eq!(rotation_refuses(&with, Some(("", 5))), Some(MoveOutcome::Changed));
        assert_eq!(rotation_refuses(&with, Some(("set", 4))), Some(MoveOutcome::RotationInFlight));
        assert_eq!(rotation_refuses(&with, None), Some(MoveOutcome::Changed));
        assert_eq!(rotation_refuses(&m, Some(("", 0))), Some(MoveOutcome::Changed));
        assert_eq!(rotation_refuses(&m, None), None);
        assert_eq!(target_metadata(&m).path, "b");
    }
}

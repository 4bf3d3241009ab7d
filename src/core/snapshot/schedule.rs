//! Scheduled snapshots (`[snapshot] interval`, `directory`, `retain`): the leader writes one every
//! interval, atomically and with mode 0600, and deletes its oldest beyond `retain`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::core::Core;

/// Scheduled snapshots kept when `retain` is not set.
pub const DEFAULT_RETAIN: usize = 7;

/// The names scheduled snapshots get: this prefix, the UTC time, [`SUFFIX`].
const PREFIX: &str = "coffer-snapshot-";
const SUFFIX: &str = ".snap";

/// When and where scheduled snapshots are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// How often.
    pub interval: Duration,
    /// Where.
    pub directory: PathBuf,
    /// How many are kept.
    pub retain: usize,
}

/// Runs while the process lives: every interval, on the unsealed leader, one snapshot.
pub async fn run(core: Arc<Core>) {
    loop {
        let Some(schedule) = core.snapshots.load().schedule.clone() else {
            // Not configured (yet: the settings are set just after the workers start).
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        tokio::time::sleep(schedule.interval).await;
        if core.barrier.is_sealed() || core.leader.load().is_none() {
            continue;
        }
        match write_one(&core, &schedule).await {
            Ok(path) => {
                tracing::info!(file = %path.display(), "scheduled snapshot written");
                core.audit.event("snapshot_scheduled", json!({"file": path.display().to_string()}));
            }
            Err(e) => tracing::warn!(error = %e, "scheduled snapshot failed; trying again at the next interval"),
        }
    }
}

/// Takes a snapshot, writes it into the directory and prunes the oldest ones.
async fn write_one(core: &Core, schedule: &Schedule) -> Result<PathBuf, String> {
    let bytes = super::take(core).await.map_err(|e| e.errors.join("; "))?;
    let name = format!("{PREFIX}{}{SUFFIX}", core.clock.now().format("%Y%m%dT%H%M%S%.3fZ"));
    let path = schedule.directory.join(name);
    let (dir, target, retain) = (schedule.directory.clone(), path.clone(), schedule.retain);
    tokio::task::spawn_blocking(move || {
        super::format::write_file(&target, &bytes).map_err(|e| format!("writing {}: {e}", target.display()))?;
        prune(&dir, retain).map_err(|e| format!("pruning {}: {e}", dir.display()))
    })
    .await
    .map_err(|e| e.to_string())??;
    Ok(path)
}

/// Deletes the oldest scheduled snapshots in `dir` beyond the newest `retain` (names sort by time;
/// other files are left alone).
fn prune(dir: &Path, retain: usize) -> std::io::Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(retain);
    for n in names.into_iter().take(excess) {
        std::fs::remove_file(dir.join(n))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_newest_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["coffer-snapshot-20260101T000000.000Z.snap", "coffer-snapshot-20260102T000000.000Z.snap"] {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        std::fs::write(dir.path().join("coffer-snapshot-20260103T000000.000Z.snap"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        prune(dir.path(), 2).unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(
            left,
            ["coffer-snapshot-20260102T000000.000Z.snap", "coffer-snapshot-20260103T000000.000Z.snap", "notes.txt"]
        );
    }
}

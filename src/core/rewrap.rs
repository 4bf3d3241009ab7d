//! Background re-wrap after `sys/rotate`, a barrier job the core runs: moves each KV version's
//! DEK to the newest KEK term in batches, touching only the small wrapped key (the sealed value
//! itself is copied unchanged).

use std::sync::Arc;

use crate::core::Core;
use crate::crypto::barrier::Context;

const BATCH: i64 = 500;

/// Re-wraps every version still on an older term. Returns how many rows moved.
pub async fn rewrap_all(core: &Core) -> Result<u64, String> {
    let mut moved = 0u64;
    loop {
        let active = i64::from(core.barrier.keys().map_err(|e| e.to_string())?.keyring.active().number);
        let rows = core.store.kv_versions_below_term(active, BATCH).await.map_err(|e| e.to_string())?;
        if rows.is_empty() {
            return Ok(moved);
        }
        for (mount_id, path, v) in rows {
            let (Some(ct), Some(old)) = (v.ciphertext.as_ref(), v.key_term) else {
                continue;
            };
            match core.barrier.rewrap(ct, Context::KvVersion { mount_id: &mount_id, path: &path, version: v.version }) {
                Ok(Some((new_ct, term))) => {
                    core.store
                        .kv_rewrap(&mount_id, &path, v.version, old, i64::from(term), &new_ct)
                        .await
                        .map_err(|e| e.to_string())?;
                    moved += 1;
                    if moved == 1 {
                        crate::crypto::keyring::crash::crash_point("rewrap-partway");
                    }
                }
                Ok(None) => {}
                Err(e) => return Err(format!("re-wrap of a version failed: {e}")),
            }
        }
    }
}

/// Runs [`rewrap_all`] each time a rotation signals, until the server stops.
pub async fn rewrap_worker(core: Arc<Core>) {
    loop {
        core.rotated.notified().await;
        match rewrap_all(&core).await {
            Ok(n) => {
                tracing::info!(rows = n, "re-wrapped data keys to the active key term");
                core.audit.event("key_rewrap", serde_json::json!({ "rows": n }));
            }
            Err(e) => {
                tracing::warn!(error = %e, "re-wrap stopped; it resumes at the next rotation")
            }
        }
    }
}

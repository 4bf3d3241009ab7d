//! The expiry worker: on the leader, every second, streams due leases from the expiry index in
//! batches and revokes them a few at a time; each row delete is fenced by the leader epoch.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::stream::{self, StreamExt};

use crate::core::Core;
use crate::store::Fence;

/// How often due leases are looked for.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Rows read per query.
const BATCH: i64 = 256;

/// Revocations in flight at once.
const PARALLEL: usize = 8;

/// Runs while the process lives; does work only while unsealed and holding the leader lease.
pub async fn run(core: Arc<Core>) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if core.barrier.is_sealed() {
            continue;
        }
        let Some(fence) = core.leader.load_full() else { continue };
        match expire_due(&core, &fence, Utc::now().timestamp_millis()).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(leases = n, "revoked expired leases");
                core.audit.event("lease_expiry", serde_json::json!({ "revoked": n }));
            }
            Err(e) => tracing::warn!(error = %e, "lease expiry stopped; retrying at the next interval"),
        }
        let rotated = crate::database::static_roles::rotate_due(&core).await;
        if rotated > 0 {
            tracing::info!(roles = rotated, "rotated static database roles");
        }
    }
}

/// Revokes every lease due at `now`, batch by batch. Returns how many were revoked. Stops when
/// a batch makes no progress (every revocation failed and was rescheduled, or the database
/// refuses the updates) or the fence is lost.
pub async fn expire_due(core: &Core, fence: &Fence, now: i64) -> Result<usize, String> {
    let mut revoked = 0;
    loop {
        let rows = core.store.secret_lease_due(now, BATCH).await.map_err(|e| e.to_string())?;
        if rows.is_empty() {
            return Ok(revoked);
        }
        let outcomes: Vec<Result<(), String>> = stream::iter(rows)
            .map(|row| crate::leases::revoke_row(core, row, Some(fence)))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let done = outcomes.iter().filter(|o| o.is_ok()).count();
        revoked += done;
        if outcomes.iter().any(|o| matches!(o, Err(e) if e == "conflict")) {
            return Err("the leader lease was lost".into());
        }
        if done == 0 {
            return Ok(revoked);
        }
    }
}

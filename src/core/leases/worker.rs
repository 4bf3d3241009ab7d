//! The expiry worker: on the leader, every second, streams due leases from the expiry index in
//! batches and revokes them a few at a time; each row delete is fenced by the leader epoch. The
//! current time comes from a `Clock`, so tests can jump it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use crate::base::schedule::Clock;
use crate::core::Core;
use crate::store::Fence;

/// How often due leases are looked for.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Rows read per query.
const BATCH: i64 = 256;

/// Revocations in flight at once (each may open a connection to a managed database).
const PARALLEL: usize = 16;

/// Runs while the process lives, on the core's clock (the interval itself is monotonic); does
/// work only while unsealed and holding the leader lease.
pub async fn run(core: Arc<Core>) {
    let mut interval = tokio::time::interval(INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if core.barrier.is_sealed() {
            continue;
        }
        tick(&core, &core.clock).await;
    }
}

/// One expiry pass at `clock.now()` on the leader (tests drive it with a `ManualClock`); returns
/// how many leases were revoked.
pub async fn tick(core: &Core, clock: &dyn Clock) -> usize {
    let Some(fence) = core.leader.load_full() else { return 0 };
    if core.barrier.is_sealed() {
        return 0;
    }
    match expire_due(core, &fence, clock.now().timestamp_millis()).await {
        Ok(0) => 0,
        Ok(n) => {
            tracing::info!(leases = n, "revoked expired leases");
            core.audit.event("lease_expiry", serde_json::json!({ "revoked": n }));
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "lease expiry stopped; retrying at the next interval");
            0
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
        // Engines revoke a few at a time; the rows they revoked go in one fenced transaction.
        let revoked_ids: Vec<String> = stream::iter(rows)
            .map(|row| async move {
                let id = row.id.clone();
                crate::core::leases::revoke_in_engine(core, row).await.ok().map(|()| id)
            })
            .buffer_unordered(PARALLEL)
            .filter_map(|id| async move { id })
            .collect()
            .await;
        if revoked_ids.is_empty() {
            return Ok(revoked);
        }
        core.store.secret_lease_delete_fenced_many(&revoked_ids, fence).await.map_err(|e| match e {
            crate::store::StoreError::Conflict => "the leader lease was lost".to_string(),
            other => other.to_string(),
        })?;
        revoked += revoked_ids.len();
    }
}

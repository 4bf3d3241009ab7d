//! The rotation scheduler: on the leader, every second, claims the rows that are due (scheduled
//! starts, retries, rotations a crashed leader left in flight) through the `due_at` index and
//! drives each a few at a time. Time comes from a [`Clock`], so tests drive [`tick`] with a
//! `ManualClock` instead of waiting.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use super::state::{self, Driven, CLAIM_MS};
use crate::base::schedule::Clock;
use crate::core::engine::Background;

/// How often due rotations are looked for.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Rows claimed per tick.
const BATCH: i64 = 64;

/// Rotations driven at once.
const PARALLEL: usize = 8;

/// Runs while the process lives, on the core's clock; does work only while unsealed and holding
/// the leader lease.
pub async fn run(work: Background) {
    let clock = work.clock().clone();
    let mut interval = tokio::time::interval(INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let n = tick(&work, &clock).await;
        if n > 0 {
            tracing::debug!(rotations = n, "rotation scheduler worked on due secrets");
        }
    }
}

/// Claims every rotation due at `clock.now()` (in batches) and drives each as far as it goes.
/// Returns how many were worked on (0 when sealed or not the leader).
pub async fn tick(work: &Background, clock: &dyn Clock) -> usize {
    if work.is_sealed() {
        return 0;
    }
    let Some(fence) = work.fence() else { return 0 };
    let mut worked = 0;
    loop {
        let now = clock.now().timestamp_millis();
        let rows = match work.claim_due_rotations(now, now + CLAIM_MS, BATCH, &fence).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim due rotations; retrying at the next interval");
                return worked;
            }
        };
        let claimed = rows.len();
        let outcomes: Vec<Driven> = stream::iter(rows)
            .map(|row| state::drive(work, &fence, clock, row))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        worked += outcomes.iter().filter(|d| **d != Driven::Skipped).count();
        // A full batch may leave more due rows; claimed rows are not due again for a while.
        if i64::try_from(claimed).is_ok_and(|c| c < BATCH) {
            return worked;
        }
    }
}

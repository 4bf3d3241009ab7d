//! Runs the file once per unseal, on the node holding the leader lease: right after the unseal
//! if this node is the leader, or as soon as it becomes the leader before the next seal.

use std::sync::Arc;
use std::time::Duration;

use crate::core::Core;

/// How often the worker looks at the leader lease while an unseal waits to be applied.
const POLL: Duration = Duration::from_millis(250);

/// The worker: idle until an unseal, then applies the configured file once it leads.
pub async fn run(core: Arc<Core>) {
    let mut unseals = core.bootstrap.unseals();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut done = 0u64;
    loop {
        tokio::select! {
            // The sender lives as long as the core, which this task holds.
            _ = unseals.changed() => {}
            _ = tick.tick() => {}
        }
        let generation = *unseals.borrow_and_update();
        if generation == 0 || generation == done || core.barrier.is_sealed() {
            continue;
        }
        let Some(file) = core.bootstrap.settings().and_then(|s| s.file.clone()) else { continue };
        let Some(fence) = core.leader.load_full() else { continue };
        let report = super::apply::run(&core, &file, &fence).await;
        core.bootstrap.record(report);
        done = generation;
    }
}

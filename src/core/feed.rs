//! The change feed of one node: local changes go out over the store's bus, and what other nodes
//! publish is applied to the core (caches dropped, tables reloaded).

use std::sync::Arc;

use crate::store::bus::{Bus, Change, Heard, Topic};

/// Runs the feed for one node: local changes go out over `bus`, and what other nodes publish is
/// applied to `core`. Returns the two tasks.
pub fn spawn(core: Arc<super::Core>, bus: Arc<dyn Bus>, node: String) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(mut local) = core.changes.connect() {
        let (bus, node) = (bus.clone(), node.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(change) = local.recv().await {
                if let Err(e) = bus.publish(&node, &change).await {
                    tracing::warn!(error = %e, change = %change.to_wire(), "change feed: publish failed");
                }
            }
        }));
    }
    let (tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    tasks.push(tokio::spawn(async move { bus.listen(node, tx).await }));
    tasks.push(tokio::spawn(async move {
        while let Some(h) = heard.recv().await {
            apply(&core, &h).await;
        }
    }));
    tasks
}

/// Applies one thing heard from the other nodes.
pub async fn apply(core: &super::Core, h: &Heard) {
    let cache = core.kv_cache.load_full();
    let topics: &[Topic] = match h {
        Heard::Changed(Change::Topic(t)) => std::slice::from_ref(t),
        Heard::Changed(Change::Kv { mount_id, path }) => {
            if let Some(c) = &cache {
                c.drop_key(mount_id, path);
            }
            &[]
        }
        Heard::Everything => {
            // Subscribed again: what was missed is unknown, so the KV cache starts empty.
            core.metrics.set_feed(super::metrics::Feed::Connected);
            if let Some(c) = &cache {
                c.set_serving(true);
            }
            &Topic::ALL
        }
        Heard::Lost => {
            // Until the next subscription, other nodes' writes go unheard: the store answers.
            core.metrics.set_feed(super::metrics::Feed::Lost);
            if let Some(c) = &cache {
                c.set_serving(false);
            }
            &[]
        }
    };
    for t in topics {
        if let Err(e) = core.apply_remote(*t).await {
            tracing::warn!(error = %e, topic = t.as_str(), "change feed: applying a remote change failed");
        }
    }
}

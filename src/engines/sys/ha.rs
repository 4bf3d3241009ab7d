//! `sys/leader` and `sys/ha-status`: which node holds the singleton lease, and the nodes that
//! share the store. Every node serves reads and writes; the leader only runs the background
//! singletons, so the others report themselves as performance standbys.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::logical::Response;
use crate::core::Core;

/// True when several nodes can share this store (it has a change feed).
pub fn ha_enabled(core: &Core) -> bool {
    core.store.bus().is_some()
}

/// True while this node holds the singleton lease.
pub fn is_leader(core: &Core) -> bool {
    core.leader.load().is_some()
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `GET sys/leader`.
pub async fn leader(core: &Core) -> Result<Response, ApiError> {
    if !ha_enabled(core) {
        return Ok(Response::bare(json!({"ha_enabled": false})));
    }
    if core.barrier.is_sealed() {
        return Err(ApiError::sealed());
    }
    let internal = ApiError::from;
    let lease = core.store.lease_get().await.map_err(internal)?;
    let nodes = core.store.node_list().await.map_err(internal)?;
    let now = core.clock.now().timestamp_millis();
    let live = lease.filter(|l| l.expires_at > now);
    let address = live
        .as_ref()
        .and_then(|l| nodes.iter().find(|n| n.id == l.holder))
        .map(|n| n.address.clone())
        .unwrap_or_default();
    let is_self = live.as_ref().is_some_and(|l| l.holder == core.node_id);
    Ok(Response::bare(json!({
        "ha_enabled": true,
        "is_self": is_self,
        "active_time": "0001-01-01T00:00:00Z",
        "leader_address": address,
        "leader_cluster_address": "",
        "performance_standby": !is_self,
        "performance_standby_last_remote_wal": 0,
        "leader_epoch": live.as_ref().map_or(0, |l| l.epoch),
    })))
}

/// `GET sys/ha-status`.
pub async fn status(core: &Core) -> Result<Response, ApiError> {
    let internal = ApiError::from;
    let lease = core.store.lease_get().await.map_err(internal)?;
    let now = core.clock.now().timestamp_millis();
    let holder = lease.filter(|l| l.expires_at > now).map(|l| l.holder);
    let nodes: Vec<Value> = core
        .store
        .node_list()
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|n| now - n.last_seen < crate::store::NODE_ALIVE_MS)
        .map(|n| {
            let active = holder.as_deref() == Some(n.id.as_str());
            json!({
                // Vault's field for the node's name: `ha.node_name` (the host name by default).
                "hostname": if n.name.is_empty() { n.id.clone() } else { n.name },
                "node_id": n.id,
                "api_address": n.address,
                "cluster_address": "",
                "active_node": active,
                "last_echo": rfc3339(n.last_seen),
                "version": env!("CARGO_PKG_VERSION"),
            })
        })
        .collect();
    Ok(Response::sys_data(json!({ "nodes": nodes })))
}

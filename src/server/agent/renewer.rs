//! The proxy's lease renewer: a background task that renews each cached leased answer at two
//! thirds of its lease, with the token of the caller who read it (as Vault Agent's cache does), so
//! a caller asking again gets the same credentials for as long as they can be kept alive. A refused
//! renewal, or one cut short by the lease's max TTL, drops the answer (the next read gets new
//! credentials); an unreachable server is retried until the lease ends.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::cache::{Cache, Lease};
use super::client::{CallError, Client};

/// At most this many renewals are in flight at once.
const PARALLEL: usize = 8;

/// How long to wait before trying again when the server cannot be reached.
const RETRY: Duration = Duration::from_secs(5);

/// Renews the cache's leases until the task is aborted.
pub async fn run(cache: Arc<Cache>, client: Client) {
    loop {
        let (due, next) = cache.due(Instant::now());
        if !due.is_empty() {
            let mut running = JoinSet::new();
            for (key, lease) in due {
                while running.len() >= PARALLEL {
                    let _ = running.join_next().await;
                }
                let (cache, client) = (cache.clone(), client.clone());
                running.spawn(async move { renew(&cache, &client, &key, &lease).await });
            }
            while running.join_next().await.is_some() {}
            continue;
        }
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = cache.changed.notified() => {}
                }
            }
            None => cache.changed.notified().await,
        }
    }
}

/// Renews one lease and records the outcome in the cache.
async fn renew(cache: &Cache, client: &Client, key: &str, lease: &Lease) {
    let body = json!({"lease_id": lease.id, "increment": lease.duration});
    match client.call(Method::POST, "sys/leases/renew", Some(&lease.token), Some(&body)).await {
        Ok(answer) => match answer.get("lease_duration").and_then(Value::as_u64) {
            Some(secs) if secs >= lease.duration => {
                tracing::debug!("agent: renewed a cached lease for {secs}s");
                cache.renewed(key, &lease.id, secs);
            }
            _ => {
                tracing::info!("agent: a cached lease reached its max TTL; the next read gets new credentials");
                cache.drop_lease(key, &lease.id);
            }
        },
        Err(CallError::Refused { status, .. }) => {
            tracing::info!("agent: the renewal of a cached lease was refused ({status}); dropped from the cache");
            cache.drop_lease(key, &lease.id);
        }
        Err(e @ CallError::Unreachable(_)) => {
            tracing::warn!("agent: cannot renew a cached lease: {e}");
            cache.retry_at(key, &lease.id, Instant::now() + RETRY);
        }
    }
}

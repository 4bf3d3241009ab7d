//! The change feed over PostgreSQL `LISTEN/NOTIFY`: one channel, payload `<node>:<topic>`. A node
//! ignores its own messages. After a lost connection it re-subscribes on a new connection and
//! then drops every cache, because messages sent while it was away are gone. `NOTIFY` and
//! `LISTEN` are bounded like every statement of the store (see `store::postgres::conn`).

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::timeout;

use super::{Bus, Change, Heard};
use crate::store::postgres::conn::{Bounded, Conn, STATEMENT_BOUND};

/// The notification channel.
pub const CHANNEL: &str = "coffer_changes";

/// Wait between reconnection attempts.
const RETRY: Duration = Duration::from_millis(500);

/// `LISTEN/NOTIFY` on the store's own pool.
pub struct PgBus {
    pool: PgPool,
    /// How long a connection may take to go back to the pool.
    back_within: Duration,
}

impl PgBus {
    /// A bus over `pool`; a connection it used goes back to the pool within `back_within`.
    pub fn new(pool: PgPool, back_within: Duration) -> Self {
        PgBus { pool, back_within }
    }
}

#[async_trait::async_trait]
impl Bus for PgBus {
    async fn publish(&self, node: &str, change: &Change) -> Result<(), String> {
        let mut c = Conn::acquire(&self.pool, self.back_within).await.map_err(|e| e.to_string())?;
        match sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{node}:{}", change.to_wire()))
            .execute(&mut *c)
            .bounded()
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer from PostgreSQL within {} s", STATEMENT_BOUND.as_secs())),
        }
    }

    async fn listen(&self, node: String, out: UnboundedSender<Heard>) {
        loop {
            let mut listener = match PgListener::connect_with(&self.pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "change feed: cannot connect; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            // A LISTEN that gets no answer is given up and tried again on a new connection.
            // (Dropping the listener hands its connection back through sqlx, unbounded: see
            // docs/decisions.md, FLT-10.)
            match timeout(STATEMENT_BOUND, listener.listen(CHANNEL)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "change feed: LISTEN failed; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
                Err(_) => {
                    tracing::warn!("change feed: no answer to LISTEN; retrying");
                    continue;
                }
            }
            // Whatever happened before this subscription is unknown: start from a clean slate.
            if out.send(Heard::Everything).is_err() {
                return;
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        let Some((from, change)) = n.payload().split_once(':') else { continue };
                        if from == node {
                            continue;
                        }
                        if let Some(c) = Change::parse(change) {
                            if out.send(Heard::Changed(c)).is_err() {
                                return;
                            }
                        }
                    }
                    // The connection dropped. Open a new one and LISTEN again before the next
                    // clean slate: clearing caches before the new LISTEN would let a node cache
                    // something that changes in between, unheard.
                    Ok(None) => {
                        tracing::warn!("change feed: connection lost; re-subscribing");
                        if out.send(Heard::Lost).is_err() {
                            return;
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "change feed: receive failed; reconnecting");
                        if out.send(Heard::Lost).is_err() {
                            return;
                        }
                        tokio::time::sleep(RETRY).await;
                        break;
                    }
                }
            }
        }
    }
}

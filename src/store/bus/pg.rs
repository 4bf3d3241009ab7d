//! The change feed over PostgreSQL `LISTEN/NOTIFY`: one channel, payload `<node>:<topic>`. A node
//! ignores its own messages. After a lost connection it re-subscribes on a new connection and
//! then drops every cache, because messages sent while it was away are gone.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::mpsc::UnboundedSender;

use super::{Bus, Heard, Topic};

/// The notification channel.
pub const CHANNEL: &str = "coffer_changes";

/// Wait between reconnection attempts.
const RETRY: Duration = Duration::from_millis(500);

/// `LISTEN/NOTIFY` on the store's own pool.
pub struct PgBus {
    pool: PgPool,
}

impl PgBus {
    /// A bus over `pool`.
    pub fn new(pool: PgPool) -> Self {
        PgBus { pool }
    }
}

#[async_trait::async_trait]
impl Bus for PgBus {
    async fn publish(&self, node: &str, topic: Topic) -> Result<(), String> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{node}:{}", topic.as_str()))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
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
            if let Err(e) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %e, "change feed: LISTEN failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
            // Whatever happened before this subscription is unknown: start from a clean slate.
            if out.send(Heard::Everything).is_err() {
                return;
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        let Some((from, topic)) = n.payload().split_once(':') else { continue };
                        if from == node {
                            continue;
                        }
                        if let Some(t) = Topic::parse(topic) {
                            if out.send(Heard::Changed(t)).is_err() {
                                return;
                            }
                        }
                    }
                    // The connection dropped. Open a new one and LISTEN again before the next
                    // clean slate: clearing caches before the new LISTEN would let a node cache
                    // something that changes in between, unheard.
                    Ok(None) => {
                        tracing::warn!("change feed: connection lost; re-subscribing");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "change feed: receive failed; reconnecting");
                        tokio::time::sleep(RETRY).await;
                        break;
                    }
                }
            }
        }
    }
}

//! The change bus between nodes that share one database: the topics that tell other nodes which
//! per-node caches to drop (tokens, policies, mounts, keyring, audit devices, quotas), and the
//! transport (PostgreSQL `LISTEN/NOTIFY`, in `pg`). A single-node store has none and the feed goes
//! nowhere; `core::feed` applies what a node hears.

pub mod pg;

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// A kind of per-node state another node changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A token was revoked, renewed, or spent a use.
    Tokens,
    /// A policy was written or deleted.
    Policies,
    /// A mount or auth method was enabled, tuned or disabled.
    Mounts,
    /// The keyring gained a term (`sys/rotate`).
    Keyring,
    /// An audit device was enabled or disabled.
    Audit,
    /// A rate-limit quota was written or deleted.
    Quotas,
}

impl Topic {
    /// Every topic (what a node drops when it may have missed messages).
    pub const ALL: [Topic; 6] =
        [Topic::Tokens, Topic::Policies, Topic::Mounts, Topic::Keyring, Topic::Audit, Topic::Quotas];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Tokens => "tokens",
            Topic::Policies => "policies",
            Topic::Mounts => "mounts",
            Topic::Keyring => "keyring",
            Topic::Audit => "audit",
            Topic::Quotas => "quotas",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Where local changes are reported. Cheap to call on every change; one feed per core, shared
/// by its clones.
#[derive(Clone, Default)]
pub struct Changes {
    tx: Arc<OnceLock<UnboundedSender<Topic>>>,
}

impl Changes {
    /// Connects the feed; returns the receiving end for the broadcaster.
    pub fn connect(&self) -> Option<UnboundedReceiver<Topic>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.tx.set(tx).ok().map(|()| rx)
    }

    /// Reports a local change (a no-op until connected).
    pub fn changed(&self, topic: Topic) {
        if let Some(tx) = self.tx.get() {
            let _ = tx.send(topic);
        }
    }
}

/// What a node hears from the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Another node changed this.
    Changed(Topic),
    /// Messages may have been lost (a new or re-established subscription): drop everything.
    Everything,
}

/// A transport between the nodes that share one database.
#[async_trait::async_trait]
pub trait Bus: Send + Sync {
    /// Tells the other nodes that `node` changed `topic`.
    async fn publish(&self, node: &str, topic: Topic) -> Result<(), String>;
    /// Delivers what other nodes publish into `out` until `out` closes, re-subscribing after
    /// a lost connection.
    async fn listen(&self, node: String, out: UnboundedSender<Heard>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_and_the_feed_delivers_once_connected() {
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.as_str()), Some(t));
        }
        assert_eq!(Topic::parse("nope"), None);
        let c = Changes::default();
        c.changed(Topic::Tokens);
        let mut rx = c.clone().connect().unwrap();
        assert!(c.connect().is_none(), "connected once");
        c.changed(Topic::Policies);
        assert_eq!(rx.try_recv().unwrap(), Topic::Policies);
    }
}

//! The change bus between nodes that share one database: the topics that tell other nodes which
//! per-node caches to drop (tokens, policies, mounts, keyring, audit devices, quotas, alert rules,
//! the seal configuration, and single KV secrets for the rows cache), and the transport (PostgreSQL `LISTEN/NOTIFY`, in
//! `pg`). A single-node store has none and the feed goes nowhere; `core::feed` applies what a node
//! hears.

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
    /// An AWS access key was made or deleted.
    AwsKeys,
    /// An alert rule was written or deleted.
    Alerts,
    /// A snapshot was restored: every per-node state is reloaded (D194).
    Restore,
    /// The seal configuration changed (a rekey gave new shares with a new count or threshold).
    Seal,
}

impl Topic {
    /// Every topic (what a node drops when it may have missed messages).
    pub const ALL: [Topic; 10] = [
        Topic::Tokens,
        Topic::Policies,
        Topic::Mounts,
        Topic::Keyring,
        Topic::Audit,
        Topic::Quotas,
        Topic::AwsKeys,
        Topic::Alerts,
        Topic::Restore,
        Topic::Seal,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Tokens => "tokens",
            Topic::Policies => "policies",
            Topic::Mounts => "mounts",
            Topic::Keyring => "keyring",
            Topic::Audit => "audit",
            Topic::Quotas => "quotas",
            Topic::AwsKeys => "aws-keys",
            Topic::Alerts => "alerts",
            Topic::Restore => "restore",
            Topic::Seal => "seal",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One change as it travels: a topic, or one KV secret (its cached rows must go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Per-node state of a topic.
    Topic(Topic),
    /// The rows of one KV secret.
    Kv {
        /// The mount's id.
        mount_id: String,
        /// The secret's path in the mount.
        path: String,
    },
}

impl Change {
    /// The wire form: the topic's name, or `kv:<mount id>:<path>`.
    pub fn to_wire(&self) -> String {
        match self {
            Change::Topic(t) => t.as_str().to_string(),
            Change::Kv { mount_id, path } => format!("kv:{mount_id}:{path}"),
        }
    }

    /// Parses the wire form (mount ids hold no `:`; a path may).
    pub fn parse(s: &str) -> Option<Change> {
        match s.strip_prefix("kv:") {
            Some(rest) => {
                let (mount_id, path) = rest.split_once(':')?;
                Some(Change::Kv { mount_id: mount_id.to_string(), path: path.to_string() })
            }
            None => Topic::parse(s).map(Change::Topic),
        }
    }
}

/// Where local changes are reported. Cheap to call on every change; one feed per core, shared
/// by its clones.
#[derive(Clone, Default)]
pub struct Changes {
    tx: Arc<OnceLock<UnboundedSender<Change>>>,
}

impl Changes {
    /// Connects the feed; returns the receiving end for the broadcaster.
    pub fn connect(&self) -> Option<UnboundedReceiver<Change>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.tx.set(tx).ok().map(|()| rx)
    }

    /// Reports a local change (a no-op until connected).
    pub fn changed(&self, topic: Topic) {
        self.send(Change::Topic(topic));
    }

    /// Reports a local write of one KV secret (a no-op until connected).
    pub fn changed_kv(&self, mount_id: &str, path: &str) {
        if self.tx.get().is_some() {
            self.send(Change::Kv { mount_id: mount_id.to_string(), path: path.to_string() });
        }
    }

    fn send(&self, change: Change) {
        if let Some(tx) = self.tx.get() {
            let _ = tx.send(change);
        }
    }
}

/// What a node hears from the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Another node changed this.
    Changed(Change),
    /// Messages may have been lost (a new or re-established subscription): drop everything.
    Everything,
    /// The subscription is down: until [`Heard::Everything`], changes go unheard.
    Lost,
}

/// A transport between the nodes that share one database.
#[async_trait::async_trait]
pub trait Bus: Send + Sync {
    /// Tells the other nodes that `node` made `change`.
    async fn publish(&self, node: &str, change: &Change) -> Result<(), String>;
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
        assert_eq!(rx.try_recv().unwrap(), Change::Topic(Topic::Policies));
        c.changed_kv("m1", "a:b/c");
        assert_eq!(rx.try_recv().unwrap(), Change::Kv { mount_id: "m1".into(), path: "a:b/c".into() });
    }

    #[test]
    fn changes_round_trip_on_the_wire() {
        for c in [
            Change::Topic(Topic::Mounts),
            Change::Kv { mount_id: "0b7e".into(), path: "app/db:primary".into() },
            Change::Kv { mount_id: "m".into(), path: String::new() },
        ] {
            assert_eq!(Change::parse(&c.to_wire()), Some(c));
        }
        assert_eq!(Change::parse("kv:no-path-separator"), None);
        assert_eq!(Change::parse("nope"), None);
    }
}

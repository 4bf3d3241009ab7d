//! The keyring: numbered key-encryption-key terms, serialised for storage under the root key.

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::crypto::{Key, KEY_LEN};

pub mod crash;

/// One KEK term.
#[derive(Clone)]
pub struct Term {
    /// Term number, from 1.
    pub number: u32,
    /// The key-encryption key.
    pub key: Key,
    /// When the term was added.
    pub installed: DateTime<Utc>,
}

/// All terms: the older ones, oldest first, then the active one, which encrypts new data (held
/// apart, so a keyring cannot be without one).
#[derive(Clone)]
pub struct Keyring {
    older: Vec<Term>,
    active: Term,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring {{ terms: {}, active: {} }}", self.older.len() + 1, self.active().number)
    }
}

const ENTRY_LEN: usize = 4 + 8 + KEY_LEN;

impl Keyring {
    /// A keyring with one fresh term.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { older: Vec::new(), active: Term { number: 1, key: Key::generate(), installed: now } }
    }

    /// The term that encrypts new data.
    pub fn active(&self) -> &Term {
        &self.active
    }

    /// Every term, oldest first.
    fn terms(&self) -> impl Iterator<Item = &Term> {
        self.older.iter().chain(std::iter::once(&self.active))
    }

    /// The term with this number.
    pub fn term(&self, number: u32) -> Option<&Term> {
        self.terms().find(|t| t.number == number)
    }

    /// A copy of this keyring with one more term.
    pub fn rotated(&self, now: DateTime<Utc>) -> Self {
        let older = self.terms().cloned().collect();
        Self { older, active: Term { number: self.active().number + 1, key: Key::generate(), installed: now } }
    }

    /// Serialises as `term u32 | installed nanos i64 | key` per term.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity((self.older.len() + 1) * ENTRY_LEN));
        for t in self.terms() {
            out.extend_from_slice(&t.number.to_be_bytes());
            out.extend_from_slice(&t.installed.timestamp_nanos_opt().unwrap_or(0).to_be_bytes());
            out.extend_from_slice(t.key.expose());
        }
        out
    }

    /// Inverse of [`Keyring::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.is_empty() || b.len() % ENTRY_LEN != 0 {
            return None;
        }
        let mut terms = b
            .chunks_exact(ENTRY_LEN)
            .map(|c| {
                let number = u32::from_be_bytes(c.get(0..4)?.try_into().ok()?);
                let nanos = i64::from_be_bytes(c.get(4..12)?.try_into().ok()?);
                let key = Key::from_slice(c.get(12..)?)?;
                Some(Term { number, key, installed: DateTime::from_timestamp_nanos(nanos) })
            })
            .collect::<Option<Vec<_>>>()?;
        let active = terms.pop()?;
        Some(Self { older: terms, active })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::schedule::{Clock, SystemClock};

    #[test]
    fn round_trip_and_rotation() {
        let k = Keyring::new(SystemClock.now()).rotated(SystemClock.now());
        assert_eq!(k.active().number, 2);
        let back = Keyring::from_bytes(&k.to_bytes()).unwrap();
        assert_eq!(back.active().number, 2);
        assert!(back.term(1).unwrap().key == k.term(1).unwrap().key);
        assert!(Keyring::from_bytes(&[1, 2, 3]).is_none());
        assert!(!format!("{k:?}").contains("key:"));
    }
}

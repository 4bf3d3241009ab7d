//! The per-node state of `new_source`: where each token has been used from, by network prefix
//! (a /24 for IPv4, a /64 for IPv6; an IPv4-mapped IPv6 address counts as its IPv4 address).
//!
//! Every prefix a token is used from in its first hour of life is known. The first time this node
//! sees a token after that hour, its prefix is known too (the node cannot tell where it was used
//! before). After that, a prefix not known yet is new: it is reported once, then remembered.
//!
//! Memory is bounded: at most [`MAX_TOKENS`] tokens (the one this node saw first is forgotten
//! first; seen again, it starts over as a first sighting), [`MAX_KNOWN`] known prefixes per token
//! (a token used from more places in its first hour is marked roaming and never reported), and
//! [`MAX_REPORTED`] reported prefixes per token (the oldest is forgotten first).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

/// Most tokens tracked at once on this node.
pub const MAX_TOKENS: usize = 10_000;
/// Most prefixes known per token from its first hour.
pub const MAX_KNOWN: usize = 16;
/// Most reported prefixes remembered per token.
pub const MAX_REPORTED: usize = 16;
/// A token's first hour, in seconds.
pub const FIRST_HOUR: i64 = 3_600;

/// A network prefix: the address with its host bits cleared, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    net: IpAddr,
    len: u8,
}

impl Prefix {
    /// The /24 or /64 that `ip` is in.
    pub fn of(ip: IpAddr) -> Prefix {
        match ip {
            IpAddr::V4(v4) => Self::v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::v4(v4),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    Prefix { net: IpAddr::V6(bits.into()), len: 64 }
                }
            },
        }
    }

    fn v4(ip: std::net::Ipv4Addr) -> Prefix {
        let [a, b, c, _] = ip.octets();
        Prefix { net: IpAddr::V4([a, b, c, 0].into()), len: 24 }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// Where one token has been seen from.
#[derive(Default)]
struct Seen {
    known: Vec<Prefix>,
    reported: VecDeque<Prefix>,
    roaming: bool,
}

#[derive(Default)]
struct Inner {
    tokens: HashMap<String, Seen>,
    order: VecDeque<String>,
}

/// The tokens this node has seen, by accessor.
#[derive(Default)]
pub struct Sources {
    inner: Mutex<Inner>,
}

/// One use of a token.
pub struct Use<'a> {
    /// The token's accessor.
    pub accessor: &'a str,
    /// When the token was made (Unix seconds).
    pub created: i64,
    /// Where the request came from.
    pub ip: IpAddr,
    /// Now (Unix seconds).
    pub now: i64,
}

impl Sources {
    /// Records a use; `Some(prefix)` when the prefix is new for this token (once per prefix).
    pub fn sighting(&self, u: &Use<'_>) -> Option<Prefix> {
        let prefix = Prefix::of(u.ip);
        let first_hour = u.now.saturating_sub(u.created) < FIRST_HOUR;
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(seen) = inner.tokens.get_mut(u.accessor) else {
            if inner.tokens.len() >= MAX_TOKENS {
                if let Some(oldest) = inner.order.pop_front() {
                    inner.tokens.remove(&oldest);
                }
            }
            inner.order.push_back(u.accessor.to_string());
            inner.tokens.insert(u.accessor.to_string(), Seen { known: vec![prefix], ..Seen::default() });
            return None;
        };
        if seen.known.contains(&prefix) || seen.reported.contains(&prefix) {
            return None;
        }
        if first_hour {
            if seen.known.len() < MAX_KNOWN {
                seen.known.push(prefix);
            } else {
                seen.roaming = true;
            }
            return None;
        }
        if seen.roaming {
            return None;
        }
        if seen.reported.len() >= MAX_REPORTED {
            seen.reported.pop_front();
        }
        seen.reported.push_back(prefix);
        Some(prefix)
    }

    /// Forgets every token (at seal).
    pub fn clear(&self) {
        *self.inner.lock().unwrap_or_else(PoisonError::into_inner) = Inner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'a>(accessor: &'a str, ip: &str, now: i64) -> Use<'a> {
        Use { accessor, created: 0, ip: ip.parse().unwrap(), now }
    }

    #[test]
    fn prefixes_are_slash_24_and_slash_64() {
        assert_eq!(Prefix::of("10.1.2.3".parse().unwrap()).to_string(), "10.1.2.0/24");
        assert_eq!(Prefix::of("::ffff:10.1.2.3".parse().unwrap()).to_string(), "10.1.2.0/24");
        assert_eq!(Prefix::of("2001:db8:1:2:3:4:5:6".parse().unwrap()).to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn a_prefix_not_seen_in_the_first_hour_is_new_once() {
        let s = Sources::default();
        assert_eq!(s.sighting(&at("t", "10.0.0.1", 10)), None);
        assert_eq!(s.sighting(&at("t", "10.0.1.1", 20)), None, "first hour: known");
        assert_eq!(s.sighting(&at("t", "10.0.0.9", 4000)), None, "same /24");
        assert_eq!(s.sighting(&at("t", "10.0.1.9", 4000)), None);
        assert_eq!(s.sighting(&at("t", "10.0.2.1", 4000)).unwrap().to_string(), "10.0.2.0/24");
        assert_eq!(s.sighting(&at("t", "10.0.2.2", 4001)), None, "once per prefix");
        // First sighting after the first hour: known.
        assert_eq!(s.sighting(&at("u", "10.9.9.9", 9000)), None);
        assert!(s.sighting(&at("u", "10.9.8.9", 9001)).is_some());
    }

    #[test]
    fn memory_is_bounded_and_roaming_tokens_are_quiet() {
        let s = Sources::default();
        for i in 0..=MAX_KNOWN {
            s.sighting(&at("r", &format!("10.0.{i}.1"), 10));
        }
        assert_eq!(s.sighting(&at("r", "10.200.0.1", 5000)), None, "roaming");
        for i in 0..(MAX_TOKENS + 5) {
            s.sighting(&at(&format!("t{i}"), "10.0.0.1", 10));
        }
        let inner = s.inner.lock().unwrap();
        assert_eq!((inner.tokens.len(), inner.order.len()), (MAX_TOKENS, MAX_TOKENS));
    }
}

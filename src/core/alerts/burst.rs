//! The per-node state of one burst rule (`denied_burst`, `read_burst`): a window per identity.
//!
//! A window opens at an identity's first event and lasts the rule's `window`; the event that
//! takes the count past `threshold` fires (event threshold+1), and the identity's window then
//! fires no more. The first event after the window has ended opens a new one. `read_burst` counts
//! distinct paths (kept as 64-bit keyed hashes, dropped once the window fired); the last few paths
//! are kept for the alert.
//!
//! Memory is bounded per rule: at most [`MAX_IDENTITIES`] windows and [`MAX_HELD`] path hashes.
//! At either bound, ended windows are dropped first, then the window that opened first: under
//! that pressure an identity's count may start again (docs/decisions.md, D181).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

/// Most identities one rule tracks at once.
pub const MAX_IDENTITIES: usize = 4_096;
/// Most distinct-path hashes one `read_burst` rule holds at once.
pub const MAX_HELD: usize = 262_144;
/// Paths an alert lists (the latest ones of the window).
pub const PATHS_SHOWN: usize = 10;

/// One identity's window.
struct Window {
    start_ms: i64,
    count: u64,
    seen: HashSet<u64>,
    paths: VecDeque<String>,
    fired: bool,
}

impl Window {
    fn new(start_ms: i64) -> Self {
        Window { start_ms, count: 0, seen: HashSet::new(), paths: VecDeque::new(), fired: false }
    }
}

/// What fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// Events (or distinct paths) in the window, the firing one included.
    pub count: u64,
    /// The latest paths of the window, oldest first (at most [`PATHS_SHOWN`]).
    pub paths: Vec<String>,
    /// When the window opened (Unix ms).
    pub since_ms: i64,
}

/// One event to count.
pub struct Event<'a> {
    /// The identity's key.
    pub key: &'a str,
    /// The request path.
    pub path: &'a str,
    /// Count distinct paths (`read_burst`) instead of events.
    pub distinct: bool,
    /// Now (Unix ms).
    pub now_ms: i64,
}

/// The windows of one rule.
pub struct Bursts {
    threshold: u64,
    window_ms: i64,
    inner: Mutex<Inner>,
    hasher: RandomState,
}

#[derive(Default)]
struct Inner {
    windows: HashMap<String, Window>,
    held: usize,
}

impl Inner {
    /// Makes room for one more identity or hash: ended windows go first, then the oldest one.
    fn make_room(&mut self, window_ms: i64, now_ms: i64, new_identity: bool) {
        let full = |i: &Inner| (new_identity && i.windows.len() >= MAX_IDENTITIES) || i.held >= MAX_HELD;
        if !full(self) {
            return;
        }
        let mut freed = 0;
        self.windows.retain(|_, w| {
            let keep = now_ms < w.start_ms.saturating_add(window_ms);
            if !keep {
                freed += w.seen.len();
            }
            keep
        });
        self.held -= freed.min(self.held);
        while full(self) {
            let Some(oldest) = self.windows.iter().min_by_key(|(_, w)| w.start_ms).map(|(k, _)| k.clone()) else {
                return;
            };
            if let Some(w) = self.windows.remove(&oldest) {
                self.held -= w.seen.len().min(self.held);
            }
        }
    }
}

impl Bursts {
    /// The state of a rule with this threshold and window (seconds).
    pub fn new(threshold: u64, window_secs: u64) -> Self {
        let window_ms = i64::try_from(window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Bursts { threshold, window_ms, inner: Mutex::new(Inner::default()), hasher: RandomState::new() }
    }

    /// Counts one event; `Some` when it is the one that fires.
    pub fn hit(&self, e: &Event<'_>) -> Option<Fired> {
        let hash = e.distinct.then(|| self.hasher.hash_one(e.path));
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let known = inner.windows.contains_key(e.key);
        inner.make_room(self.window_ms, e.now_ms, !known);
        let Inner { windows, held } = &mut *inner;
        let w = windows.entry(e.key.to_string()).or_insert_with(|| Window::new(e.now_ms));
        if e.now_ms >= w.start_ms.saturating_add(self.window_ms) || e.now_ms < w.start_ms {
            *held -= w.seen.len().min(*held);
            *w = Window::new(e.now_ms);
        }
        if w.fired {
            return None;
        }
        match hash {
            Some(h) => {
                if !w.seen.insert(h) {
                    return None;
                }
                *held += 1;
                w.count = u64::try_from(w.seen.len()).unwrap_or(u64::MAX);
            }
            None => w.count += 1,
        }
        if w.paths.len() >= PATHS_SHOWN {
            w.paths.pop_front();
        }
        w.paths.push_back(e.path.to_string());
        if w.count <= self.threshold {
            return None;
        }
        w.fired = true;
        *held -= w.seen.len().min(*held);
        w.seen = HashSet::new();
        Some(Fired { count: w.count, paths: w.paths.iter().cloned().collect(), since_ms: w.start_ms })
    }

    /// Identities tracked now (for tests).
    pub fn tracked(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(key: &'a str, path: &'a str, distinct: bool, now_ms: i64) -> Event<'a> {
        Event { key, path, distinct, now_ms }
    }

    #[test]
    fn fires_once_at_threshold_plus_one_per_window() {
        let b = Bursts::new(3, 60);
        for i in 0..3 {
            assert_eq!(b.hit(&ev("a", "p", false, i)), None, "event {}", i + 1);
        }
        let fired = b.hit(&ev("a", "p", false, 10)).unwrap();
        assert_eq!((fired.count, fired.since_ms, fired.paths.len()), (4, 0, 4));
        assert_eq!(b.hit(&ev("a", "p", false, 20)), None, "once per window");
        assert_eq!(b.hit(&ev("b", "p", false, 20)), None, "another identity counts apart");
        // A new window opens with the first event after the last one ended.
        for i in 0..3 {
            assert_eq!(b.hit(&ev("a", "p", false, 60_000 + i)), None);
        }
        assert!(b.hit(&ev("a", "p", false, 60_010)).is_some());
    }

    #[test]
    fn distinct_paths_count_once_each() {
        let b = Bursts::new(2, 60);
        assert_eq!(b.hit(&ev("a", "x", true, 0)), None);
        assert_eq!(b.hit(&ev("a", "x", true, 1)), None, "the same path again");
        assert_eq!(b.hit(&ev("a", "y", true, 2)), None);
        let fired = b.hit(&ev("a", "z", true, 3)).unwrap();
        assert_eq!((fired.count, fired.paths), (3, vec!["x".to_string(), "y".into(), "z".into()]));
    }

    #[test]
    fn memory_is_bounded_by_identities_and_held_hashes() {
        let b = Bursts::new(crate::core::alerts::rules::MAX_THRESHOLD, 3600);
        for i in 0..(MAX_IDENTITIES + 10) {
            b.hit(&ev(&format!("id{i}"), "p", true, 0));
        }
        assert_eq!(b.tracked(), MAX_IDENTITIES);
        let inner = b.inner.lock().unwrap();
        assert!(inner.held <= MAX_HELD);
    }
}

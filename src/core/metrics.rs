//! This node's metrics: the counters and histograms the request path and the workers feed, and
//! the scrape that gathers them with the gauges other parts of the core hold
//! (`sys/metrics?format=prometheus`).

mod gather;

pub use gather::{gather, to_json, to_text, Family, Series};

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::base::metrics::{Counter, Histogram};
use crate::store::timed::Timings;

/// The HTTP methods requests are counted by; anything else is `other`.
pub const METHODS: [&str; 8] = ["GET", "HEAD", "LIST", "POST", "PUT", "PATCH", "DELETE", "other"];

/// Status classes (`1xx` … `5xx`).
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The mount type of requests that reach no mount (unknown paths, a sealed node, the edge's
/// refusals).
pub const NO_MOUNT: &str = "none";

/// The mount type label of the AWS Secrets Manager API's requests.
pub const AWS: &str = "aws";

/// How rotations end (and start), as `coffer_rotations_total{outcome}` counts them.
pub const ROTATION_OUTCOMES: [&str; 5] = ["started", "succeeded", "failed", "stopped", "abandoned"];

/// The change feed's state on a store shared by several nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// No feed (a single-node store) or not subscribed yet.
    None = 0,
    /// Subscribed: other nodes' changes arrive.
    Connected = 1,
    /// Lost: other nodes' changes go unheard until it subscribes again.
    Lost = 2,
}

/// The metrics this node keeps.
pub struct Metrics {
    /// Mount types (the registry's, then `aws` and `none`): the bounded `mount_type` label.
    kinds: Vec<&'static str>,
    /// `[method][kind][class]`, flattened.
    requests: Box<[Histogram]>,
    pub(crate) tokens_valid: Counter,
    pub(crate) tokens_invalid: Counter,
    pub(crate) denials: Counter,
    pub(crate) rotations: [Counter; 5],
    pub(crate) store: OnceLock<Arc<Timings>>,
    feed: AtomicU8,
    unauthenticated: AtomicBool,
}

impl Metrics {
    /// Empty metrics for the mount types `kinds` (each kept once, in order).
    pub fn new(kinds: impl IntoIterator<Item = &'static str>) -> Self {
        let mut all: Vec<&'static str> = Vec::new();
        for k in kinds.into_iter().chain([AWS, NO_MOUNT]) {
            if !all.contains(&k) {
                all.push(k);
            }
        }
        let n = METHODS.len() * all.len() * CLASSES.len();
        Metrics {
            requests: (0..n).map(|_| Histogram::default()).collect(),
            kinds: all,
            tokens_valid: Counter::default(),
            tokens_invalid: Counter::default(),
            denials: Counter::default(),
            rotations: Default::default(),
            store: OnceLock::new(),
            feed: AtomicU8::new(Feed::None as u8),
            unauthenticated: AtomicBool::new(false),
        }
    }

    fn index(&self, method: &str, kind: &str, status: u16) -> usize {
        let m = METHODS.iter().position(|x| *x == method).unwrap_or(METHODS.len() - 1);
        let k = self.kinds.iter().position(|x| *x == kind).unwrap_or(self.kinds.len() - 1);
        let c = usize::from(status / 100).clamp(1, 5) - 1;
        (m * self.kinds.len() + k) * CLASSES.len() + c
    }

    /// The label of a mount type: the registry's own string, `none` for one it does not know.
    pub fn kind(&self, kind: &str) -> &'static str {
        self.kinds.iter().copied().find(|k| *k == kind).unwrap_or(NO_MOUNT)
    }

    /// Records one answered request. `kind` outside the known types counts as `none`.
    pub fn request(&self, method: &str, kind: &str, status: u16, took: Duration) {
        if let Some(h) = self.requests.get(self.index(method, kind, status)) {
            h.observe(took);
        }
    }

    /// A token check in the request pipeline.
    pub fn token_checked(&self, valid: bool) {
        if valid { &self.tokens_valid } else { &self.tokens_invalid }.inc();
    }

    /// A request (or an engine's check for a caller) refused by policy.
    pub fn denied(&self) {
        self.denials.inc();
    }

    /// A system event the core records; rotation events are counted by outcome.
    pub fn event(&self, kind: &str) {
        let Some(outcome) = kind.strip_prefix("rotation.") else { return };
        if let Some(i) = ROTATION_OUTCOMES.iter().position(|o| *o == outcome) {
            if let Some(c) = self.rotations.get(i) {
                c.inc();
            }
        }
    }

    /// Where the store's call timings are kept (set once, when the server builds the store).
    pub fn time_store(&self, timings: Arc<Timings>) {
        let _ = self.store.set(timings);
    }

    /// The change feed's state.
    pub fn set_feed(&self, state: Feed) {
        self.feed.store(state as u8, Relaxed);
    }

    /// The change feed's state, as the gauge shows it.
    pub fn feed(&self) -> Feed {
        match self.feed.load(Relaxed) {
            1 => Feed::Connected,
            2 => Feed::Lost,
            _ => Feed::None,
        }
    }

    /// `[telemetry] unauthenticated_metrics_access`.
    pub fn set_unauthenticated(&self, open: bool) {
        self.unauthenticated.store(open, Relaxed);
    }

    /// Whether `sys/metrics` is served without a token.
    pub fn is_unauthenticated(&self) -> bool {
        self.unauthenticated.load(Relaxed)
    }

    /// Every request series with at least one observation: (method, mount type, class, histogram).
    pub(crate) fn request_series(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'static str, &'static str, &Histogram)> {
        let kinds = self.kinds.len();
        self.requests.iter().enumerate().filter(|(_, h)| h.count() > 0).filter_map(move |(i, h)| {
            let c = i % CLASSES.len();
            let k = (i / CLASSES.len()) % kinds;
            let m = i / CLASSES.len() / kinds;
            Some((*METHODS.get(m)?, *self.kinds.get(k)?, *CLASSES.get(c)?, h))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_in_their_bounded_sets() {
        let m = Metrics::new(["kv", "system", "kv"]);
        m.request("GET", "kv", 200, Duration::from_millis(1));
        m.request("BREW", "made-up", 999, Duration::from_millis(1));
        m.request("DELETE", "system", 0, Duration::from_millis(1));
        let seen: Vec<_> = m.request_series().map(|(a, b, c, h)| (a, b, c, h.count())).collect();
        assert_eq!(seen, [("GET", "kv", "2xx", 1), ("DELETE", "system", "1xx", 1), ("other", "none", "5xx", 1)]);
    }

    #[test]
    fn rotation_events_count_by_outcome_and_others_are_ignored() {
        let m = Metrics::new([]);
        m.event("rotation.failed");
        m.event("rotation.failed");
        m.event("rotation.bogus");
        m.event("seal");
        assert_eq!(m.rotations.get(2).map(Counter::get), Some(2));
        assert_eq!(m.rotations.iter().map(Counter::get).sum::<u64>(), 2);
    }
}

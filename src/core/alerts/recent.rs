//! The alerts this node raised lately, for `GET sys/alerts`: a bounded list in memory (the oldest
//! goes first), paged by id, oldest first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

/// Alerts kept.
pub const CAPACITY: usize = 1_000;

/// One page of the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Alerts with an id above `after`, oldest first.
    pub alerts: Vec<Arc<Value>>,
    /// Whether more follow the last one.
    pub more: bool,
    /// The id of the oldest alert still kept (0: none); an `after` below it minus one means some
    /// were dropped from the list meanwhile.
    pub oldest: u64,
}

/// The list: `(id, alert)` in ascending id order, and the last id given.
#[derive(Default)]
pub struct Recent {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    list: VecDeque<(u64, Arc<Value>)>,
    last: u64,
}

impl Recent {
    /// Adds the alert `make` builds with the next id (1, 2, …: per node, from its start), so
    /// that the list stays in id order.
    pub fn add(&self, make: impl FnOnce(u64) -> Value) -> (u64, Arc<Value>) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.last += 1;
        let id = inner.last;
        let alert = Arc::new(make(id));
        if inner.list.len() >= CAPACITY {
            inner.list.pop_front();
        }
        inner.list.push_back((id, alert.clone()));
        (id, alert)
    }

    /// Up to `limit` alerts with an id above `after`, oldest first.
    pub fn page(&self, after: u64, limit: usize) -> Page {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let list = &inner.list;
        let from = list.partition_point(|(id, _)| *id <= after);
        let alerts: Vec<Arc<Value>> = list.iter().skip(from).take(limit).map(|(_, a)| a.clone()).collect();
        let more = list.len().saturating_sub(from) > alerts.len();
        Page { alerts, more, oldest: list.front().map_or(0, |(id, _)| *id) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_oldest_first_after_an_id_and_drops_the_oldest_when_full() {
        let r = Recent::default();
        for _ in 1..=5 {
            r.add(|id| serde_json::json!({ "id": id }));
        }
        let p = r.page(0, 2);
        assert_eq!(p.alerts.iter().map(|a| a["id"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2]);
        assert!(p.more);
        let p = r.page(4, 2);
        assert_eq!((p.alerts.len(), p.more, p.oldest), (1, false, 1));
        assert!(r.page(5, 10).alerts.is_empty());
        for _ in 0..CAPACITY {
            r.add(|id| serde_json::json!({ "id": id }));
        }
        assert_eq!(r.page(0, 1).oldest, 6);
    }
}

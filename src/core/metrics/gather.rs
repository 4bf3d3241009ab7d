//! One scrape: every metric family of this node gathered into plain data, and its two renderings
//! (Prometheus text, and the minimal JSON of Vault's `sys/metrics` without `format`).

use serde_json::{json, Value};

use crate::base::metrics::{Exposition, Histogram, Snapshot};
use crate::core::Core;

/// One sample's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Series {
    /// A counter's or gauge's value.
    Value(f64),
    /// A latency histogram.
    Histogram(Snapshot),
}

/// A metric family: one name, one type, its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// `coffer_…` (counters end in `_total`).
    pub name: &'static str,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Labels (from bounded sets) and value of each sample.
    pub samples: Vec<(Vec<(&'static str, &'static str)>, Series)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Family { name, kind, help, samples: Vec::new() }
    }

    fn with(mut self, labels: &[(&'static str, &'static str)], v: Series) -> Self {
        self.samples.push((labels.to_vec(), v));
        self
    }

    fn value(self, labels: &[(&'static str, &'static str)], v: impl Into<Count>) -> Self {
        self.with(labels, Series::Value(v.into().0))
    }
}

/// A count or gauge value, from the integer types the core keeps.
struct Count(f64);

macro_rules! count_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Count {
            fn from(n: $t) -> Self {
                // Counts stay far below 2^53; the cast is the exposition's own precision.
                #[allow(clippy::cast_precision_loss)]
                let v = n as f64;
                Count(v)
            }
        }
    )*};
}
count_from!(u64, i64, usize);

impl From<bool> for Count {
    fn from(b: bool) -> Self {
        Count(if b { 1.0 } else { 0.0 })
    }
}

impl From<f64> for Count {
    fn from(v: f64) -> Self {
        Count(v)
    }
}

fn hist(h: &Histogram) -> Series {
    Series::Histogram(h.snapshot())
}

/// Everything this node measures, now.
pub async fn gather(core: &Core) -> Vec<Family> {
    let m = &core.metrics;
    let mut out = Vec::new();

    let mut requests = Family::new(
        "coffer_request_duration_seconds",
        "histogram",
        "Requests answered, by HTTP method, mount type and status class, and how long they took.",
    );
    for (method, kind, class, h) in m.request_series() {
        requests = requests.with(&[("method", method), ("mount_type", kind), ("status", class)], hist(h));
    }
    out.push(requests);

    out.push(
        Family::new("coffer_token_checks_total", "counter", "Token checks of the request pipeline, by result.")
            .value(&[("result", "valid")], m.tokens_valid.get())
            .value(&[("result", "invalid")], m.tokens_invalid.get()),
    );
    out.push(
        Family::new("coffer_policy_denials_total", "counter", "Requests and engine checks refused by policy (403).")
            .value(&[], m.denials.get()),
    );

    let sealed = core.barrier.is_sealed();
    out.push(Family::new("coffer_sealed", "gauge", "1 while this node is sealed.").value(&[], sealed));
    let fence = core.leader.load_full();
    out.push(
        Family::new("coffer_leader", "gauge", "1 while this node holds the leader lease.").value(&[], fence.is_some()),
    );
    out.push(
        Family::new(
            "coffer_leader_epoch",
            "gauge",
            "The epoch of the leader lease this node holds (0 when it holds none).",
        )
        .value(&[], fence.as_ref().map_or(0, |f| f.epoch)),
    );

    if !sealed {
        if let Ok((all, failing)) = core.store.secret_lease_counts().await {
            out.push(
                Family::new(
                    "coffer_leases",
                    "gauge",
                    "Secret leases by state (irrevocable: revocation failed, retried).",
                )
                .value(&[("state", "active")], (all - failing).max(0))
                .value(&[("state", "irrevocable")], failing),
            );
        }
    }

    let mut rotations = Family::new("coffer_rotations_total", "counter", "Rotations started and ended, by outcome.");
    for (outcome, c) in super::ROTATION_OUTCOMES.iter().zip(&m.rotations) {
        rotations = rotations.value(&[("outcome", outcome)], c.get());
    }
    out.push(rotations);

    let devices = core.audit.active();
    out.push(Family::new("coffer_audit_devices", "gauge", "Audit devices enabled.").value(&[], devices.len()));
    out.push(
        Family::new(
            "coffer_audit_devices_failing",
            "gauge",
            "Audit devices that could not start or whose last write failed.",
        )
        .value(&[], devices.iter().filter(|d| d.problem().is_some()).count()),
    );
    out.push(
        Family::new(
            "coffer_audit_failures_total",
            "counter",
            "Audit entries no device took or confirmed in time (the request was refused).",
        )
        .value(&[], core.audit.failures()),
    );
    out.push(
        Family::new("coffer_audit_queue_depth", "gauge", "Audit entries waiting in the devices' queues.")
            .value(&[], core.audit.queue_depth()),
    );

    if let Some(timings) = m.store.get() {
        let mut store =
            Family::new("coffer_store_duration_seconds", "histogram", "Calls into the database, by operation.");
        for op in crate::store::timed::Op::ALL {
            if let Some(h) = timings.of(op).filter(|h| h.count() > 0) {
                store = store.with(&[("op", op.as_str())], hist(h));
            }
        }
        out.push(store);
    }

    {
        // Always present (zeros with the cache off), so dashboards need not know the setting.
        let n = core.kv_cache.load_full().map(|c| c.counts()).unwrap_or_default();
        let total = n.hits + n.misses;
        let ratio = if total == 0 { 0.0 } else { Count::from(n.hits).0 / Count::from(total).0 };
        out.push(
            Family::new("coffer_cache_hits_total", "counter", "KV reads answered from the cache.").value(&[], n.hits),
        );
        out.push(
            Family::new("coffer_cache_misses_total", "counter", "KV reads that went to the store.")
                .value(&[], n.misses),
        );
        out.push(
            Family::new(
                "coffer_cache_hit_ratio",
                "gauge",
                "Cache hits over all cached-path KV reads since start (0 with the cache off).",
            )
            .value(&[], ratio),
        );
        out.push(Family::new("coffer_cache_bytes", "gauge", "Bytes held by the KV cache.").value(&[], n.bytes));
        out.push(Family::new("coffer_cache_entries", "gauge", "Secrets held by the KV cache.").value(&[], n.entries));
    }

    if core.store.bus().is_some() {
        out.push(
            Family::new(
                "coffer_change_feed_connected",
                "gauge",
                "1 while this node hears the other nodes' changes (PostgreSQL LISTEN).",
            )
            .value(&[], m.feed() == super::Feed::Connected),
        );
    }

    let mut fired = Family::new("coffer_alerts_fired_total", "counter", "Alerts fired on this node, by kind.");
    for (kind, n) in core.alerts.fired_counts() {
        fired = fired.value(&[("kind", kind)], n);
    }
    out.push(fired);
    out.push(
        Family::new(
            "coffer_alerts_suppressed_total",
            "counter",
            "Alerts held back by their rule's rate limit (each minute's summary counts them).",
        )
        .value(&[], core.alerts.suppressed_count()),
    );
    let d = core.alerts.delivery_counts();
    out.push(
        Family::new("coffer_alert_webhooks_total", "counter", "Alert webhook deliveries, by result.")
            .value(&[("result", "sent")], d.sent)
            .value(&[("result", "failed")], d.failed)
            .value(&[("result", "overflow")], d.overflow),
    );

    let (queued, capacity) = core.hashing.depth();
    out.push(
        Family::new("coffer_argon2_queue_depth", "gauge", "Password hashes running or waiting.").value(&[], queued),
    );
    out.push(
        Family::new("coffer_argon2_queue_capacity", "gauge", "Most password hashes that may run or wait at once.")
            .value(&[], capacity),
    );
    out
}

/// The families in the Prometheus text format.
pub fn to_text(families: &[Family]) -> String {
    let mut e = Exposition::default();
    for f in families {
        e.family(f.name, f.kind, f.help);
        for (labels, v) in &f.samples {
            match v {
                Series::Value(x) => e.sample(f.name, labels, *x),
                Series::Histogram(h) => e.histogram(f.name, labels, h),
            }
        }
    }
    e.finish()
}

/// The families as Vault's minimal JSON (`Gauges`, `Counters`, `Samples`).
pub fn to_json(families: &[Family], now: &str) -> Value {
    let (mut gauges, mut counters, mut samples) = (Vec::new(), Vec::new(), Vec::new());
    for f in families {
        for (labels, v) in &f.samples {
            let labels: serde_json::Map<String, Value> =
                labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            match v {
                Series::Value(x) if f.kind == "counter" => {
                    counters.push(json!({"Name": f.name, "Count": x, "Sum": x, "Labels": labels}))
                }
                Series::Value(x) => gauges.push(json!({"Name": f.name, "Value": x, "Labels": labels})),
                Series::Histogram(h) => samples.push(json!({
                    "Name": f.name, "Count": h.count, "Sum": h.sum_seconds, "Labels": labels,
                })),
            }
        }
    }
    json!({"Timestamp": now, "Gauges": gauges, "Counters": counters, "Samples": samples, "Points": []})
}

//! Metric primitives (lock-free counters and latency histograms) and the Prometheus text
//! exposition format they are rendered in.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Upper bounds of the latency buckets, in microseconds (100 µs to 10 s).
pub const BUCKETS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// A latency histogram over [`BUCKETS_US`] (plus `+Inf`).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket, not cumulative; the last is `+Inf`.
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

/// What a histogram holds at one moment, buckets cumulative as Prometheus wants them.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Observations at or below each bound of [`BUCKETS_US`], then the total (`+Inf`).
    pub cumulative: Vec<u64>,
    /// Sum of all observations, in seconds.
    pub sum_seconds: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BUCKETS_US.iter().position(|b| us <= *b).unwrap_or(BUCKETS_US.len());
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Relaxed);
        }
        self.sum_us.fetch_add(us, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The buckets, cumulative.
    pub fn snapshot(&self) -> Snapshot {
        let mut running = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                running += b.load(Relaxed);
                running
            })
            .collect();
        let sum_us = self.sum_us.load(Relaxed);
        Snapshot { cumulative, sum_seconds: micros_to_seconds(sum_us), count: running }
    }
}

fn micros_to_seconds(us: u64) -> f64 {
    // Exact below 2^53 µs (285 years); the cast is the documented way to get there.
    #[allow(clippy::cast_precision_loss)]
    let s = us as f64 / 1e6;
    s
}

/// Writes metric families in the Prometheus text format (version 0.0.4).
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// One sample's labels: fixed names, values from a bounded set (never a path below a mount, a
/// token or free text).
pub type Labels<'a> = &'a [(&'a str, &'a str)];

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: Labels<'_>, value: f64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", number(value));
    }

    /// One sample with an integer value.
    pub fn sample_u64(&mut self, name: &str, labels: Labels<'_>, value: u64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    /// The `_bucket`, `_sum` and `_count` samples of one histogram series.
    pub fn histogram(&mut self, name: &str, labels: Labels<'_>, h: &Snapshot) {
        for (i, n) in h.cumulative.iter().enumerate() {
            let le = match BUCKETS_US.get(i) {
                Some(us) => number(micros_to_seconds(*us)),
                None => "+Inf".to_string(),
            };
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(&le));
            let _ = writeln!(self.out, " {n}");
        }
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", number(h.sum_seconds));
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", h.count);
    }

    fn labels(&mut self, labels: Labels<'_>, le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.out.push(',');
            }
            first = false;
            let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            let _ = write!(self.out, "{k}=\"{v}\"");
        }
        self.out.push('}');
    }

    /// The text, ready to serve as `text/plain; version=0.0.4`.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A float as Prometheus writes it: integers without a fraction, others in Rust's shortest form.
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_sum_in_seconds() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.cumulative.first(), Some(&1));
        assert_eq!(s.cumulative.get(2), Some(&2), "300 µs is in the 500 µs bucket");
        assert_eq!(s.cumulative.last(), Some(&3));
        assert!((s.sum_seconds - 60.00035).abs() < 1e-9);
    }

    #[test]
    fn exposition_escapes_label_values_and_writes_le_last() {
        let mut e = Exposition::default();
        e.family("coffer_x", "counter", "A test.\nSecond line");
        e.sample_u64("coffer_x_total", &[("a", "q\"u\\o\nte")], 3);
        let h = Histogram::default();
        h.observe(Duration::from_millis(1));
        e.histogram("coffer_h", &[("m", "GET")], &h.snapshot());
        let text = e.finish();
        assert!(text.contains("# HELP coffer_x A test.\\nSecond line\n"));
        assert!(text.contains("coffer_x_total{a=\"q\\\"u\\\\o\\nte\"} 3\n"));
        assert!(text.contains("coffer_h_bucket{m=\"GET\",le=\"0.001\"} 1\n"));
        assert!(text.contains("coffer_h_bucket{m=\"GET\",le=\"0.0005\"} 0\n"));
        assert!(text.contains("coffer_h_bucket{m=\"GET\",le=\"+Inf\"} 1\n"));
        assert!(text.contains("coffer_h_sum{m=\"GET\"} 0.001\n"));
        assert!(text.contains("coffer_h_count{m=\"GET\"} 1\n"));
    }

    #[test]
    fn numbers_are_written_as_prometheus_reads_them() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
    }
}

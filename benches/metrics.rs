//! Criterion benchmark of what the metrics add to one request: recording it in the request
//! histograms, and one store call's timing, next to a whole scrape's text rendering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::time::Duration;

use coffer::base::metrics::Histogram;
use coffer::core::metrics::Metrics;
use criterion::{criterion_group, criterion_main, Criterion};

fn metrics(c: &mut Criterion) {
    let kinds = ["system", "token", "cubbyhole", "kv", "database", "approle", "userpass", "jwt"];
    let m = Metrics::new(kinds);
    c.bench_function("record one request", |b| {
        b.iter(|| m.request(std::hint::black_box("GET"), std::hint::black_box("kv"), 200, Duration::from_micros(180)))
    });
    let h = Histogram::default();
    c.bench_function("observe one store call", |b| {
        b.iter(|| h.observe(std::hint::black_box(Duration::from_micros(40))))
    });
    for method in ["GET", "POST", "DELETE"] {
        for kind in kinds {
            for status in [200, 204, 403, 404, 500] {
                m.request(method, kind, status, Duration::from_micros(300));
            }
        }
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let core = rt.block_on(async {
        let store = coffer::store::open("sqlite::memory:").await.unwrap();
        coffer::core::Core::new(
            store,
            coffer::core::seal::SealKind::Shamir,
            Default::default(),
            64,
            coffer::server::registry::builtin(),
        )
    });
    c.bench_function("scrape: gather and render (sealed node, 120 request series)", |b| {
        b.iter(|| {
            let families = rt.block_on(coffer::core::metrics::gather(&core));
            coffer::core::metrics::to_text(&families).len()
        })
    });
}

criterion_group!(benches, metrics);
criterion_main!(benches);

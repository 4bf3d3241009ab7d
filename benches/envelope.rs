//! Criterion benchmark of the barrier's envelope path: encrypt and decrypt a KV value with a fresh
//! DEK per value, AES-256-GCM, and the AAD that binds it to mount, path and version.
#![allow(clippy::unwrap_used)]

use coffer::base::schedule::{Clock, SystemClock};
use coffer::crypto::barrier::{Barrier, Context, Unsealed};
use coffer::crypto::keyring::Keyring;
use coffer::crypto::Key;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn envelope(c: &mut Criterion) {
    let barrier = Barrier::default();
    barrier.load(Unsealed { root_key: Key::generate(), keyring: Keyring::new(SystemClock.now()) });
    let place = Context::KvVersion { mount_id: "6223bc46-0000-4000-8000-000000000000", path: "app/db", version: 1 };
    let mut group = c.benchmark_group("envelope");
    for size in [100usize, 4096, 65536] {
        let value = vec![b'v'; size];
        let (sealed, _) = barrier.seal(place, &value).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("encrypt", size), &value, |b, v| {
            b.iter(|| barrier.seal(place, v).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("decrypt", size), &sealed, |b, s| {
            b.iter(|| barrier.open(s, place).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, envelope);
criterion_main!(benches);

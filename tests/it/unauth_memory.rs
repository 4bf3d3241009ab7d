//! SEC-28: unauthenticated traffic cannot grow memory. The real binary answers tens of thousands
//! of requests with unique bogus tokens on unique paths and its RSS ends within 10 % of where it
//! started; in process, the token cache holds only tokens found in the store and never more
//! than its bound.
// These tests stand outside the server and compare its answers with the wall clock.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use reqwest::StatusCode;
use secrecy::SecretString;

use crate::harness::{random_text, TestServer};
use crate::restart::{init, spawn, write_config};

/// Resident set size of `pid` in KiB, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Sends `n` requests, 32 at a time, each with a new bogus token on a new path (alternating KV
/// reads, writes with a small body, and LISTs on a mount that does not exist); all must be 403.
async fn bogus_requests(base: &str, n: usize, round: &str) -> usize {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let denied = Arc::new(AtomicUsize::new(0));
    stream::iter(0..n)
        .map(|i| {
            let (client, denied) = (client.clone(), denied.clone());
            let token = format!("s.{}", random_text(40));
            let unique = format!("{round}-{i}-{}", random_text(16));
            let req = match i % 3 {
                0 => client.get(format!("{base}/v1/secret/data/{unique}")),
                1 => client.post(format!("{base}/v1/secret/data/{unique}")).body(r#"{"data":{"k":"v"}}"#),
                _ => client.request(reqwest::Method::from_bytes(b"LIST").unwrap(), format!("{base}/v1/{unique}/x")),
            };
            async move {
                let r = req.header("X-Vault-Token", token).send().await.unwrap();
                if r.status() == StatusCode::FORBIDDEN {
                    denied.fetch_add(1, Ordering::Relaxed);
                }
                let _ = r.bytes().await;
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    denied.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec28_rss_stays_flat_under_unique_bogus_tokens_and_paths() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let mut p = spawn(&cfg);
    init(&p.base).await;
    let pid = p.child.id();
    // Warm up (allocator arenas, connection buffers, the lazily built parts of the router).
    assert_eq!(bogus_requests(&p.base, 3_000, "warm").await, 3_000);
    let start = rss_kib(pid);
    let started = std::time::Instant::now();
    let mut peak = start;
    for round in 0..6 {
        assert_eq!(bogus_requests(&p.base, 5_000, &format!("r{round}")).await, 5_000);
        peak = peak.max(rss_kib(pid));
    }
    let end = rss_kib(pid);
    assert!(started.elapsed() < Duration::from_secs(240), "30k requests took {:?}", started.elapsed());
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    eprintln!("RSS: start {start} KiB, peak {peak} KiB, end {end} KiB after 30k bogus requests");
    assert!(end * 10 <= start * 11, "RSS grew from {start} KiB to {end} KiB (peak {peak} KiB)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec28_token_cache_holds_only_found_tokens_and_is_bounded() {
    let s = TestServer::dev().await;
    let core = s.running.as_ref().unwrap().core.clone();
    // The root token, used once.
    let (st, _) = s.call("GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK);
    let before = core.tokens.cached_len();
    assert!(before <= 1, "{before}");
    assert_eq!(bogus_requests(&s.base, 2_000, "c").await, 2_000);
    assert_eq!(core.tokens.cached_len(), before, "bogus tokens were cached");

    // Valid tokens beyond the bound: the cache never holds more than CACHE_LIMIT.
    let now = chrono::Utc::now();
    let limit = coffer::core::tokens::CACHE_LIMIT;
    let tokens: Vec<SecretString> = (0..limit + 100).map(|_| coffer::core::tokens::TokenStore::generate()).collect();
    stream::iter(tokens.iter())
        .map(|t| {
            let core = core.clone();
            async move { core.tokens.create_root(&core.store, t, now).await.unwrap() }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    let mut most = 0;
    for t in &tokens {
        let found = core.tokens.authenticate(&core.store, Some(t), now).await;
        assert!(found.is_ok());
        most = most.max(core.tokens.cached_len());
    }
    assert!(most <= limit, "the token cache held {most} entries (bound {limit})");
    assert!(most > limit / 2, "the cache was not used ({most})");
}

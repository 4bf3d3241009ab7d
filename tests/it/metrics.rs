//! `sys/metrics`: who may scrape it, the deltas known traffic leaves, and labels that never carry
//! a path below a mount, a token or anything else a client typed.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{send, TestServer};

/// One scrape, as `name{labels}` → value (bucket lines included).
async fn scrape(s: &TestServer, token: Option<&str>) -> (StatusCode, String) {
    let req = s.request_anon("GET", "sys/metrics?format=prometheus");
    let req = match token {
        Some(t) => req.header("X-Vault-Token", t),
        None => req,
    };
    let resp = req.send().await.unwrap();
    let status = resp.status();
    if status == StatusCode::OK {
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    }
    (status, resp.text().await.unwrap())
}

fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            let v = match v {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value in {l:?}")),
            };
            (k.to_string(), v)
        })
        .collect()
}

async fn values(s: &TestServer) -> BTreeMap<String, f64> {
    let (st, text) = scrape(s, Some("root")).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    samples(&text)
}

fn get(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn known_traffic_moves_the_counters_by_exactly_its_size() {
    // A dev server that holds the leader lease (the leadership gauges are checked below).
    let s = crate::rotation::leader().await;
    s.write("secret/data/app/db", json!({"password": "hunter2"})).await;
    let reader = s.token_with_policy("reader", r#"path "secret/data/app/*" { capabilities = ["read"] }"#).await;
    let before = values(&s).await;

    for _ in 0..7 {
        let (st, _) = s.call_as(&reader, "GET", "secret/data/app/db", None).await;
        assert_eq!(st, StatusCode::OK);
    }
    for _ in 0..3 {
        let (st, _) = s.call_as(&reader, "GET", "secret/data/other", None).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
    for _ in 0..2 {
        let (st, _) = s.call_as("not-a-token", "GET", "secret/data/app/db", None).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
    let (st, _) = s.call("GET", "no-such-mount/x", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let after = values(&s).await;
    let delta = |k: &str| get(&after, k) - get(&before, k);
    let kv = |status: &str| {
        format!("coffer_request_duration_seconds_count{{method=\"GET\",mount_type=\"kv\",status=\"{status}\"}}")
    };
    assert_eq!(delta(&kv("2xx")), 7.0);
    assert_eq!(delta(&kv("4xx")), 5.0);
    assert_eq!(delta("coffer_request_duration_seconds_count{method=\"GET\",mount_type=\"none\",status=\"4xx\"}"), 1.0);
    assert_eq!(delta("coffer_policy_denials_total"), 3.0);
    assert_eq!(delta("coffer_token_checks_total{result=\"invalid\"}"), 2.0);
    // Ten good token checks (7 reads, 3 denials), the scrape before this one, the 404.
    assert_eq!(delta("coffer_token_checks_total{result=\"valid\"}"), 12.0);
    // The +Inf bucket of a histogram is its count.
    assert_eq!(
        get(
            &after,
            "coffer_request_duration_seconds_bucket{method=\"GET\",mount_type=\"kv\",status=\"2xx\",le=\"+Inf\"}"
        ),
        get(&after, &kv("2xx"))
    );
    assert!(delta("coffer_store_duration_seconds_count{op=\"token_read\"}") >= 1.0, "the reader's token was read");
    assert!(delta("coffer_cache_hits_total") >= 6.0, "repeated reads are cache hits");
    assert_eq!(get(&after, "coffer_sealed"), 0.0);
    assert_eq!(get(&after, "coffer_leader"), 1.0);
    assert!(get(&after, "coffer_leader_epoch") >= 1.0);
    for family in [
        "coffer_leases{state=\"active\"}",
        "coffer_leases{state=\"irrevocable\"}",
        "coffer_rotations_total{outcome=\"failed\"}",
        "coffer_audit_failures_total",
        "coffer_audit_queue_depth",
        "coffer_argon2_queue_depth",
        "coffer_cache_hit_ratio",
    ] {
        assert!(after.contains_key(family), "{family} missing");
    }
}

#[tokio::test]
async fn labels_never_carry_paths_tokens_or_client_text() {
    let s = TestServer::dev().await;
    let before = values(&s).await.len();
    for i in 0..40 {
        let secret_name = format!("tenant-{i}-CANARYPATH");
        s.write(&format!("secret/data/{secret_name}"), json!({"v": "CANARYVALUE"})).await;
        let _ = s.call_as(&format!("CANARYTOKEN{i}"), "GET", &format!("secret/data/{secret_name}"), None).await;
        let _ = s.call("GET", &format!("CANARYMOUNT{i}/x"), None).await;
        let r = s.request(&format!("BREW{i}"), "secret/data/x").send().await.unwrap();
        assert!(r.status().is_client_error());
    }
    let (_, text) = scrape(&s, Some("root")).await;
    for canary in ["CANARY", "tenant-", "BREW", "\"root\""] {
        assert!(!text.contains(canary), "{canary} reached the metrics");
    }
    // 160 requests to 120 distinct paths with 40 tokens and 40 methods add a handful of series,
    // not one per path, token or method.
    let after = samples(&text).len();
    assert!(after - before < 150, "{before} → {after} samples");
}

#[tokio::test]
async fn a_scrape_needs_read_on_sys_metrics_unless_the_operator_opens_it() {
    let mut s = TestServer::uninitialised().await;
    let (st, _) = scrape(&s, None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "sealed and closed: no scrape");
    let (shares, root) = s.init(1, 1).await;
    s.unseal(&shares).await;
    let (st, body) = scrape(&s, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    let kv_only = s.token_with_policy("kv", r#"path "secret/*" { capabilities = ["read"] }"#).await;
    let (st, _) = scrape(&s, Some(&kv_only)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let scraper = s.token_with_policy("scraper", r#"path "sys/metrics" { capabilities = ["read"] }"#).await;
    let (st, _) = scrape(&s, Some(&scraper)).await;
    assert_eq!(st, StatusCode::OK);

    // Spellings of the path are not another way in.
    for path in ["sys//metrics?format=prometheus", "sys/./metrics?format=prometheus", "SYS/metrics?format=prometheus"] {
        let (st, _) = s.raw_http("GET", &format!("/v1/{path}"), None, "").await;
        assert!(st == 400 || st == 403 || st == 404, "{path}: {st}");
    }
    // Bad input is named, not guessed.
    let r = send(s.request_anon("GET", "sys/metrics?format=xml").header("X-Vault-Token", &scraper)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = send(s.request_anon("GET", "sys/metrics?format=prometheus&x=1").header("X-Vault-Token", &scraper)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = send(s.request_anon("GET", "sys/metrics").header("X-Vault-Token", &scraper)).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert!(v["Gauges"].as_array().unwrap().iter().any(|g| g["Name"] == "coffer_sealed"), "{v}");
    assert!(v["Counters"].as_array().unwrap().iter().any(|g| g["Name"] == "coffer_token_checks_total"), "{v}");

    // Opened: no token needed, and the seal state is still scraped while sealed.
    s.running.as_ref().unwrap().core.metrics.set_unauthenticated(true);
    let (st, text) = scrape(&s, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(get(&samples(&text), "coffer_sealed"), 0.0);
    let (st, _) = s.call_as(&root, "PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, text) = scrape(&s, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(get(&samples(&text), "coffer_sealed"), 1.0);
    // Only the scrape is open: other paths still need a token.
    let (st, _) = s.call_as("", "GET", "sys/mounts", None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_counts_once_started_and_once_succeeded() {
    use crate::rotation::{configure_ok, leader, password_rotator, rotate, stages};
    let s = leader().await;
    s.write("secret/data/rotated", json!({"password": "p0"})).await;
    configure_ok(&s, "rotated", password_rotator()).await;
    let before = values(&s).await;
    let (st, _) = rotate(&s, "rotated").await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let succeeded = "coffer_rotations_total{outcome=\"succeeded\"}";
    let was = get(&before, succeeded);
    crate::harness::until("the rotation to be counted", std::time::Duration::from_secs(20), || async {
        get(&values(&s).await, succeeded) > was
    })
    .await;
    assert_eq!(stages(&s, "rotated").await, json!({"current": 2, "previous": 1}));
    let after = values(&s).await;
    let delta = |outcome: &str| {
        let k = format!("coffer_rotations_total{{outcome=\"{outcome}\"}}");
        get(&after, &k) - get(&before, &k)
    };
    assert_eq!((delta("started"), delta("succeeded"), delta("failed"), delta("abandoned")), (1.0, 1.0, 0.0, 0.0));
}

#[tokio::test]
async fn alerts_fired_are_counted_by_kind() {
    let s = TestServer::dev().await;
    let scraper = s.token_with_policy("scraper", r#"path "sys/metrics" { capabilities = ["read"] }"#).await;
    let scrape_as = |t: String| {
        let s = &s;
        async move {
            let (st, text) = scrape(s, Some(&t)).await;
            assert_eq!(st, StatusCode::OK);
            samples(&text)
        }
    };
    let (st, v) = s.call("PUT", "sys/alerts/rules/root-use", Some(json!({"kind": "root_token_use"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let before = scrape_as(scraper.clone()).await;
    let (st, _) = s.call("GET", "sys/mounts", None).await;
    assert_eq!(st, StatusCode::OK);
    let after = scrape_as(scraper.clone()).await;
    let k = "coffer_alerts_fired_total{kind=\"root_token_use\"}";
    assert_eq!(get(&after, k) - get(&before, k), 1.0);
    assert_eq!(get(&after, "coffer_alerts_fired_total{kind=\"denied_burst\"}"), 0.0);
    assert!(after.contains_key("coffer_alerts_suppressed_total"));
    assert!(after.contains_key("coffer_alert_webhooks_total{result=\"sent\"}"));
}

//! Criterion benchmark of the per-request identity work: resolving a token (cached HMAC look-up),
//! fetching its merged ACL, and authorising a KV read against a realistic policy set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer::base::logical::Operation;
use coffer::core::seal::SealKind;
use coffer::server::http::{Limits, Listener};
use criterion::{criterion_group, criterion_main, Criterion};
use secrecy::SecretString;
use serde_json::Map;

fn authz(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (core, token) = rt.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = coffer::store::open(&url).await.unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let limits = Limits { max_request_size: 1 << 20, max_json_depth: 64, ..Limits::default() };
        let running = coffer::server::start(store, SealKind::Shamir, Listener::Plain(tcp), limits).await.unwrap();
        let core = running.core.clone();
        coffer::server::setup_dev(&core, Some(SecretString::from("root".to_string()))).await.unwrap();
        // Twenty rules across two policies, the shape of a real service's grants.
        let mut text = String::new();
        for i in 0..18 {
            text.push_str(&format!("path \"secret/data/team{i}/*\" {{ capabilities = [\"read\", \"list\"] }}\n"));
        }
        text.push_str("path \"secret/data/app/+/config\" { capabilities = [\"read\"] }\n");
        text.push_str("path \"secret/data/app/*\" { capabilities = [\"read\", \"update\"] }\n");
        core.policies.write(&core.store, "app", &text).await.unwrap();
        let t = coffer::core::tokens::NewToken {
            policies: vec!["app".into(), "default".into()],
            ttl: 3600,
            renewable: true,
            path: "auth/token/create".into(),
            ..Default::default()
        };
        let (token, _) = core.tokens.create(&core.store, t, core.clock.now()).await.unwrap();
        std::mem::forget(running);
        (core, token)
    });
    let data = Map::new();
    c.bench_function("token lookup + ACL check (KV read)", |b| {
        b.to_async(&rt).iter(|| async {
            let now = core.clock.now();
            let entry = core.tokens.authenticate(&core.store, Some(&token), now).await.unwrap();
            let acl = core.policies.acl_for(&core.store, &entry).await.unwrap();
            acl.authorize("secret/data/app/svc/config", Operation::Read, &data).unwrap()
        })
    });
}

criterion_group!(benches, authz);
criterion_main!(benches);

//! `coffer agent`, the sidecar: logs in with what the workload has (auto-auth), keeps the token
//! renewed and written to its sinks, renders templates to files, and serves a local API proxy
//! with a per-caller cache. It lives in the server layer (it uses hyper/axum for the proxy); it
//! has its own small HTTP client because the server layer may not import the CLI's.

pub mod auth;
mod aws_credentials;
mod aws_login;
pub mod cache;
pub mod client;
pub mod config;
pub mod lifetime;
pub mod proxy;
pub mod render;
pub mod renewer;

use std::path::Path;
use std::sync::Arc;

use reqwest::Method;
use tokio::sync::watch;

/// Runs the agent until SIGTERM or SIGINT; answers the exit code.
pub async fn run(config: &Path) -> i32 {
    let shutdown = crate::server::process::shutdown_signal();
    let cfg = match config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return 2;
        }
    };
    crate::server::process::init_logging(&cfg.log_level, false);
    let started = start(cfg).await;
    let (token_rx, revoke, client, tasks) = match started {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    shutdown.await;
    tracing::info!("agent: shutting down");
    for t in &tasks {
        t.abort();
    }
    if revoke {
        let token = token_rx.borrow().clone();
        if let Some(t) = token {
            match client.call(Method::POST, "auth/token/revoke-self", Some(&t), Some(&serde_json::json!({}))).await {
                Ok(_) => tracing::info!("agent: token revoked"),
                Err(e) => tracing::warn!("agent: cannot revoke the token: {e}"),
            }
        }
    }
    0
}

type Started = (lifetime::Shared, bool, client::Client, Vec<tokio::task::JoinHandle<()>>);

async fn start(cfg: config::Agent) -> Result<Started, String> {
    let client = client::Client::new(&cfg)?;
    let auth = Arc::new(auth::AutoAuth::new(cfg.auth.clone())?);
    let (tx, rx) = watch::channel(None);
    let mut tasks = Vec::new();
    if let Some(p) = cfg.proxy.clone() {
        let listener = proxy::bind(&p.listen).await?;
        // Callers' requests and their leases' renewals go without the agent's certificate.
        let plain = client::Client::without_identity(&cfg)?;
        let cache = Arc::new(cache::Cache::default());
        tasks.push(tokio::spawn(renewer::run(cache.clone(), plain.clone())));
        tasks.push(tokio::spawn(proxy::serve(listener, p, plain, rx.clone(), cache)));
    }
    tasks.push(tokio::spawn(lifetime::keep(auth, client.clone(), cfg.sinks.clone(), tx)));
    for t in cfg.templates {
        tasks.push(tokio::spawn(render::run(t, client.clone(), rx.clone())));
    }
    Ok((rx, cfg.revoke_on_shutdown, client, tasks))
}

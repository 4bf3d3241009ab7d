//! Running the server from the command line: from a configuration (file, environment, flags) or
//! in dev mode, until a shutdown signal.

use std::net::SocketAddr;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use super::config::{self, Overrides};
use super::http::{Limits, Listener};
use super::{process, tls};
use crate::core::seal::SealKind;
use crate::store;

/// `coffer server --config FILE`: loads the configuration (file, environment, `overrides`), serves
/// until a shutdown signal, then stops cleanly.
pub async fn from_config(config_file: Option<&Path>, overrides: &Overrides) -> Result<(), Vec<String>> {
    let stop = process::shutdown_signal();
    let (cfg, warnings) = config::load(config_file, overrides)?;
    process::init_logging(&cfg.log_level, cfg.log_json);
    for w in warnings {
        tracing::warn!("{w}");
    }
    process::harden(cfg.disable_mlock);
    cfg.audit.check_declared()?;
    // A bootstrap file with a problem refuses the start, as a config file with one does.
    if let Some(file) = &cfg.bootstrap.file {
        crate::core::bootstrap::spec::load(file)?;
    } else if cfg.bootstrap.revoke_root {
        tracing::warn!("bootstrap.revoke_root without bootstrap.file: after init only generate-root can log in");
    }
    if rustix::process::geteuid().is_root() {
        tracing::warn!("running as root; run Coffer as an unprivileged user");
    }
    let tcp =
        TcpListener::bind(cfg.address).await.map_err(|e| vec![format!("cannot listen on {}: {e}", cfg.address)])?;
    let mut certificate = None;
    let listener = match &cfg.tls {
        Some(files) => {
            let cert = tls::Certificate::load(&files.cert, &files.key).map_err(|e| vec![e])?;
            certificate = Some(cert.clone());
            let tls = tls::config_for(cert).map_err(|e| vec![e])?;
            Listener::Tls(tcp, tokio_rustls::TlsAcceptor::from(tls))
        }
        None => {
            tracing::warn!("TLS is disabled (tls_disable = true): traffic is not encrypted");
            Listener::Plain(tcp)
        }
    };
    // One server per SQLite file: a second one is refused here, before it touches the database.
    let _db_lock = store::sqlite::lock_database(cfg.storage_url.expose_secret()).map_err(|e| vec![e.to_string()])?;
    let store =
        store::open_with(cfg.storage_url.expose_secret(), &cfg.storage_pool).await.map_err(|e| vec![e.to_string()])?;
    let limits = cfg.limits();
    let options = super::Options {
        seal: cfg.seal.clone(),
        limits,
        audit: cfg.audit.clone(),
        lease_ttl: cfg.lease_ttl,
        cache: cfg.cache,
        aws: cfg.aws.clone(),
    };
    let mut running = super::start_with(store, listener, options).await.map_err(|e| vec![e])?;
    running.core.bootstrap.configure(cfg.bootstrap.clone());
    running.core.outbound.set_config(cfg.outbound.clone());
    running.core.metrics.set_unauthenticated(cfg.unauthenticated_metrics_access);
    running.core.generate_root.set_enabled(cfg.generate_root);
    if cfg.generate_root {
        tracing::warn!("generate-root is on ([seal] generate_root): anyone who can reach the API may start an attempt");
    }
    running.core.alerts.set_config(cfg.alerts.clone());
    running.core.snapshots.store(std::sync::Arc::new(cfg.snapshot.clone()));
    running.core.request_deadline.set(cfg.edge.request_duration);
    let (file, again) = (config_file.map(Path::to_path_buf), overrides.clone());
    let log_level: Box<dyn Fn() -> Result<String, String> + Send + Sync> =
        Box::new(move || config::load(file.as_deref(), &again).map(|(c, _)| c.log_level).map_err(|e| e.join("; ")));
    let reload = process::Reloadable { cert: certificate, log_level: Some(log_level) };
    let hangup = process::on_hangup(running.core.clone(), reload);
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %running.addr, "Coffer listening on {scheme}://{}", running.addr);
    if running.core.barrier.is_sealed() {
        match cfg.seal {
            // The key file unseals by itself; sealed at this point means not initialised.
            SealKind::KeyFile(_) => tracing::info!("not initialised: initialise with PUT /v1/sys/init"),
            SealKind::Shamir => {
                tracing::info!("sealed: initialise with PUT /v1/sys/init or unseal with PUT /v1/sys/unseal")
            }
        }
    }
    let tx = running.take_shutdown();
    stop.await;
    tracing::info!("signal received");
    if let Some(tx) = tx {
        let _ = tx.send(());
    }
    running.wait().await;
    if let Some(h) = hangup {
        h.abort();
    }
    Ok(())
}

/// `coffer server --dev`: a temporary SQLite store, initialised and unsealed, KV v2 at `secret/`,
/// plain HTTP on `listen`; serves until a shutdown signal.
pub async fn dev(
    listen: SocketAddr,
    log_level: Option<String>,
    root_token_id: Option<String>,
    aws: super::DevAws,
) -> Result<(), String> {
    let stop = process::shutdown_signal();
    process::init_logging(log_level.as_deref().unwrap_or("info"), false);
    process::harden(true);
    let dir = tempfile::Builder::new().prefix("coffer-dev-").tempdir().map_err(|e| e.to_string())?;
    let url = format!("sqlite://{}", dir.path().join("coffer.db").display());
    let store = store::open(&url).await.map_err(|e| e.to_string())?;
    let tcp = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let cache = config::cache_from_env().map_err(|e| e.join("; "))?;
    let mut aws_settings = crate::core::aws::Settings::default();
    if let Some(id) = &aws.account_id {
        crate::core::aws::check_account_id(id).map_err(|e| format!("--dev-aws-account-id: {e}"))?;
        aws_settings.account_id = id.clone();
    }
    let options = super::Options {
        seal: SealKind::Shamir,
        limits: Limits::default(),
        audit: Default::default(),
        lease_ttl: super::DEFAULT_LEASE_TTL,
        cache,
        aws: aws_settings,
    };
    let mut running = super::start_with(store, Listener::Plain(tcp), options).await?;
    let hangup = process::on_hangup(running.core.clone(), process::Reloadable::default());
    let creds = super::setup_dev(&running.core, root_token_id.map(SecretString::from)).await?;
    super::setup_dev_aws(&running.core, aws).await?;
    print_dev_banner(running.addr, &creds);
    let tx = running.take_shutdown();
    stop.await;
    if let Some(tx) = tx {
        let _ = tx.send(());
    }
    running.wait().await;
    if let Some(h) = hangup {
        h.abort();
    }
    drop(dir);
    Ok(())
}

/// Dev mode prints its credentials once, on stdout, as Vault's dev server does.
fn print_dev_banner(addr: SocketAddr, creds: &super::DevCredentials) {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode(&creds.unseal_key[..]);
    println!("WARNING! dev mode is enabled! In this mode, Coffer runs entirely from a temporary");
    println!("SQLite store, starts unsealed with a single unseal key, and serves plain HTTP.");
    println!();
    println!("    $ export VAULT_ADDR='http://{addr}'");
    println!();
    println!("Unseal Key: {key}");
    println!("Root Token: {}", creds.root_token.expose_secret());
    println!();
    println!("Development mode should NOT be used in production installations!");
}

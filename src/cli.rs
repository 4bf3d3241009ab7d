//! The `coffer` command line: `coffer server` (config file or `--dev`) and `coffer version`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::config::{self, Overrides, SealKind};
use crate::http::{Limits, Listener};
use crate::{process, server, store, tls};

/// Coffer: a secrets server that speaks the Vault/OpenBao HTTP API.
#[derive(Debug, Parser)]
#[command(name = "coffer", version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    ///
    /// Examples:
    ///   coffer server --config /etc/coffer/coffer.toml
    ///   coffer server --dev --dev-root-token-id root
    Server(ServerArgs),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Operator tools that work on a store directly (no server).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Print the version.
    Version,
}

/// `coffer audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check audit files offline: hash chain, signed checkpoints, order, gaps and truncation.
    ///
    /// Give rotated files oldest first; they are checked as one chain. The public key comes from
    /// `GET /v1/sys/audit/<name>/public-key` (base64 or PEM, inline or in a file).
    ///
    /// Examples:
    ///   coffer audit verify /var/log/coffer/audit.log --public-key audit.pub
    ///   coffer audit verify audit.log.1 audit.log --public-key 'MCowBQYDK2VwAyEA…'
    ///   coffer audit verify audit.log --public-key audit.pub --allow-open-tail   # a file still being written
    ///
    /// Exit codes: 0 verified, 1 tampering or damage found (the first broken line is printed), 2 usage error.
    Verify {
        /// Audit files, oldest first.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The device's Ed25519 public key: base64, PEM, or a file holding either.
        #[arg(long, value_name = "KEY")]
        public_key: String,
        /// Accept a last file that does not end with a closing checkpoint (the server is still
        /// writing it); its unsigned tail is reported as a warning.
        #[arg(long)]
        allow_open_tail: bool,
    },
}

/// `coffer operator …`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Copy a whole store into a new, empty one (typically SQLite to PostgreSQL), then verify it.
    ///
    /// Stop every Coffer server that uses either store first. Every row of every table is copied
    /// as it is, in one transaction: ciphertexts are never decrypted or re-encrypted, so the same
    /// unseal key (or key file) unseals the copy. A target holding any row is refused and left
    /// unchanged. The copy is then verified: row counts and a content digest per table against the
    /// source and, given the unseal key, every encrypted value decrypted from the target (KV
    /// versions, token HMAC key, cubbyholes and wrapped answers, audit device keys). The key is
    /// first checked against the source, so a wrong key copies nothing.
    ///
    /// Examples:
    ///   coffer operator migrate --from sqlite:///var/lib/coffer/coffer.db \
    ///       --to postgres://coffer@db.internal:5432/coffer --key-file /etc/coffer/unseal.key
    ///   coffer operator migrate --from sqlite:///var/lib/coffer/coffer.db \
    ///       --to 'postgres://coffer@db.internal/coffer?sslmode=require' --unseal-key - < shares.txt
    ///   coffer operator migrate --from … --to … --verify-only --key-file /etc/coffer/unseal.key
    ///
    /// Exit codes: 0 copied and verified, 1 refused or verification failed (the table and key are
    /// named, never a value), 2 usage error.
    #[command(verbatim_doc_comment)]
    Migrate {
        /// The store to copy: sqlite:///path/to/coffer.db or postgres://… (the file must exist).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty store to copy into: postgres://… or sqlite:///path (created if missing).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Key-file seal: the unseal key file (as `[seal] key_file`), to decrypt and verify.
        #[arg(long, value_name = "FILE", conflicts_with = "unseal_key")]
        key_file: Option<PathBuf>,
        /// Shamir seal: an unseal key share (hex or base64), repeated up to the threshold; `-` reads
        /// shares from stdin, one per line (shares given as arguments are visible to `ps`).
        #[arg(long, value_name = "SHARE")]
        unseal_key: Vec<crate::migrate::UnsealShare>,
        /// Copy nothing: compare an earlier copy with its source and decrypt the target.
        #[arg(long)]
        verify_only: bool,
    },
}

/// `coffer server` flags.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// TOML configuration file (see config/coffer.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Development mode: temporary store, initialised and unsealed, KV v2 at secret/, plain HTTP on loopback.
    #[arg(long)]
    pub dev: bool,
    /// Dev mode: use this value as the root token instead of a random one.
    #[arg(long, value_name = "TOKEN", env = "COFFER_DEV_ROOT_TOKEN_ID", hide_env_values = true)]
    pub dev_root_token_id: Option<String>,
    /// Dev mode: address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8200")]
    pub dev_listen_address: SocketAddr,
    /// Override listener.address.
    #[arg(long, value_name = "ADDR")]
    pub listen_address: Option<String>,
    /// Override storage.url.
    #[arg(long, value_name = "URL")]
    pub storage_url: Option<String>,
    /// Override log.level.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Audit(AuditCommand::Verify { files, public_key, allow_open_tail }) => {
            crate::audit::verify::run(&files, &public_key, allow_open_tail)
        }
        Command::Operator(OperatorCommand::Migrate { from, to, key_file, unseal_key, verify_only }) => {
            crate::migrate::run(crate::migrate::Options { from, to, key_file, unseal_keys: unseal_key, verify_only })
                .await
        }
        Command::Version => {
            println!("Coffer v{}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Server(args) if args.dev => match run_dev(args).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("Error: {e}");
                1
            }
        },
        Command::Server(args) => match run_server(args).await {
            Ok(()) => 0,
            Err(errors) => {
                for e in errors {
                    eprintln!("Error: {e}");
                }
                1
            }
        },
    }
}

async fn run_server(args: ServerArgs) -> Result<(), Vec<String>> {
    let overrides = Overrides {
        address: args.listen_address.clone(),
        storage_url: args.storage_url.clone(),
        log_level: args.log_level.clone(),
    };
    let (cfg, warnings) = config::load(args.config.as_deref(), &overrides)?;
    process::init_logging(&cfg.log_level, cfg.log_json);
    for w in warnings {
        tracing::warn!("{w}");
    }
    process::harden(cfg.disable_mlock);
    if rustix::process::geteuid().is_root() {
        tracing::warn!("running as root; run Coffer as an unprivileged user");
    }
    let tcp =
        TcpListener::bind(cfg.address).await.map_err(|e| vec![format!("cannot listen on {}: {e}", cfg.address)])?;
    let listener = match &cfg.tls {
        Some(files) => {
            let tls = tls::server_config(&files.cert, &files.key).map_err(|e| vec![e])?;
            Listener::Tls(tcp, tokio_rustls::TlsAcceptor::from(tls))
        }
        None => {
            tracing::warn!("TLS is disabled (tls_disable = true): traffic is not encrypted");
            Listener::Plain(tcp)
        }
    };
    let store =
        store::open_with(cfg.storage_url.expose_secret(), &cfg.storage_pool).await.map_err(|e| vec![e.to_string()])?;
    let limits = Limits { max_request_size: cfg.max_request_size, max_json_depth: cfg.max_json_depth };
    let options =
        server::Options { seal: cfg.seal.clone(), limits, audit: cfg.audit.clone(), lease_ttl: cfg.lease_ttl };
    let mut running = server::start_with(store, listener, options).await.map_err(|e| vec![e])?;
    let hangup = process::reopen_audit_on_hangup(running.core.clone());
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %running.addr, "Coffer listening on {scheme}://{}", running.addr);
    if running.core.barrier.is_sealed() {
        tracing::info!("sealed: initialise with PUT /v1/sys/init or unseal with PUT /v1/sys/unseal");
    }
    let tx = running.take_shutdown();
    process::shutdown_signal().await;
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

async fn run_dev(args: ServerArgs) -> Result<(), String> {
    process::init_logging(args.log_level.as_deref().unwrap_or("info"), false);
    process::harden(true);
    let dir = tempfile::Builder::new().prefix("coffer-dev-").tempdir().map_err(|e| e.to_string())?;
    let url = format!("sqlite://{}", dir.path().join("coffer.db").display());
    let store = store::open(&url).await.map_err(|e| e.to_string())?;
    let tcp = TcpListener::bind(args.dev_listen_address)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.dev_listen_address))?;
    let limits =
        Limits { max_request_size: config::DEFAULT_MAX_REQUEST_SIZE, max_json_depth: config::DEFAULT_MAX_JSON_DEPTH };
    let mut running = server::start(store, SealKind::Shamir, Listener::Plain(tcp), limits).await?;
    let hangup = process::reopen_audit_on_hangup(running.core.clone());
    let creds = server::setup_dev(&running.core, args.dev_root_token_id.map(SecretString::from)).await?;
    print_dev_banner(running.addr, &creds);
    let core = Arc::clone(&running.core);
    let tx = running.take_shutdown();
    process::shutdown_signal().await;
    if let Some(tx) = tx {
        let _ = tx.send(());
    }
    running.wait().await;
    if let Some(h) = hangup {
        h.abort();
    }
    drop(core);
    drop(dir);
    Ok(())
}

/// Dev mode prints its credentials once, on stdout, as Vault's dev server does.
fn print_dev_banner(addr: SocketAddr, creds: &server::DevCredentials) {
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

//! Secrets engines over HTTP, as `bao secrets …`: `coffer secrets enable|list|disable|tune`.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::input::plain_pairs;
use super::output::{cell, emit_line};
use super::sys::{enable, mount_table, text, ConnArgs};
use super::{Api, CliError, ClientOpts, Format, EXIT_OK};

/// `coffer secrets …`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Enable a secrets engine (kv, database, …) at its type's name or at --path
    ///
    /// Examples:
    ///   coffer secrets enable --path apps --version 2 kv
    ///   coffer secrets enable kv-v2
    ///   coffer secrets enable --path db --max-lease-ttl 24h database
    #[command(verbatim_doc_comment)]
    Enable(EnableArgs),
    /// List the enabled secrets engines
    ///
    /// Example:
    ///   coffer secrets list
    #[command(verbatim_doc_comment)]
    List(ConnArgs),
    /// Disable the secrets engine at PATH: its data is deleted and its leases revoked
    ///
    /// Example:
    ///   coffer secrets disable apps
    #[command(verbatim_doc_comment)]
    Disable(PathArg),
    /// Change the lease TTLs, description or options of the secrets engine at PATH
    ///
    /// Examples:
    ///   coffer secrets tune --default-lease-ttl 1h --max-lease-ttl 24h db
    ///   coffer secrets tune --description "app secrets" apps
    #[command(verbatim_doc_comment)]
    Tune(TuneArgs),
}

/// Settings shared by `secrets enable` and `secrets tune`.
#[derive(Debug, Args)]
pub struct MountSettings {
    /// A description shown by `secrets list`.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Default lease TTL of the engine (`1h`, `30m`, seconds).
    #[arg(long, value_name = "DURATION")]
    pub default_lease_ttl: Option<String>,
    /// Longest lease TTL of the engine.
    #[arg(long, value_name = "DURATION")]
    pub max_lease_ttl: Option<String>,
    /// Engine option KEY=VALUE, repeatable (`--options version=2`).
    #[arg(long = "options", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
}

impl MountSettings {
    /// The `config` object (lease TTLs), empty when none is given.
    fn config(&self) -> Map<String, Value> {
        let mut cfg = Map::new();
        if let Some(t) = &self.default_lease_ttl {
            cfg.insert("default_lease_ttl".into(), json!(t));
        }
        if let Some(t) = &self.max_lease_ttl {
            cfg.insert("max_lease_ttl".into(), json!(t));
        }
        cfg
    }
}

/// `coffer secrets enable`.
#[derive(Debug, Args)]
pub struct EnableArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Mount the engine here instead of at its type's name.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// KV version (1 or 2); the same as `--options version=N`.
    #[arg(long, value_name = "N")]
    pub version: Option<u8>,
    #[command(flatten)]
    pub settings: MountSettings,
    /// The engine type: kv, kv-v2, database, …
    #[arg(value_name = "TYPE")]
    pub kind: String,
}

/// `coffer secrets disable`.
#[derive(Debug, Args)]
pub struct PathArg {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The mount path (`apps` or `apps/`).
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// `coffer secrets tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    #[command(flatten)]
    pub settings: MountSettings,
    /// The mount path.
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// Runs a `coffer secrets` command.
pub async fn run(c: SecretsCommand) -> Result<i32, CliError> {
    match c {
        SecretsCommand::Enable(a) => enable_engine(a).await,
        SecretsCommand::List(a) => list(a).await,
        SecretsCommand::Disable(a) => disable(a).await,
        SecretsCommand::Tune(a) => tune(a).await,
    }
}

async fn enable_engine(a: EnableArgs) -> Result<i32, CliError> {
    let mut options = plain_pairs(&a.settings.options, "engine option")?;
    if let Some(v) = a.version {
        options.insert("version".into(), json!(v.to_string()));
    }
    let mut body = json!({"type": a.kind});
    if !options.is_empty() {
        crate::base::json::set(&mut body, "options", Value::Object(options));
    }
    let config = a.settings.config();
    if !config.is_empty() {
        crate::base::json::set(&mut body, "config", Value::Object(config));
    }
    let api = Api::new(&a.conn)?;
    let path =
        enable(&api, Method::POST, "sys/mounts", &a.kind, a.path.as_deref(), a.settings.description.as_deref(), body)
            .await?;
    if a.conn.format == Format::Table {
        emit_line(&format!("Success! Enabled the {} secrets engine at: {path}/", a.kind))?;
    }
    Ok(EXIT_OK)
}

async fn list(a: ConnArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let body = api.read("sys/mounts").await?.unwrap_or(Value::Null);
    mount_table(a.conn.format, &body, &["Path", "Type", "Accessor", "Description"], |v| {
        vec![
            cell(v.get("type").unwrap_or(&Value::Null)),
            cell(v.get("accessor").unwrap_or(&Value::Null)),
            text(v, "description"),
        ]
    })
}

async fn disable(a: PathArg) -> Result<i32, CliError> {
    let path = mount_of(&a.path)?;
    let api = Api::new(&a.conn)?;
    api.call(Method::DELETE, &format!("sys/mounts/{path}"), None).await?;
    if a.conn.format == Format::Table {
        emit_line(&format!("Success! Disabled the secrets engine (if it existed) at: {path}/"))?;
    }
    Ok(EXIT_OK)
}

async fn tune(a: TuneArgs) -> Result<i32, CliError> {
    let path = mount_of(&a.path)?;
    let mut body = Value::Object(a.settings.config());
    if let Some(d) = &a.settings.description {
        crate::base::json::set(&mut body, "description", json!(d));
    }
    let options = plain_pairs(&a.settings.options, "engine option")?;
    if !options.is_empty() {
        crate::base::json::set(&mut body, "options", Value::Object(options));
    }
    if body.as_object().is_some_and(Map::is_empty) {
        return Err(CliError::Usage(
            "nothing to tune: give --default-lease-ttl, --max-lease-ttl, --description or --options".into(),
        ));
    }
    let api = Api::new(&a.conn)?;
    api.call(Method::POST, &format!("sys/mounts/{path}/tune"), Some(&body)).await?;
    if a.conn.format == Format::Table {
        emit_line(&format!("Success! Tuned the secrets engine at: {path}/"))?;
    }
    Ok(EXIT_OK)
}

/// The mount path without its slashes; an empty one is a usage error.
fn mount_of(raw: &str) -> Result<String, CliError> {
    let p = raw.trim_matches('/');
    if p.is_empty() {
        return Err(CliError::Usage("give the mount path, such as `secret`".into()));
    }
    Ok(p.to_string())
}

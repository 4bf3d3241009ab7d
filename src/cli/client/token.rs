//! `coffer token create|lookup|renew|revoke`.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::input::{plain_pairs, secret_arg};
use super::output::{emit_line, print_auth, print_secret, print_warnings};
use super::{Api, CliError, ClientOpts, Format, Secret, EXIT_OK};

/// `coffer token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token (a child of the one in use, or an orphan)
    ///
    /// The new token is printed: that is what the command is for. Its policies must be a subset
    /// of the creating token's.
    ///
    /// Examples:
    ///   coffer token create --policy app --ttl 1h
    ///   coffer token create --policy app --ttl 1h --format json | jq -r .auth.client_token
    ///   coffer token create --policy ci --orphan --period 24h --display-name nightly
    #[command(verbatim_doc_comment)]
    Create(CreateArgs),
    /// Show a token's properties (your own, another token's, or by accessor)
    ///
    /// Examples:
    ///   coffer token lookup                      # the token in use
    ///   coffer token lookup --accessor 6Qd2…
    ///   coffer token lookup - < token.txt         # another token, from stdin
    #[command(verbatim_doc_comment)]
    Lookup(TargetArgs),
    /// Renew a token's lease (your own by default)
    ///
    /// Examples:
    ///   coffer token renew
    ///   coffer token renew --increment 2h
    ///   coffer token renew --accessor 6Qd2…
    #[command(verbatim_doc_comment)]
    Renew(RenewArgs),
    /// Revoke a token and all its children
    ///
    /// Examples:
    ///   coffer token revoke --self
    ///   coffer token revoke --accessor 6Qd2…
    ///   coffer token revoke - < token.txt
    #[command(verbatim_doc_comment)]
    Revoke(RevokeArgs),
}

/// `coffer token create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// A policy for the token (repeat, or comma-separated).
    #[arg(long = "policy", value_name = "NAME", value_delimiter = ',')]
    pub policies: Vec<String>,
    /// Time to live (`1h`, `30m`).
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// A hard limit no renewal can pass.
    #[arg(long, value_name = "DURATION")]
    pub explicit_max_ttl: Option<String>,
    /// A periodic token: each renewal resets its TTL to this period.
    #[arg(long, value_name = "DURATION")]
    pub period: Option<String>,
    /// Whether the token can be renewed.
    #[arg(long, value_name = "BOOL")]
    pub renewable: Option<bool>,
    /// How many requests the token may make (0: unlimited).
    #[arg(long, value_name = "N")]
    pub num_uses: Option<u64>,
    /// A name shown in lookups and audit logs.
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,
    /// Do not attach the `default` policy.
    #[arg(long)]
    pub no_default_policy: bool,
    /// A token with no parent: it outlives the creating token.
    #[arg(long)]
    pub orphan: bool,
    /// Create through this token role (`auth/token/create/<role>`).
    #[arg(long, value_name = "NAME", conflicts_with = "orphan")]
    pub role: Option<String>,
    /// Metadata KEY=VALUE (repeat for more).
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
}

/// A token given as an argument (`-`: stdin), or by accessor; none: the token in use.
#[derive(Debug, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Look the token up by its accessor.
    #[arg(long, value_name = "ACCESSOR", conflicts_with = "token_value")]
    pub accessor: Option<String>,
    /// The token (`-`: read it from stdin; a token given here is visible in `ps`).
    #[arg(value_name = "TOKEN")]
    pub token_value: Option<Secret>,
}

/// `coffer token renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Ask for this TTL from now (the server may grant less).
    #[arg(long, value_name = "DURATION")]
    pub increment: Option<String>,
}

/// `coffer token revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Revoke the token in use.
    #[arg(long = "self", conflicts_with_all = ["accessor", "token_value"])]
    pub self_: bool,
}

/// Runs a `coffer token` command.
pub async fn run(cmd: TokenCommand) -> Result<i32, CliError> {
    match cmd {
        TokenCommand::Create(a) => create(a).await,
        TokenCommand::Lookup(a) => {
            let api = Api::new(&a.conn)?;
            let resp = match target(&a)? {
                Target::Own => api.read("auth/token/lookup-self").await?,
                Target::Token(t) => {
                    api.call(Method::POST, "auth/token/lookup", Some(&json!({"token": t.expose()}))).await?
                }
                Target::Accessor(acc) => {
                    api.call(Method::POST, "auth/token/lookup-accessor", Some(&json!({"accessor": acc}))).await?
                }
            };
            let mut resp = resp.unwrap_or(Value::Null);
            if a.conn.format == Format::Table {
                // The table leaves the token itself out; --format json shows the whole answer.
                // Durations read as in `coffer login` and the vault CLI (`768h0m0s`), not seconds.
                if let Some(d) = resp.get_mut("data").and_then(Value::as_object_mut) {
                    d.remove("id");
                    for key in ["ttl", "creation_ttl", "explicit_max_ttl", "period"] {
                        if let Some(secs) = d.get(key).and_then(Value::as_u64) {
                            d.insert(key.into(), json!(crate::base::duration::format(secs)));
                        }
                    }
                }
            }
            print_secret(a.conn.format, &resp)?;
            Ok(EXIT_OK)
        }
        TokenCommand::Renew(a) => {
            let api = Api::new(&a.target.conn)?;
            let mut body = Map::new();
            if let Some(i) = &a.increment {
                body.insert("increment".into(), json!(i));
            }
            let (path, body) = match target(&a.target)? {
                Target::Own => ("auth/token/renew-self", body),
                Target::Token(t) => {
                    body.insert("token".into(), json!(t.expose()));
                    ("auth/token/renew", body)
                }
                Target::Accessor(acc) => {
                    body.insert("accessor".into(), json!(acc));
                    ("auth/token/renew-accessor", body)
                }
            };
            let resp = api.call(Method::POST, path, Some(&Value::Object(body))).await?.unwrap_or(Value::Null);
            print_warnings(&resp);
            // Renewing is not showing: the token itself is left out of the table.
            print_auth(a.target.conn.format, &resp, false)?;
            Ok(EXIT_OK)
        }
        TokenCommand::Revoke(a) => {
            let api = Api::new(&a.target.conn)?;
            let t = if a.self_ {
                Target::Own
            } else {
                match target(&a.target)? {
                    Target::Own => {
                        return Err(CliError::Usage(
                            "say which token to revoke: TOKEN, - (stdin), --accessor ACCESSOR or --self".into(),
                        ))
                    }
                    other => other,
                }
            };
            match t {
                Target::Own => api.call(Method::POST, "auth/token/revoke-self", None).await?,
                Target::Token(t) => {
                    api.call(Method::POST, "auth/token/revoke", Some(&json!({"token": t.expose()}))).await?
                }
                Target::Accessor(acc) => {
                    api.call(Method::POST, "auth/token/revoke-accessor", Some(&json!({"accessor": acc}))).await?
                }
            };
            if a.target.conn.format == Format::Table {
                emit_line("Success! Revoked token (if it existed)")?;
            }
            Ok(EXIT_OK)
        }
    }
}

enum Target {
    Own,
    Token(Secret),
    Accessor(String),
}

fn target(a: &TargetArgs) -> Result<Target, CliError> {
    if let Some(acc) = &a.accessor {
        return Ok(Target::Accessor(acc.clone()));
    }
    match &a.token_value {
        None => Ok(Target::Own),
        Some(t) => Ok(Target::Token(secret_arg(Some(t), "Token (will be hidden): ")?)),
    }
}

async fn create(a: CreateArgs) -> Result<i32, CliError> {
    let mut body = Map::new();
    let policies: Vec<String> = a.policies.iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
    if !policies.is_empty() {
        body.insert("policies".into(), json!(policies));
    }
    for (key, v) in [
        ("ttl", &a.ttl),
        ("explicit_max_ttl", &a.explicit_max_ttl),
        ("period", &a.period),
        ("display_name", &a.display_name),
    ] {
        if let Some(v) = v {
            body.insert(key.into(), json!(v));
        }
    }
    if let Some(r) = a.renewable {
        body.insert("renewable".into(), json!(r));
    }
    if let Some(n) = a.num_uses {
        body.insert("num_uses".into(), json!(n));
    }
    if a.no_default_policy {
        body.insert("no_default_policy".into(), json!(true));
    }
    if !a.metadata.is_empty() {
        body.insert("meta".into(), Value::Object(plain_pairs(&a.metadata, "metadata")?));
    }
    let path = match (&a.role, a.orphan) {
        (Some(role), _) => format!("auth/token/create/{role}"),
        (None, true) => "auth/token/create-orphan".to_string(),
        (None, false) => "auth/token/create".to_string(),
    };
    let api = Api::new(&a.conn)?;
    let resp = api.call(Method::POST, &path, Some(&Value::Object(body))).await?.unwrap_or(Value::Null);
    print_warnings(&resp);
    print_auth(a.conn.format, &resp, true)?;
    Ok(EXIT_OK)
}

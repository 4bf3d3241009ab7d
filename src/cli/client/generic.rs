//! `coffer read|write|list|delete PATH`: any API path, as the vault CLI's generic commands.

use std::io::IsTerminal;

use clap::Args;
use reqwest::Method;
use serde_json::Value;

use super::input::parse_pairs;
use super::output::{emit, emit_line, print_list, print_secret};
use super::{Api, CliError, ClientOpts, Format, EXIT_OK};

/// `coffer read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Print only this field of `data`, as it is.
    #[arg(long, value_name = "NAME")]
    pub field: Option<String>,
    /// The API path (without `/v1/`).
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// `coffer write`.
#[derive(Args)]
pub struct WriteArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Send the request even with no data.
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Print only this field of the answer's `data` (or `auth`), as it is.
    #[arg(long, value_name = "NAME")]
    pub field: Option<String>,
    /// The API path (without `/v1/`).
    #[arg(value_name = "PATH")]
    pub path: String,
    /// KEY=VALUE, KEY=@FILE or KEY=- (stdin); `-` alone: a JSON object from stdin.
    #[arg(value_name = "KEY=VALUE")]
    pub pairs: Vec<String>,
}

impl std::fmt::Debug for WriteArgs {
    /// Only the keys: the values may be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteArgs")
            .field("conn", &self.conn)
            .field("force", &self.force)
            .field("field", &self.field)
            .field("path", &self.path)
            .field("keys", &super::input::keys_only(&self.pairs))
            .finish()
    }
}

/// `coffer list` and `coffer delete`.
#[derive(Debug, Args)]
pub struct PathArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The API path (without `/v1/`).
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// `coffer read`.
pub async fn read(a: ReadArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let body = match api.read(&a.path).await {
        Err(CliError::Api { status: 404, .. }) => {
            return Err(CliError::Other(format!("no value found at {}", a.path.trim_start_matches('/'))))
        }
        other => other?.unwrap_or(Value::Null),
    };
    output(a.conn.format, &body, a.field.as_deref())
}

/// `coffer write`.
pub async fn write(a: WriteArgs) -> Result<i32, CliError> {
    let pairs = parse_pairs(&a.pairs)?;
    if pairs.data.is_empty() && !a.force {
        return Err(CliError::Usage("no data to write: give KEY=VALUE pairs, or --force to send none".into()));
    }
    let api = Api::new(&a.conn)?;
    let body = api.call(Method::POST, &a.path, Some(&Value::Object(pairs.data))).await?;
    match body {
        Some(b) if b.get("data").is_some_and(|d| !d.is_null()) || b.get("auth").is_some_and(|d| !d.is_null()) => {
            output(a.conn.format, &b, a.field.as_deref())
        }
        _ => {
            if a.conn.format == Format::Table {
                emit_line(&format!("Success! Data written to: {}", a.path.trim_start_matches('/')))?;
            }
            Ok(EXIT_OK)
        }
    }
}

/// `coffer list`.
pub async fn list(a: PathArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let keys = match api.list(&a.path).await {
        Err(CliError::Api { status: 404, .. }) => {
            return Err(CliError::Other(format!("no value found at {}", a.path.trim_start_matches('/'))))
        }
        other => other?,
    };
    print_list(a.conn.format, &keys)?;
    Ok(EXIT_OK)
}

/// `coffer delete`.
pub async fn delete(a: PathArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    api.call(Method::DELETE, &a.path, None).await?;
    if a.conn.format == Format::Table {
        emit_line(&format!("Success! Data deleted (if it existed) at: {}", a.path.trim_start_matches('/')))?;
    }
    Ok(EXIT_OK)
}

fn output(format: Format, body: &Value, field: Option<&str>) -> Result<i32, CliError> {
    let Some(field) = field else {
        print_secret(format, body)?;
        return Ok(EXIT_OK);
    };
    let value = body
        .get("data")
        .and_then(|d| d.get(field))
        .or_else(|| body.get("auth").and_then(|d| d.get(field)))
        .ok_or_else(|| CliError::Other(format!("the answer has no field {field:?}")))?;
    let raw = match value {
        Value::String(s) => zeroize::Zeroizing::new(s.clone()),
        other => zeroize::Zeroizing::new(other.to_string()),
    };
    emit(&raw)?;
    if std::io::stdout().is_terminal() {
        emit("\n")?;
    }
    Ok(EXIT_OK)
}

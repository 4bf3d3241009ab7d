//! Server administration over HTTP: `coffer status`, `coffer operator init|unseal|seal|rotate|
//! key-status`, `coffer auth enable|list`, `coffer audit enable|list`, and the helpers that
//! `coffer secrets` shares with them.

use clap::Args;
use reqwest::Method;
use serde_json::{json, Value};

use super::input::{line_from_stdin, plain_pairs, prompt_hidden};
use super::output::{cell, columns, emit, emit_line, print_structured, table};
use super::{Api, CliError, ClientOpts, Format, Secret, EXIT_OK};

/// Exit code of `coffer status` for a sealed server (as `vault status`).
pub const EXIT_SEALED: i32 = 2;

/// Options of commands that take nothing but the connection.
#[derive(Debug, Args)]
pub struct ConnArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
}

/// `coffer operator init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// How many unseal key shares to make.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub key_shares: u64,
    /// How many shares unseal the server.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub key_threshold: u64,
}

/// `coffer operator unseal`.
#[derive(Debug, Args)]
pub struct UnsealArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Forget the shares entered so far.
    #[arg(long, conflicts_with = "key")]
    pub reset: bool,
    /// A key share (hex or base64). `-` or nothing: read shares from stdin, one per line, or
    /// prompt on a terminal. A share given here is visible to other users in `ps`.
    #[arg(value_name = "KEY")]
    pub key: Option<Secret>,
}

/// `coffer auth enable`.
#[derive(Debug, Args)]
pub struct AuthEnableArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Mount the method here instead of at its type's name.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// A description shown by `auth list`.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// The method: userpass, approle, jwt.
    #[arg(value_name = "TYPE")]
    pub kind: String,
}

/// `coffer audit enable`.
#[derive(Debug, Args)]
pub struct AuditEnableArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The device's name, if not its type.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// A description shown by `audit list`.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// The device type: file or socket.
    #[arg(value_name = "TYPE")]
    pub kind: String,
    /// Device options KEY=VALUE (`file_path=/var/log/coffer/audit.log`).
    #[arg(value_name = "KEY=VALUE")]
    pub options: Vec<String>,
}

/// `coffer status`: seal state and version; exit code 2 when sealed, as `vault status`.
pub async fn status(a: ConnArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?.anonymous();
    let body = api.read("sys/seal-status").await?.unwrap_or(Value::Null);
    print_seal_status(a.conn.format, &body)?;
    let sealed = body.get("sealed").and_then(Value::as_bool).unwrap_or(true);
    Ok(if sealed { EXIT_SEALED } else { EXIT_OK })
}

fn print_seal_status(format: Format, body: &Value) -> Result<(), CliError> {
    if format != Format::Table {
        return print_structured(format, body);
    }
    let g = |k: &str| cell(body.get(k).unwrap_or(&Value::Null));
    let sealed = body.get("sealed").and_then(Value::as_bool).unwrap_or(true);
    let mut rows = vec![
        ("Seal Type".to_string(), g("type")),
        ("Initialized".to_string(), g("initialized")),
        ("Sealed".to_string(), g("sealed")),
        ("Total Shares".to_string(), g("n")),
        ("Threshold".to_string(), g("t")),
    ];
    if sealed {
        rows.push(("Unseal Progress".to_string(), format!("{}/{}", g("progress"), g("t"))));
        rows.push(("Unseal Nonce".to_string(), g("nonce")));
    }
    rows.push(("Version".to_string(), g("version")));
    rows.push(("Storage Type".to_string(), g("storage_type")));
    if let Some(c) = body.get("cluster_name").filter(|c| !c.is_null()) {
        rows.push(("Cluster Name".to_string(), cell(c)));
    }
    emit(&table(("Key", "Value"), &rows))
}

/// `coffer operator init`: the shares and the root token are printed, once.
pub async fn init(a: InitArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?.anonymous();
    let body = json!({"secret_shares": a.key_shares, "secret_threshold": a.key_threshold});
    let resp = api.call(Method::PUT, "sys/init", Some(&body)).await?.unwrap_or(Value::Null);
    if a.conn.format != Format::Table {
        print_structured(a.conn.format, &resp)?;
        return Ok(EXIT_OK);
    }
    let mut out = String::new();
    let keys = resp.get("keys_base64").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        out.push_str(&format!("Unseal Key {}: {}\n", i + 1, cell(k)));
    }
    if !keys.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!("Initial Root Token: {}\n\n", cell(resp.get("root_token").unwrap_or(&Value::Null))));
    if keys.is_empty() {
        out.push_str("The server uses a key-file seal: it unseals itself at every start.\n");
    } else {
        out.push_str(&format!(
            "Coffer is initialised with {} key shares and a threshold of {}. The shares are shown only\n\
             this once: give them to different people and store them apart. Unseal with\n\
             `coffer operator unseal` and {} of them. Revoke the root token once other access is set up.\n",
            a.key_shares, a.key_threshold, a.key_threshold
        ));
    }
    emit(&out)?;
    Ok(EXIT_OK)
}

/// `coffer operator unseal`: one share from the argument or the prompt, or every line of stdin.
pub async fn unseal(a: UnsealArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?.anonymous();
    let mut last = Value::Null;
    if a.reset {
        last = api.call(Method::PUT, "sys/unseal", Some(&json!({"reset": true}))).await?.unwrap_or(Value::Null);
    } else {
        for share in shares(a.key.as_ref())? {
            last = api
                .call(Method::PUT, "sys/unseal", Some(&json!({"key": share.expose()})))
                .await?
                .unwrap_or(Value::Null);
            if last.get("sealed").and_then(Value::as_bool) == Some(false) {
                break;
            }
        }
    }
    print_seal_status(a.conn.format, &last)?;
    Ok(EXIT_OK)
}

fn shares(arg: Option<&Secret>) -> Result<Vec<Secret>, CliError> {
    use std::io::IsTerminal;
    match arg {
        Some(s) if s.expose() != "-" => Ok(vec![s.clone()]),
        _ if !std::io::stdin().is_terminal() => {
            let mut out = Vec::new();
            loop {
                let line = line_from_stdin()?;
                if line.is_empty() {
                    break;
                }
                out.push(Secret::new(line.expose().trim().to_string()));
            }
            if out.is_empty() {
                return Err(CliError::Usage("stdin holds no unseal key".into()));
            }
            Ok(out)
        }
        _ => Ok(vec![prompt_hidden(
            "Unseal Key (will be hidden): ",
            "give the shares on stdin, one per line: coffer operator unseal - < shares.txt",
        )?]),
    }
}

/// `coffer operator seal`.
pub async fn seal(a: ConnArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    api.call(Method::PUT, "sys/seal", None).await?;
    if a.conn.format == Format::Table {
        emit_line("Success! Coffer is sealed.")?;
    }
    Ok(EXIT_OK)
}

/// `coffer operator rotate`: a new key term; old data keys are re-wrapped in the background.
pub async fn rotate(a: ConnArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    api.call(Method::PUT, "sys/rotate", None).await?;
    let status = key_status_body(&api).await?;
    if a.conn.format != Format::Table {
        print_structured(a.conn.format, &status)?;
        return Ok(EXIT_OK);
    }
    emit_line("Success! Rotated key\n")?;
    print_key_status(&status)?;
    Ok(EXIT_OK)
}

/// `coffer operator key-status`.
pub async fn key_status(a: ConnArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let status = key_status_body(&api).await?;
    if a.conn.format != Format::Table {
        print_structured(a.conn.format, &status)?;
        return Ok(EXIT_OK);
    }
    print_key_status(&status)?;
    Ok(EXIT_OK)
}

async fn key_status_body(api: &Api) -> Result<Value, CliError> {
    let body = api.read("sys/key-status").await?.unwrap_or(Value::Null);
    Ok(body.get("data").filter(|d| d.is_object()).cloned().unwrap_or(body))
}

fn print_key_status(status: &Value) -> Result<(), CliError> {
    let g = |k: &str| cell(status.get(k).unwrap_or(&Value::Null));
    let rows = vec![
        ("Key Term".to_string(), g("term")),
        ("Install Time".to_string(), g("install_time")),
        ("Encryption Count".to_string(), g("encryptions")),
    ];
    emit(&table(("Key", "Value"), &rows))
}

/// `coffer auth enable`.
pub async fn auth_enable(a: AuthEnableArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let body = json!({"type": a.kind});
    let path =
        enable(&api, Method::POST, "sys/auth", &a.kind, a.path.as_deref(), a.description.as_deref(), body).await?;
    if a.conn.format == Format::Table {
        emit_line(&format!("Success! Enabled {} auth method at: {path}/", a.kind))?;
    }
    Ok(EXIT_OK)
}

/// Enables something of type `kind` under `table` (`sys/auth`, `sys/audit`) at `path` (the type's
/// name by default) with `body` plus the description; returns the path used.
pub(super) async fn enable(
    api: &Api,
    method: Method,
    table: &str,
    kind: &str,
    path: Option<&str>,
    description: Option<&str>,
    mut body: Value,
) -> Result<String, CliError> {
    let path = path.unwrap_or(kind).trim_matches('/').to_string();
    if let Some(d) = description {
        crate::base::json::set(&mut body, "description", json!(d));
    }
    api.call(method, &format!("{table}/{path}"), Some(&body)).await?;
    Ok(path)
}

/// `coffer auth list`.
pub async fn auth_list(a: ConnArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let body = api.read("sys/auth").await?.unwrap_or(Value::Null);
    mount_table(a.conn.format, &body, &["Path", "Type", "Accessor", "Description"], |v| {
        vec![
            cell(v.get("type").unwrap_or(&Value::Null)),
            cell(v.get("accessor").unwrap_or(&Value::Null)),
            text(v, "description"),
        ]
    })
}

/// `coffer audit enable`.
pub async fn audit_enable(a: AuditEnableArgs) -> Result<i32, CliError> {
    let options = plain_pairs(&a.options, "device option")?;
    let api = Api::new(&a.conn)?;
    let body = json!({"type": a.kind, "options": Value::Object(options)});
    let path =
        enable(&api, Method::PUT, "sys/audit", &a.kind, a.path.as_deref(), a.description.as_deref(), body).await?;
    if a.conn.format == Format::Table {
        emit_line(&format!("Success! Enabled the {} audit device at: {path}/", a.kind))?;
    }
    Ok(EXIT_OK)
}

/// `coffer audit list`.
pub async fn audit_list(a: ConnArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let body = api.read("sys/audit").await?.unwrap_or(Value::Null);
    mount_table(a.conn.format, &body, &["Path", "Type", "Description", "Options"], |v| {
        vec![
            cell(v.get("type").unwrap_or(&Value::Null)),
            text(v, "description"),
            cell(v.get("options").unwrap_or(&Value::Null)),
        ]
    })
}

pub(super) fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("n/a").to_string()
}

/// A `sys/auth` or `sys/audit` answer as a table, one row per mount, sorted by path.
pub(super) fn mount_table(
    format: Format,
    body: &Value,
    header: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) -> Result<i32, CliError> {
    if format != Format::Table {
        print_structured(format, body)?;
        return Ok(EXIT_OK);
    }
    let entries = body.get("data").and_then(Value::as_object).or_else(|| body.as_object()).cloned().unwrap_or_default();
    let mut rows: Vec<Vec<String>> = entries
        .iter()
        .filter(|(_, v)| v.get("type").is_some())
        .map(|(path, v)| {
            let mut r = vec![path.clone()];
            r.extend(row(v));
            r
        })
        .collect();
    rows.sort();
    emit(&columns(header, &rows))?;
    Ok(EXIT_OK)
}

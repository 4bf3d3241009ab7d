//! `coffer operator bootstrap plan FILE`: what applying a bootstrap file would change on a
//! running server, computed by the server itself (`POST sys/bootstrap/plan`, sudo) with the code
//! that applies it, so the plan and the apply cannot disagree. Nothing is applied.

use std::path::PathBuf;

use clap::Args;
use reqwest::Method;
use serde_json::{json, Value};

use super::output::{emit_line, print_structured};
use super::{Api, CliError, ClientOpts, Format, EXIT_OK};

/// Exit code when the plan has changes (as `terraform plan -detailed-exitcode`).
pub const EXIT_CHANGES: i32 = 2;

/// `coffer operator bootstrap plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The bootstrap file (TOML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Prints one line per change (`create policy app`, `update approle role approle/web
/// (token_ttl)`, `delete mount old/`); exit code 0 when there is nothing to do, 2 when there are
/// changes, 1 when the file or the server refuses.
pub async fn plan(a: PlanArgs) -> Result<i32, CliError> {
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| CliError::Other(format!("cannot read {}: {e}", a.file.display())))?;
    let api = Api::new(&a.conn)?;
    let body = api.call(Method::POST, "sys/bootstrap/plan", Some(&json!({ "file": text }))).await?;
    let data = body.as_ref().and_then(|b| b.get("data")).cloned().unwrap_or(Value::Null);
    let changes = data.get("changes").and_then(Value::as_array).cloned().unwrap_or_default();
    if a.conn.format != Format::Table {
        print_structured(a.conn.format, &data)?;
    } else if changes.is_empty() {
        emit_line("No changes: the server matches the file.")?;
    } else {
        for c in &changes {
            emit_line(c.get("line").and_then(Value::as_str).unwrap_or(""))?;
        }
    }
    Ok(if changes.is_empty() { EXIT_OK } else { EXIT_CHANGES })
}

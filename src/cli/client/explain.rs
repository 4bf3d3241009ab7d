//! `coffer policy explain`: asks `sys/policies/explain` why a token may or may not do one
//! operation on one path, and prints the answer as two short tables (or the whole answer as
//! JSON/YAML).

use clap::Args;
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::input::{plain_pairs, secret_arg};
use super::output::{cell, columns, emit, print_structured, table};
use super::{Api, CliError, ClientOpts, Format, Secret, EXIT_OK};

/// `coffer policy explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The API path, as a request names it after `/v1/` (`secret/data/app/db`).
    #[arg(value_name = "PATH")]
    pub path: String,
    /// Another token to explain (`-`: read it from stdin); needs sudo on sys/policies/explain.
    /// Without it, --accessor or --policies, the token in use is explained.
    #[arg(value_name = "TOKEN", conflicts_with_all = ["accessor", "policies"])]
    pub token_value: Option<Secret>,
    /// The operation: read, list, create, update, patch or delete.
    #[arg(long, value_name = "OP", default_value = "read")]
    pub operation: String,
    /// Explain the token with this accessor (needs sudo on sys/policies/explain).
    #[arg(long, value_name = "ACCESSOR", conflicts_with = "policies")]
    pub accessor: Option<String>,
    /// Explain these policies, as a token holding exactly them (comma-separated; needs sudo).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub policies: Option<Vec<String>>,
    /// A request body parameter KEY=VALUE, for policies with parameter constraints (repeat).
    #[arg(long = "data", value_name = "KEY=VALUE")]
    pub data: Vec<String>,
}

/// Runs `coffer policy explain`.
pub async fn run(a: ExplainArgs) -> Result<i32, CliError> {
    let mut body = Map::new();
    body.insert("path".into(), json!(a.path));
    body.insert("operation".into(), json!(a.operation));
    if let Some(t) = &a.token_value {
        let t = secret_arg(Some(t), "Token to explain (will be hidden): ")?;
        body.insert("token".into(), json!(t.expose()));
    }
    if let Some(acc) = &a.accessor {
        body.insert("accessor".into(), json!(acc));
    }
    if let Some(names) = &a.policies {
        let names: Vec<&str> = names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).collect();
        body.insert("policies".into(), json!(names));
    }
    if !a.data.is_empty() {
        body.insert("data".into(), Value::Object(plain_pairs(&a.data, "data")?));
    }
    let api = Api::new(&a.conn)?;
    let resp = api.call(Method::POST, "sys/policies/explain", Some(&Value::Object(body))).await?;
    let resp = resp.unwrap_or(Value::Null);
    if a.conn.format != Format::Table {
        print_structured(a.conn.format, &resp)?;
        return Ok(EXIT_OK);
    }
    emit(&render(resp.get("data").unwrap_or(&Value::Null)))?;
    Ok(EXIT_OK)
}

/// The two tables: the decision, then each policy on its own.
pub fn render(d: &Value) -> String {
    let field = |k: &str| cell(d.get(k).unwrap_or(&Value::Null));
    let mut rows: Vec<(String, String)> =
        ["path", "operation", "allowed", "reason", "capabilities"].iter().map(|k| (k.to_string(), field(k))).collect();
    let decided = match d.get("decided_by") {
        Some(Value::Object(by)) => {
            let get = |k: &str| cell(by.get(k).unwrap_or(&Value::Null));
            let policies: Vec<String> =
                by.get("policies").and_then(Value::as_array).into_iter().flatten().map(cell).collect();
            format!("{} {} (policy {})", get("path"), get("capabilities"), policies.join(", "))
        }
        _ => "n/a".to_string(),
    };
    rows.push(("decided_by".into(), decided));
    if d.get("parameter").is_some_and(|p| !p.is_null()) {
        rows.push(("parameter".into(), field("parameter")));
    }
    rows.push(("message".into(), field("message")));
    let mut out = table(("Key", "Value"), &rows);
    let each: Vec<Vec<String>> = d
        .get("policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let rule = p.get("rule").unwrap_or(&Value::Null);
            vec![
                cell(p.get("name").unwrap_or(&Value::Null)),
                cell(rule.get("path").unwrap_or(&Value::Null)),
                cell(rule.get("capabilities").unwrap_or(&Value::Null)),
                cell(p.get("allowed").unwrap_or(&Value::Null)),
            ]
        })
        .collect();
    if !each.is_empty() {
        out.push('\n');
        out.push_str(&columns(&["Policy", "Rule", "Capabilities", "Alone allows"], &each));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_short_tables() {
        let d = json!({
            "path": "secret/data/app/x", "operation": "read", "allowed": false, "reason": "deny_wins",
            "capabilities": ["deny"], "message": "m",
            "decided_by": {"policies": ["deny-app"], "path": "secret/data/app/*", "capabilities": ["deny"]},
            "policies": [
                {"name": "reader", "rule": {"path": "secret/data/*", "capabilities": ["list", "read"]}, "allowed": true},
                {"name": "default", "rule": null, "allowed": false}
            ]
        });
        let out = render(&d);
        assert!(out.contains("decided_by      secret/data/app/* [deny] (policy deny-app)\n"), "{out}");
        assert!(out.contains("reader     secret/data/*    [list read]     true\n"), "{out}");
        assert!(out.contains("default    n/a              n/a             false\n"), "{out}");
    }
}

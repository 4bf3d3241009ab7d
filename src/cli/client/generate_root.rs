//! `coffer operator generate-root`: share holders make a new root token (the server must have
//! `[seal] generate_root = true`). It starts an attempt with a one-time password made here (or
//! by the server), submits the shares, and decodes and prints the new token; `--init`, `--nonce`,
//! `--status`, `--cancel` and `--decode` cover holders who submit their shares apart.

use std::io::IsTerminal;

use clap::Args;
use reqwest::Method;
use serde_json::{json, Value};

use super::input::{line_from_stdin, prompt_hidden};
use super::output::{cell, emit, print_structured, table};
use super::{Api, CliError, ClientOpts, Format, Secret, EXIT_OK};
use crate::core::generate_root::attempt;

const ATTEMPT: &str = "sys/generate-root/attempt";
const UPDATE: &str = "sys/generate-root/update";

/// `coffer operator generate-root`.
#[derive(Debug, Args)]
pub struct GenerateRootArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Show whether an attempt runs and how many shares it has.
    #[arg(long, conflicts_with_all = ["cancel", "init", "decode", "key", "nonce"])]
    pub status: bool,
    /// Cancel the attempt whose --nonce is given.
    #[arg(long, requires = "nonce", conflicts_with_all = ["init", "decode", "key"])]
    pub cancel: bool,
    /// Only start an attempt and print its nonce and one-time password, for holders who submit
    /// their shares apart (`--nonce`).
    #[arg(long, conflicts_with_all = ["decode", "key", "nonce"])]
    pub init: bool,
    /// Let the server make the one-time password (it is returned once) instead of this command.
    #[arg(long, conflicts_with = "otp")]
    pub server_otp: bool,
    /// The nonce of a running attempt: add the shares to it (or cancel it) instead of starting one.
    #[arg(long, value_name = "NONCE")]
    pub nonce: Option<String>,
    /// The attempt's one-time password: used to start (`--init`), or to decode the token when
    /// the shares complete an attempt joined with --nonce, or with --decode.
    #[arg(long, value_name = "OTP")]
    pub otp: Option<Secret>,
    /// Decode an encoded token with --otp, offline.
    #[arg(long, value_name = "ENCODED", requires = "otp", conflicts_with_all = ["key", "nonce", "init"])]
    pub decode: Option<Secret>,
    /// A key share (hex or base64). `-` or nothing: every line of stdin, or hidden prompts until
    /// the attempt completes. A share given here is visible to other users in `ps`.
    #[arg(value_name = "KEY")]
    pub key: Option<Secret>,
}

/// Runs the command.
pub async fn run(a: GenerateRootArgs) -> Result<i32, CliError> {
    let format = a.conn.format;
    if let Some(encoded) = &a.decode {
        let otp = a.otp.as_ref().ok_or_else(|| CliError::Usage("--decode needs --otp".into()))?;
        let token = decode(encoded, otp)?;
        print_token(format, &token)?;
        return Ok(EXIT_OK);
    }
    let api = Api::new(&a.conn)?.anonymous();
    if a.status {
        let body = api.read(ATTEMPT).await?.unwrap_or(Value::Null);
        print_status(format, &body, None)?;
        return Ok(EXIT_OK);
    }
    if a.cancel {
        let nonce = a.nonce.as_deref().unwrap_or_default();
        call(&api, Method::DELETE, ATTEMPT, Some(&json!({ "nonce": nonce }))).await?;
        if format == Format::Table {
            emit("Success! Root token generation canceled (if it was started)\n")?;
        }
        return Ok(EXIT_OK);
    }
    let (nonce, otp, started_here) = match &a.nonce {
        Some(n) => (n.clone(), a.otp.clone(), false),
        None => {
            let (n, otp) = start(&api, a.otp.clone(), a.server_otp).await?;
            (n, Some(otp), true)
        }
    };
    if a.init {
        let mut body = api.read(ATTEMPT).await?.unwrap_or(Value::Null);
        if let Some(obj) = body.as_object_mut() {
            obj.insert("nonce".into(), json!(nonce));
            obj.insert("otp".into(), json!(otp.as_ref().map(Secret::expose).unwrap_or_default()));
        }
        print_status(format, &body, otp.as_ref())?;
        return Ok(EXIT_OK);
    }
    let outcome = submit(&api, a.key.as_ref(), &nonce).await;
    let last = match outcome {
        Ok(last) => last,
        Err(e) => {
            // An attempt this command started cannot be finished without its OTP, which only this
            // process has: cancel it rather than leave it blocking other holders.
            if started_here && a.otp.is_none() {
                let _ = api.call(Method::DELETE, ATTEMPT, Some(&json!({ "nonce": nonce }))).await;
            }
            return Err(e);
        }
    };
    let complete = last.get("complete").and_then(Value::as_bool) == Some(true);
    let encoded = last.get("encoded_token").and_then(Value::as_str).unwrap_or_default().to_string();
    match (complete, otp.as_ref()) {
        (true, Some(otp)) => {
            let token = decode(&Secret::new(encoded), otp)?;
            print_token(format, &token)?;
            if format == Format::Table {
                eprintln!("A new root token was made. Revoke it (coffer token revoke --self) once the work is done.");
            }
        }
        (true, None) => {
            print_status(format, &last, None)?;
            if format == Format::Table {
                eprintln!("Decode the token with the attempt's one-time password: coffer operator generate-root --decode ENCODED --otp OTP");
            }
        }
        (false, otp) => {
            let mut shown = last.clone();
            if let Some(obj) = shown.as_object_mut() {
                obj.insert("nonce".into(), json!(nonce));
            }
            let otp = if started_here { otp } else { None };
            if let (Some(obj), Some(o)) = (shown.as_object_mut(), otp) {
                obj.insert("otp".into(), json!(o.expose()));
            }
            print_status(format, &shown, otp)?;
            if format == Format::Table {
                eprintln!("More shares are needed: coffer operator generate-root --nonce {nonce} [--otp OTP] -");
            }
        }
    }
    Ok(EXIT_OK)
}

/// [`Api::call`], with the meaning of a 403 here: the nonce (no token is involved).
async fn call(api: &Api, method: Method, path: &str, body: Option<&Value>) -> Result<Option<Value>, CliError> {
    match api.call(method, path, body).await {
        Err(CliError::Api { status: 403, path, .. }) => Err(CliError::Api {
            status: 403,
            path,
            message: "permission denied: the nonce is missing or not the running attempt's".into(),
        }),
        other => other,
    }
}

/// Starts an attempt; returns its nonce and OTP (made here unless `server_otp`).
async fn start(api: &Api, otp: Option<Secret>, server_otp: bool) -> Result<(String, Secret), CliError> {
    let otp = match (otp, server_otp) {
        (Some(o), _) => Some(o),
        (None, true) => None,
        (None, false) => {
            let status = api.read(ATTEMPT).await?.unwrap_or(Value::Null);
            let len = status.get("otp_length").and_then(Value::as_u64).unwrap_or(0);
            let len = usize::try_from(len).unwrap_or(0);
            if len == 0 {
                return Err(CliError::Other("the server does not say how long the one-time password must be".into()));
            }
            Some(Secret::new(crate::crypto::random_base62(len)))
        }
    };
    let body = json!({ "otp": otp.as_ref().map(Secret::expose).unwrap_or_default() });
    let resp = api.call(Method::PUT, ATTEMPT, Some(&body)).await?.unwrap_or(Value::Null);
    let nonce = resp.get("nonce").and_then(Value::as_str).unwrap_or_default().to_string();
    if nonce.is_empty() {
        return Err(CliError::Other("the server started no attempt (no nonce in its answer)".into()));
    }
    let otp = match otp {
        Some(o) => o,
        None => Secret::new(resp.get("otp").and_then(Value::as_str).unwrap_or_default().to_string()),
    };
    Ok((nonce, otp))
}

/// Submits shares (the argument, every line of stdin, or prompts) until none is left or the
/// attempt completes; returns the last answer.
async fn submit(api: &Api, key: Option<&Secret>, nonce: &str) -> Result<Value, CliError> {
    let mut last = Value::Null;
    let from_arg = key.filter(|k| k.expose() != "-");
    let prompting = from_arg.is_none() && std::io::stdin().is_terminal();
    loop {
        let share = match from_arg {
            Some(k) if last.is_null() => k.clone(),
            Some(_) => break,
            None if prompting => prompt_hidden(
                "Unseal Key (will be hidden): ",
                "give the shares on stdin, one per line: coffer operator generate-root - < shares.txt",
            )?,
            None => {
                let line = line_from_stdin()?;
                if line.is_empty() {
                    break;
                }
                Secret::new(line.expose().trim().to_string())
            }
        };
        let body = json!({ "key": share.expose(), "nonce": nonce });
        last = call(api, Method::PUT, UPDATE, Some(&body)).await?.unwrap_or(Value::Null);
        if last.get("complete").and_then(Value::as_bool) == Some(true) {
            break;
        }
    }
    if last.is_null() {
        return Err(CliError::Usage("no key share given (argument, stdin or prompt)".into()));
    }
    Ok(last)
}

fn decode(encoded: &Secret, otp: &Secret) -> Result<Secret, CliError> {
    let bytes = attempt::decode(encoded.expose(), otp.expose().as_bytes()).ok_or_else(|| {
        CliError::Other("the encoded token does not decode with this one-time password (wrong OTP or length)".into())
    })?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| CliError::Other("the decoded token is not text: wrong one-time password".into()))?;
    Ok(Secret::new(text))
}

fn print_token(format: Format, token: &Secret) -> Result<(), CliError> {
    if format != Format::Table {
        return print_structured(format, &json!({ "token": token.expose() }));
    }
    emit(&table(("Key", "Value"), &[("Root Token".to_string(), token.expose().to_string())]))
}

fn print_status(format: Format, body: &Value, otp: Option<&Secret>) -> Result<(), CliError> {
    if format != Format::Table {
        return print_structured(format, body);
    }
    let g = |k: &str| cell(body.get(k).unwrap_or(&Value::Null));
    let mut rows = Vec::new();
    if body.get("nonce").and_then(Value::as_str).is_some_and(|n| !n.is_empty()) {
        rows.push(("Nonce".to_string(), g("nonce")));
    }
    rows.push(("Started".to_string(), g("started")));
    rows.push(("Progress".to_string(), format!("{}/{}", g("progress"), g("required"))));
    rows.push(("Complete".to_string(), g("complete")));
    if let Some(otp) = otp {
        rows.push(("OTP".to_string(), otp.expose().to_string()));
    }
    rows.push(("OTP Length".to_string(), g("otp_length")));
    if body.get("encoded_token").and_then(Value::as_str).is_some_and(|t| !t.is_empty()) {
        rows.push(("Encoded Token".to_string(), g("encoded_token")));
    }
    emit(&table(("Key", "Value"), &rows))
}

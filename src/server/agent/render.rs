//! The agent's templates: read the secrets a template names, render it with the language of
//! `coffer run --template` (`base::template`), and write it atomically when it changed, then run
//! its command or send its signal. A failed read keeps the last good file; nothing empty is ever
//! written.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use reqwest::Method;
use rustix::process::{kill_process, Pid};
use secrecy::SecretString;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::client::{CallError, Client};
use super::config::Template;
use super::lifetime::Shared;
use crate::base::template::{self, Part};

/// How a path is read.
#[derive(Debug, Clone)]
enum Route {
    /// KV version 2: `{mount}data/{rest}`, the fields in `data.data`.
    KvV2 { mount: String, rest: String },
    /// Anything else, the fields in `data` (leased answers come this way).
    Plain,
}

/// One read: the fields, and the lease in seconds if the answer has one.
struct Read {
    data: Map<String, Value>,
    lease: Option<u64>,
}

/// Runs one template for as long as the agent runs.
pub async fn run(t: Template, client: Client, mut token: Shared) {
    let parts = match template::parse(&t.text) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("agent: template {}: {e}", t.name);
            return;
        }
    };
    let paths: Vec<String> = {
        let mut p = template::paths(&parts);
        p.sort();
        p.dedup();
        p
    };
    let mut routes: HashMap<String, Route> = HashMap::new();
    let mut last: Option<[u8; 32]> = None;
    loop {
        let current = loop {
            if let Some(tok) = token.borrow_and_update().clone() {
                break tok;
            }
            if token.changed().await.is_err() {
                return;
            }
        };
        let next = match once(&t, &parts, &paths, &client, &current, &mut routes, &mut last).await {
            Ok(lease) => lease.map(|l| Duration::from_secs((l / 2).max(1))).map_or(t.interval, |h| h.min(t.interval)),
            Err(e) => {
                tracing::warn!("agent: template {}: {e}; the last render stays", t.name);
                t.interval.min(Duration::from_secs(2))
            }
        };
        tokio::time::sleep(next).await;
    }
}

/// Reads, renders and writes once; answers the shortest lease seen.
async fn once(
    t: &Template,
    parts: &[Part],
    paths: &[String],
    client: &Client,
    token: &SecretString,
    routes: &mut HashMap<String, Route>,
    last: &mut Option<[u8; 32]>,
) -> Result<Option<u64>, String> {
    let mut secrets = BTreeMap::new();
    let mut lease: Option<u64> = None;
    for p in paths {
        let route = match routes.get(p) {
            Some(r) => r.clone(),
            None => {
                let r = resolve(client, token, p).await.map_err(|e| format!("{p}: {e}"))?;
                routes.insert(p.clone(), r.clone());
                r
            }
        };
        let read = read(client, token, p, &route).await.map_err(|e| format!("{p}: {e}"))?;
        if let Some(l) = read.lease {
            lease = Some(lease.map_or(l, |m| m.min(l)));
        }
        secrets.insert(p.clone(), read.data);
    }
    let text = template::render(parts, &secrets)?;
    if text.is_empty() {
        return Err("the template renders to nothing; not writing an empty file".into());
    }
    let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    if last.as_ref() == Some(&digest) {
        return Ok(lease);
    }
    template::write_file_atomic(&t.destination, text.as_bytes(), t.perms)
        .map_err(|e| format!("cannot write {}: {e}", t.destination.display()))?;
    *last = Some(digest);
    tracing::info!("agent: rendered {}", t.destination.display());
    after_render(t).await;
    Ok(lease)
}

/// Finds how `path` is read: its mount's type from `sys/internal/ui/mounts`.
async fn resolve(client: &Client, token: &SecretString, path: &str) -> Result<Route, CallError> {
    let p = path.trim_start_matches('/');
    let answer = match client.call(Method::GET, &format!("sys/internal/ui/mounts/{p}"), Some(token), None).await {
        Ok(a) => a,
        // A token allowed on the secret but not on the discovery path: assume KV v2 on the first
        // segment, as `coffer kv` does; the read itself then succeeds or says why.
        Err(CallError::Refused { status: 403, .. }) => {
            let (mount, rest) = p.split_once('/').unwrap_or((p, ""));
            return Ok(Route::KvV2 { mount: format!("{mount}/"), rest: rest.to_string() });
        }
        Err(e) => return Err(e),
    };
    let data = answer.get("data").cloned().unwrap_or(Value::Null);
    let mount = data.get("path").and_then(Value::as_str).map(|m| format!("{}/", m.trim_end_matches('/')));
    let kind = data.get("type").and_then(Value::as_str).unwrap_or("");
    let version = data.pointer("/options/version").and_then(Value::as_str).unwrap_or("1");
    let v2 = kind == "kv-v2" || (matches!(kind, "kv" | "generic") && version == "2");
    match mount {
        Some(m) if v2 => {
            let rest = p.strip_prefix(m.as_str()).unwrap_or(p).to_string();
            Ok(Route::KvV2 { mount: m, rest })
        }
        _ => Ok(Route::Plain),
    }
}

async fn read(client: &Client, token: &SecretString, path: &str, route: &Route) -> Result<Read, CallError> {
    let api_path = match route {
        Route::KvV2 { mount, rest } => format!("{mount}data/{rest}"),
        Route::Plain => path.trim_start_matches('/').to_string(),
    };
    let answer = client.call(Method::GET, &api_path, Some(token), None).await?;
    let data = match route {
        Route::KvV2 { .. } => answer.pointer("/data/data"),
        Route::Plain => answer.get("data"),
    };
    let data = data
        .and_then(Value::as_object)
        .cloned()
        .ok_or(CallError::Refused { status: 404, errors: format!("no data at {api_path}") })?;
    let lease_id = answer.get("lease_id").and_then(Value::as_str).unwrap_or("");
    let lease = answer.get("lease_duration").and_then(Value::as_u64).filter(|l| *l > 0 && !lease_id.is_empty());
    Ok(Read { data, lease })
}

/// Runs the command (bounded) and sends the signal, logging what fails.
async fn after_render(t: &Template) {
    if let Some((sig, pid_file)) = &t.signal {
        let pid =
            std::fs::read_to_string(pid_file).ok().and_then(|s| s.trim().parse::<i32>().ok()).and_then(Pid::from_raw);
        match pid {
            Some(pid) => {
                if let Err(e) = kill_process(pid, sig.0) {
                    tracing::warn!(
                        "agent: cannot signal pid {} from {}: {e}",
                        pid.as_raw_nonzero(),
                        pid_file.display()
                    );
                }
            }
            None => tracing::warn!("agent: no pid in {}; no signal sent", pid_file.display()),
        }
    }
    if let Some(argv) = t.command.clone() {
        let dest = t.destination.display().to_string();
        let run = tokio::task::spawn_blocking(move || run_command(&argv));
        match run.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("agent: the command of {dest}: {e}"),
            Err(e) => tracing::warn!("agent: the command of {dest} did not finish: {e}"),
        }
    }
}

/// Runs `argv` (no shell, stdin closed) and waits up to 30 s for it, then kills it.
fn run_command(argv: &[String]) -> Result<(), String> {
    let Some((prog, args)) = argv.split_first() else { return Ok(()) };
    let mut child = std::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {prog}: {e}"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(format!("{prog} exited with {s}")),
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{prog} took over 30s and was killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{prog}: {e}")),
        }
    }
}

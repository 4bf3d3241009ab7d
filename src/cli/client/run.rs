//! `coffer run`: fetches secrets, hands them to a command as environment variables and rendered
//! files, forwards signals to it, returns its exit code, and with `--watch` restarts it (or
//! signals it) when a secret changes; an optional encrypted cache covers short server outages.
//!
//! The child is reaped only after `waitid(WNOWAIT)` said it exited and the supervisor stopped
//! sending it signals, so a signal can never reach a recycled process id.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use clap::Args;
use rustix::process::{Pid, Signal};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::signal::unix::{signal, SignalKind};
use zeroize::Zeroizing;

use super::cache::Cache;
use super::template::{parse_spec, Template};
use super::{env_guard, kv, Api, CliError, ClientOpts};

/// `coffer run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// A secret whose fields become environment variables, upper-cased, other characters as `_`,
    /// after an optional prefix: PATH or PATH:PREFIX (repeat for more).
    #[arg(long = "secret", value_name = "PATH[:PREFIX]")]
    pub secrets: Vec<String>,
    /// One variable from one field: NAME=PATH#FIELD (repeat; wins over --secret). The only way
    /// to set a variable that changes how programs load or run (LD_*, PATH, PYTHONPATH, …).
    #[arg(long = "env", value_name = "NAME=PATH#FIELD")]
    pub envs: Vec<String>,
    /// Pass COFFER_TOKEN and VAULT_TOKEN on to the command (by default they are removed from its
    /// environment).
    #[arg(long)]
    pub keep_token: bool,
    /// Render a template file with {{ secret "PATH" "FIELD" }} placeholders to OUT (mode 0600,
    /// replaced atomically) before the command starts (repeat for more).
    #[arg(long = "template", value_name = "IN:OUT")]
    pub templates: Vec<String>,
    /// Keep polling the secrets; when one changes, re-render the templates and restart the
    /// command (or send it --watch-signal).
    #[arg(long)]
    pub watch: bool,
    /// With --watch: send this signal (SIGHUP, USR1, …) instead of restarting.
    #[arg(long, value_name = "SIGNAL", requires = "watch", value_parser = parse_signal)]
    pub watch_signal: Option<NamedSignal>,
    /// With --watch: how often to poll (`30s`, `500ms`, `5m`).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub watch_interval: Duration,
    /// How long a command being restarted gets between SIGTERM and SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub kill_timeout: Duration,
    /// Keep an encrypted copy of every fetched secret here (key derived from the token), and
    /// use it when the server cannot be reached.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Use a cached copy only if it is younger than this (`0s`: never).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration, requires = "cache_dir")]
    pub fallback_max_age: Duration,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

use crate::base::signal::SIGNALS;
pub use crate::base::signal::{parse_signal, NamedSignal};

/// Parses `500ms`, `30s`, `10m`, `1h30m` or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let err = || format!("invalid duration {s:?}: use e.g. 500ms, 30s, 10m, 1h30m");
    if let Ok(n) = t.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        let tail = &rest[digits..];
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let d = match &tail[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86400)),
            _ => return Err(err()),
        };
        total = total.saturating_add(d);
        rest = &tail[unit_len..];
    }
    Ok(total)
}

/// `--secret PATH[:PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    /// The secret's path.
    pub path: String,
    /// Put before every variable name.
    pub prefix: String,
}

/// Parses `PATH[:PREFIX]`.
pub fn parse_secret_spec(s: &str) -> Result<SecretSpec, CliError> {
    let (path, prefix) = s.split_once(':').unwrap_or((s, ""));
    if path.trim_matches('/').is_empty() {
        return Err(CliError::Usage(format!("--secret {s:?}: the path is empty")));
    }
    if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(CliError::Usage(format!("--secret {s:?}: a prefix holds only letters, digits and _")));
    }
    Ok(SecretSpec { path: path.trim_start_matches('/').to_string(), prefix: prefix.to_string() })
}

/// `--env NAME=PATH#FIELD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSpec {
    /// The variable.
    pub name: String,
    /// The secret's path.
    pub path: String,
    /// The field.
    pub field: String,
}

/// Parses `NAME=PATH#FIELD`.
pub fn parse_env_spec(s: &str) -> Result<EnvSpec, CliError> {
    let bad = || CliError::Usage(format!("--env {s:?}: expected NAME=PATH#FIELD"));
    let (name, rest) = s.split_once('=').ok_or_else(bad)?;
    let (path, field) = rest.rsplit_once('#').ok_or_else(bad)?;
    if name.is_empty() || name.contains('\0') || path.trim_matches('/').is_empty() || field.is_empty() {
        return Err(bad());
    }
    Ok(EnvSpec { name: name.to_string(), path: path.trim_start_matches('/').to_string(), field: field.to_string() })
}

/// The variable name for `field` under `prefix`: upper-case; anything but ASCII letters and
/// digits becomes `_`.
pub fn env_name(prefix: &str, field: &str) -> String {
    let mapped: String =
        field.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("{prefix}{mapped}")
}

/// The fetched secrets: path → fields.
pub type Secrets = BTreeMap<String, Map<String, Value>>;

/// The environment for the command: `--secret` mappings, then `--env` (which wins). Two secrets
/// that map to the same variable are an error, and so is a `--secret` mapping to a variable that
/// changes how programs load or run ([`env_guard`]) unless `--env` names that variable.
pub fn build_env(
    secrets: &[SecretSpec],
    envs: &[EnvSpec],
    values: &Secrets,
) -> Result<Vec<(String, Zeroizing<String>)>, CliError> {
    let mut out: BTreeMap<String, (String, Zeroizing<String>)> = BTreeMap::new();
    for spec in secrets {
        let data = values.get(&spec.path).ok_or_else(|| CliError::Other(format!("{} was not fetched", spec.path)))?;
        for (field, v) in data {
            let name = env_name(&spec.prefix, field);
            if env_guard::is_guarded(&name) && !envs.iter().any(|e| e.name == name) {
                return Err(CliError::Other(format!(
                    "{name} (from {}#{field}) changes how programs load or run, so coffer run sets it only when \
                     --env names it: --env {name}={}#{field}",
                    spec.path, spec.path
                )));
            }
            if let Some((from, _)) = out.get(&name) {
                return Err(CliError::Other(format!(
                    "{name} would be set from both {from} and {}#{field}; give one of them a prefix (PATH:PREFIX)",
                    spec.path
                )));
            }
            out.insert(name, (format!("{}#{field}", spec.path), value_text(v)));
        }
    }
    for e in envs {
        let data = values.get(&e.path).ok_or_else(|| CliError::Other(format!("{} was not fetched", e.path)))?;
        let v = data.get(&e.field).ok_or_else(|| CliError::Other(format!("{} has no field {:?}", e.path, e.field)))?;
        out.insert(e.name.clone(), (format!("{}#{}", e.path, e.field), value_text(v)));
    }
    Ok(out.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

fn value_text(v: &Value) -> Zeroizing<String> {
    Zeroizing::new(match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// A digest of every fetched value, to notice changes without keeping a second copy.
fn digest(values: &Secrets) -> [u8; 32] {
    let mut h = Sha256::new();
    for (path, data) in values {
        h.update(path.as_bytes());
        h.update([0]);
        let mut fields: Vec<_> = data.iter().collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in fields {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(Zeroizing::new(v.to_string()).as_bytes());
            h.update([0]);
        }
        h.update([1]);
    }
    h.finalize().into()
}

/// Fetches secrets, falling back on the cache during outages.
struct Fetcher {
    api: Api,
    cache: Option<Cache>,
    max_age: Duration,
}

impl Fetcher {
    async fn fetch(&self, path: &str) -> Result<Map<String, Value>, CliError> {
        match kv::read_data(&self.api, path, None).await {
            Ok((data, meta)) => {
                if let Some(c) = &self.cache {
                    let version = meta.get("version").cloned().unwrap_or(Value::Null);
                    if let Err(e) = c.store(path, &data, &version) {
                        eprintln!("Warning: {e}");
                    }
                }
                Ok(data)
            }
            Err(e) if e.is_outage() => {
                let Some(cache) = &self.cache else {
                    return Err(e);
                };
                let max = crate::base::duration::format(self.max_age.as_secs());
                match cache.load(path) {
                    Ok(Some(c)) if c.age < self.max_age => {
                        eprintln!(
                            "Warning: {e}; using the cached copy of {path} (version {}, fetched {} ago)",
                            super::output::cell(&c.version),
                            crate::base::duration::format(c.age.as_secs())
                        );
                        Ok(c.data)
                    }
                    Ok(Some(c)) => Err(CliError::Other(format!(
                        "{e}; the cached copy of {path} is {} old, not younger than --fallback-max-age {max}",
                        crate::base::duration::format(c.age.as_secs())
                    ))),
                    Ok(None) => Err(CliError::Other(format!("{e}; no cached copy of {path}"))),
                    Err(ce) => Err(CliError::Other(format!("{e}; {ce}"))),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn fetch_all(&self, paths: &BTreeSet<String>) -> Result<Secrets, CliError> {
        let mut out = Secrets::new();
        for p in paths {
            out.insert(p.clone(), self.fetch(p).await?);
        }
        Ok(out)
    }
}

/// A running command.
struct Child {
    inner: std::process::Child,
    pid: Pid,
    exited: tokio::task::JoinHandle<()>,
}

impl Child {
    /// Sends `sig` to the child. Safe from pid reuse: the child is not reaped before `reap`.
    fn signal(&self, sig: Signal) {
        if let Err(e) = rustix::process::kill_process(self.pid, sig) {
            if e != rustix::io::Errno::SRCH {
                eprintln!("Warning: cannot send signal {} to the command: {e}", sig.as_raw());
            }
        }
    }

    /// Reaps the child once `exited` finished.
    fn reap(mut self) -> Result<ExitStatus, CliError> {
        self.inner.wait().map_err(|e| CliError::Other(format!("cannot collect the command's exit status: {e}")))
    }
}

/// Blocks until `pid` has exited, leaving it waitable (`WNOWAIT`).
fn wait_exited(pid: Pid) {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    loop {
        match waitid(WaitId::Pid(pid), WaitIdOptions::EXITED | WaitIdOptions::NOWAIT) {
            Err(rustix::io::Errno::INTR) => continue,
            _ => return,
        }
    }
}

/// Why a command could not start, with the shell's exit code for it.
struct SpawnFailure {
    code: i32,
    message: String,
}

/// The variables that carry this CLI's token; the command inherits them only with `--keep-token`.
const TOKEN_VARS: [&str; 2] = ["COFFER_TOKEN", "VAULT_TOKEN"];

fn spawn(command: &[OsString], env: &[(String, Zeroizing<String>)], keep_token: bool) -> Result<Child, SpawnFailure> {
    let Some((program, args)) = command.split_first() else {
        return Err(SpawnFailure { code: super::EXIT_USAGE, message: "no command given after --".into() });
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    if !keep_token {
        for k in TOKEN_VARS {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v.as_str());
    }
    let shown = program.to_string_lossy();
    let inner = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SpawnFailure { code: 127, message: format!("{shown}: command not found") },
        std::io::ErrorKind::PermissionDenied => {
            SpawnFailure { code: 126, message: format!("{shown}: permission denied") }
        }
        _ => SpawnFailure { code: 126, message: format!("cannot start {shown}: {e}") },
    })?;
    let pid = Pid::from_child(&inner);
    let exited = tokio::task::spawn_blocking(move || wait_exited(pid));
    Ok(Child { inner, pid, exited })
}

/// The shell's convention: the exit code, or 128 + the signal that killed the command.
pub fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => 1,
    }
}

/// Stops a child for a restart: SIGTERM, then SIGKILL after `timeout`.
async fn stop(mut child: Child, timeout: Duration) -> Result<ExitStatus, CliError> {
    child.signal(Signal::TERM);
    if tokio::time::timeout(timeout, &mut child.exited).await.is_err() {
        eprintln!("Warning: the command did not stop within {timeout:?} of SIGTERM; sending SIGKILL");
        child.signal(Signal::KILL);
        let _ = (&mut child.exited).await;
    }
    child.reap()
}

/// A signal cannot hand new values to a command that only reads its environment (fixed at its
/// start): `--watch-signal` pairs with `--template`, whose files the command can read again.
fn watch_signal_warning(signal: Option<NamedSignal>, has_templates: bool) -> Option<String> {
    let sig = signal?;
    if has_templates {
        return None;
    }
    let name = SIGNALS.iter().find(|(_, s)| *s == sig.0).map_or("?", |(n, _)| *n);
    Some(format!(
        "--watch-signal SIG{name} without --template: the command's environment is fixed when it starts, so the \
         signal cannot give it the new values of --secret/--env; render them with --template for it to \
         read again, or leave out --watch-signal to restart the command"
    ))
}

/// Runs `coffer run`.
pub async fn run(a: RunArgs) -> Result<i32, CliError> {
    let secret_specs = a.secrets.iter().map(|s| parse_secret_spec(s)).collect::<Result<Vec<_>, _>>()?;
    let env_specs = a.envs.iter().map(|s| parse_env_spec(s)).collect::<Result<Vec<_>, _>>()?;
    let mut templates = Vec::new();
    for spec in &a.templates {
        let (i, o) = parse_spec(spec).map_err(|e| CliError::Usage(format!("--template: {e}")))?;
        templates.push(Template::load(&i, &o)?);
    }
    let mut paths: BTreeSet<String> = secret_specs.iter().map(|s| s.path.clone()).collect();
    paths.extend(env_specs.iter().map(|e| e.path.clone()));
    for t in &templates {
        paths.extend(t.paths());
    }
    if paths.is_empty() {
        return Err(CliError::Usage("nothing to fetch: give --secret, --env or --template".into()));
    }
    if let Some(w) = watch_signal_warning(a.watch_signal, !a.templates.is_empty()) {
        eprintln!("Warning: {w}");
    }
    let api = Api::new(&a.conn)?;
    let cache = match &a.cache_dir {
        Some(dir) => {
            let token = api.token().cloned().ok_or_else(|| {
                CliError::Usage("--cache-dir needs a token (its key is derived from it): log in first".into())
            })?;
            Some(Cache::open(dir, api.addr(), &token)?)
        }
        None => None,
    };
    let fetcher = Fetcher { api, cache, max_age: a.fallback_max_age };

    let values = fetcher.fetch_all(&paths).await?;
    let mut env = build_env(&secret_specs, &env_specs, &values)?;
    for t in &templates {
        t.render_to_file(&values)?;
    }
    let mut seen = digest(&values);

    // Signal handlers are in place before the child starts, so none is lost in between.
    let sig_err = |e: std::io::Error| CliError::Other(format!("cannot handle signals: {e}"));
    let mut term = signal(SignalKind::terminate()).map_err(sig_err)?;
    let mut int = signal(SignalKind::interrupt()).map_err(sig_err)?;
    let mut hup = signal(SignalKind::hangup()).map_err(sig_err)?;
    let mut quit = signal(SignalKind::quit()).map_err(sig_err)?;

    let mut child = match spawn(&a.command, &env, a.keep_token) {
        Ok(c) => c,
        Err(f) => {
            eprintln!("Error: {}", f.message);
            return Ok(f.code);
        }
    };
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + a.watch_interval, a.watch_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut child.exited => {
                return Ok(exit_code(child.reap()?));
            }
            Some(()) = term.recv() => child.signal(Signal::TERM),
            Some(()) = int.recv() => child.signal(Signal::INT),
            Some(()) = hup.recv() => child.signal(Signal::HUP),
            Some(()) = quit.recv() => child.signal(Signal::QUIT),
            _ = ticker.tick(), if a.watch => {
                let fresh = match fetcher.fetch_all(&paths).await {
                    Ok(v) => v,
                    Err(e) => {
                        eprintln!("Warning: cannot refresh the secrets ({e}); the command keeps its values");
                        continue;
                    }
                };
                let d = digest(&fresh);
                if d == seen {
                    continue;
                }
                let new_env = match build_env(&secret_specs, &env_specs, &fresh) {
                    Ok(e) => e,
                    Err(e) => {
                        eprintln!("Warning: the changed secrets cannot be used ({e}); the command keeps its values");
                        continue;
                    }
                };
                let mut rendered = true;
                for t in &templates {
                    if let Err(e) = t.render_to_file(&fresh) {
                        eprintln!("Warning: {e}");
                        rendered = false;
                    }
                }
                if !rendered {
                    continue;
                }
                seen = d;
                env = new_env;
                match a.watch_signal {
                    Some(NamedSignal(sig)) => {
                        eprintln!("coffer run: a secret changed; sending signal {} to the command", sig.as_raw());
                        child.signal(sig);
                    }
                    None => {
                        eprintln!("coffer run: a secret changed; restarting the command");
                        stop(child, a.kill_timeout).await?;
                        child = match spawn(&a.command, &env, a.keep_token) {
                            Ok(c) => c,
                            Err(f) => {
                                eprintln!("Error: {}", f.message);
                                return Ok(f.code);
                            }
                        };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_watch_signal_without_a_template_warns() {
        let hup = parse_signal("SIGHUP").ok();
        let w = watch_signal_warning(hup, false).unwrap_or_default();
        assert!(w.contains("--watch-signal SIGHUP without --template") && w.contains("environment is fixed"), "{w}");
        assert_eq!(watch_signal_warning(hup, true), None);
        assert_eq!(watch_signal_warning(None, false), None);
    }

    #[test]
    fn names_and_specs() {
        assert_eq!(env_name("DB_", "pass-word.x"), "DB_PASS_WORD_X");
        assert_eq!(env_name("", "apiKey"), "APIKEY");
        assert_eq!(
            parse_secret_spec("secret/db:DB_").unwrap(),
            SecretSpec { path: "secret/db".into(), prefix: "DB_".into() }
        );
        assert!(parse_secret_spec("secret/db:D-B").is_err());
        assert_eq!(
            parse_env_spec("X=secret/app#f").unwrap(),
            EnvSpec { name: "X".into(), path: "secret/app".into(), field: "f".into() }
        );
        assert!(parse_env_spec("X=secret/app").is_err());
        assert!(parse_env_spec("=secret/app#f").is_err());
    }

    #[test]
    fn durations_and_signals() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_signal("SIGHUP").unwrap(), NamedSignal(Signal::HUP));
        assert_eq!(parse_signal("usr1").unwrap(), NamedSignal(Signal::USR1));
        assert!(parse_signal("SIGFOO").is_err());
    }

    #[test]
    fn env_from_secrets() {
        let mut v = Secrets::new();
        v.insert("secret/app".into(), json!({"api-key": "k", "port": 1}).as_object().cloned().unwrap());
        v.insert("secret/db".into(), json!({"pass": "p"}).as_object().cloned().unwrap());
        let specs = vec![parse_secret_spec("secret/app").unwrap(), parse_secret_spec("secret/db:DB_").unwrap()];
        let envs = vec![parse_env_spec("PORT=secret/db#pass").unwrap()];
        let env = build_env(&specs, &envs, &v).unwrap();
        let got: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k, v.to_string())).collect();
        assert_eq!(
            got,
            vec![("API_KEY".into(), "k".into()), ("DB_PASS".into(), "p".into()), ("PORT".into(), "p".into()),]
        );
        // A field that would set a loader or interpreter variable needs --env.
        v.insert("secret/evil".into(), json!({"ld_preload": "/tmp/x.so", "ok": "1"}).as_object().cloned().unwrap());
        let evil = vec![parse_secret_spec("secret/evil").unwrap()];
        assert!(build_env(&evil, &[], &v).is_err());
        let named = vec![parse_env_spec("LD_PRELOAD=secret/evil#ld_preload").unwrap()];
        assert_eq!(build_env(&evil, &named, &v).unwrap().len(), 2);
        let clash = vec![parse_secret_spec("secret/app").unwrap(), parse_secret_spec("secret/db").unwrap()];
        v.get_mut("secret/db").unwrap().insert("port".into(), json!("2"));
        assert!(build_env(&clash, &[], &v).is_err());
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
    }
}

//! `coffer kv …`: KV version 2 secrets by path (`secret/app` → `secret/data/app`), with the
//! mount found through `sys/internal/ui/mounts/<path>` as the vault CLI does; rotation schedules.

use std::io::IsTerminal;
use std::path::Path;

use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::input::{parse_pairs, plain_pairs, read_file_text, warn_inline};
use super::output::{
    cell, emit, emit_line, print_list, print_secret, print_structured, print_warnings, rows_of, table,
};
use super::{Api, CliError, ClientOpts, Format, EXIT_OK};

/// `coffer kv …`.
#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Read a secret (the latest version, or --version N)
    ///
    /// Examples:
    ///   coffer kv get secret/app
    ///   coffer kv get --version 2 secret/app
    ///   coffer kv get --field api_key secret/app        # the raw value, for scripts
    ///   coffer kv get --format json secret/app          # the whole answer, data and metadata
    #[command(verbatim_doc_comment)]
    Get(GetArgs),
    /// Write a new version of a secret (replaces every field)
    ///
    /// A value is KEY=VALUE, KEY=@FILE (the file's content) or KEY=- (all of stdin); a lone `-`
    /// reads a JSON object from stdin. Values written on the command line get a warning: shell
    /// history and other users' `ps` can see them.
    ///
    /// Examples:
    ///   coffer kv put secret/app db_pass=@db_pass.txt
    ///   printf %s "$API_KEY" | coffer kv put secret/app api_key=-
    ///   coffer kv put --cas 3 secret/app region=eu tier=gold
    #[command(verbatim_doc_comment)]
    Put(PutArgs),
    /// Change some fields of a secret, keeping the others (a new version; JSON merge patch)
    ///
    /// Examples:
    ///   coffer kv patch secret/app region=eu
    ///   coffer kv patch --cas 4 secret/app db_pass=@new_pass.txt
    #[command(verbatim_doc_comment)]
    Patch(PutArgs),
    /// Delete the latest version of a secret, or the given versions (they can be undeleted)
    ///
    /// Examples:
    ///   coffer kv delete secret/app
    ///   coffer kv delete --versions 1,2 secret/app
    #[command(verbatim_doc_comment)]
    Delete(DeleteArgs),
    /// Restore deleted versions of a secret
    ///
    /// Example:
    ///   coffer kv undelete --versions 3 secret/app
    #[command(verbatim_doc_comment)]
    Undelete(VersionsArgs),
    /// Destroy versions of a secret for good (their data is removed)
    ///
    /// Example:
    ///   coffer kv destroy --versions 1,2 secret/app
    #[command(verbatim_doc_comment)]
    Destroy(VersionsArgs),
    /// List the secrets under a path (names ending in `/` are folders)
    ///
    /// Examples:
    ///   coffer kv list secret/
    ///   coffer kv list --format json secret/app
    #[command(verbatim_doc_comment)]
    List(PathArgs),
    /// Find the secrets of a KV mount by folder, name, custom metadata or label (never by value)
    ///
    /// Only secrets you may list (their folder) or read are shown; with --metadata or --stage, only
    /// those you may read. Without --limit every page is fetched.
    ///
    /// Examples:
    ///   coffer kv search secret
    ///   coffer kv search --prefix app/ --name '*db*' secret
    ///   coffer kv search --metadata owner=team-a --stage pending secret
    ///   coffer kv search --limit 50 --after app/db secret
    #[command(verbatim_doc_comment)]
    Search(SearchArgs),
    /// Move a secret to another path of its mount, with every version, label, setting, request
    /// token and rotation schedule (refused if a secret is at the target)
    ///
    /// Needs read on the secret's data, delete on its metadata and create on the target's data.
    ///
    /// Example:
    ///   coffer kv move secret/app/db secret/archive/db
    #[command(verbatim_doc_comment)]
    Move(MoveArgs),
    /// A secret's metadata: versions, settings, custom metadata.
    #[command(subcommand)]
    Metadata(MetadataCommand),
    /// Rotate a secret now, with the rotator of its schedule (see `coffer kv rotation`)
    ///
    /// Example:
    ///   coffer kv rotate secret/app/db
    #[command(verbatim_doc_comment)]
    Rotate(PathArgs),
    /// Show, set or remove a secret's rotation schedule
    ///
    /// Without options: show the schedule, the last and next rotation, and any rotation in flight.
    /// With --schedule: set it (`rate(30 days)`, AWS `cron(0 4 * * ? *)` in UTC, or a period such
    /// as `720h`), with an optional --window and rotator. With --delete: stop scheduling.
    ///
    /// Examples:
    ///   coffer kv rotation secret/app/db
    ///   coffer kv rotation secret/app/db --schedule 'rate(30 days)' --window 3h --rotator-type password
    ///   coffer kv rotation secret/app/db --schedule 720h --rotator-type postgres \
    ///       --rotator-json '{"db_name":"pg","username":"app","strategy":"single"}'
    ///   coffer kv rotation secret/app/hook --schedule 'rate(7 days)' --rotator-json @webhook.json
    ///   coffer kv rotation --delete secret/app/db
    #[command(verbatim_doc_comment)]
    Rotation(RotationArgs),
}

/// `coffer kv metadata …`.
#[derive(Debug, Subcommand)]
pub enum MetadataCommand {
    /// Show a secret's metadata and the state of every version
    ///
    /// Example:
    ///   coffer kv metadata get secret/app
    #[command(verbatim_doc_comment)]
    Get(PathArgs),
    /// Change a secret's settings and custom metadata
    ///
    /// Examples:
    ///   coffer kv metadata put --max-versions 5 secret/app
    ///   coffer kv metadata put --custom-metadata owner=team-a --cas-required true secret/app
    ///   coffer kv metadata put --delete-version-after 720h secret/app
    #[command(verbatim_doc_comment)]
    Put(MetadataPutArgs),
    /// Delete a secret: its metadata and every version
    ///
    /// Example:
    ///   coffer kv metadata delete secret/app
    #[command(verbatim_doc_comment)]
    Delete(PathArgs),
}

/// A path and the connection options.
#[derive(Debug, Args)]
pub struct PathArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The secret's path, mount included (`secret/app`).
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// `coffer kv get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Read this version instead of the latest.
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,
    /// Print only this field's value, as it is (no table, no quotes).
    #[arg(long, value_name = "NAME")]
    pub field: Option<String>,
    /// The secret's path, mount included (`secret/app`).
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// `coffer kv put` and `coffer kv patch`.
#[derive(Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Check-and-set: write only if the latest version is N (0: only if the secret does not exist).
    #[arg(long, value_name = "N")]
    pub cas: Option<u64>,
    /// The secret's path, mount included (`secret/app`).
    #[arg(value_name = "PATH")]
    pub path: String,
    /// KEY=VALUE, KEY=@FILE or KEY=- (stdin); `-` alone: a JSON object from stdin.
    #[arg(value_name = "KEY=VALUE", required = true)]
    pub pairs: Vec<String>,
}

impl std::fmt::Debug for PutArgs {
    /// Only the keys: the values may be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutArgs")
            .field("conn", &self.conn)
            .field("cas", &self.cas)
            .field("path", &self.path)
            .field("keys", &super::input::keys_only(&self.pairs))
            .finish()
    }
}

/// `coffer kv delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Delete these versions instead of the latest (comma-separated or repeated).
    #[arg(long, value_name = "N,…", value_delimiter = ',')]
    pub versions: Vec<u64>,
    /// The secret's path, mount included (`secret/app`).
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// `coffer kv undelete` and `coffer kv destroy`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The versions (comma-separated or repeated).
    #[arg(long, value_name = "N,…", value_delimiter = ',', required = true)]
    pub versions: Vec<u64>,
    /// The secret's path, mount included (`secret/app`).
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// `coffer kv search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Only secrets whose path (inside the mount) starts with this (`app/`).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Only secrets whose name (the last path segment) matches this `*` glob (`'*db*'`).
    #[arg(long, value_name = "GLOB")]
    pub name: Option<String>,
    /// Only secrets whose custom metadata holds KEY with exactly VALUE (repeat: all must hold).
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// Only secrets with a version carrying this label (`current`, `pending`, `previous`, …).
    #[arg(long, value_name = "LABEL")]
    pub stage: Option<String>,
    /// Only secrets whose path sorts after this one (the last path of a previous page).
    #[arg(long, value_name = "PATH")]
    pub after: Option<String>,
    /// Show at most N secrets (default: all, fetched 1000 at a time).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// The KV version 2 mount (`secret`).
    #[arg(value_name = "MOUNT")]
    pub mount: String,
}

/// `coffer kv move`.
#[derive(Debug, Args)]
pub struct MoveArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The secret's path, mount included (`secret/app/db`).
    #[arg(value_name = "FROM")]
    pub from: String,
    /// The new path, in the same mount (`secret/archive/db`).
    #[arg(value_name = "TO")]
    pub to: String,
}

/// `coffer kv metadata put`.
#[derive(Debug, Args)]
pub struct MetadataPutArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Keep at most N versions (0: the mount's setting).
    #[arg(long, value_name = "N")]
    pub max_versions: Option<u64>,
    /// Require check-and-set on every write.
    #[arg(long, value_name = "BOOL")]
    pub cas_required: Option<bool>,
    /// Delete versions this long after they are written (`720h`; `0s`: never).
    #[arg(long, value_name = "DURATION")]
    pub delete_version_after: Option<String>,
    /// A custom metadata entry KEY=VALUE (repeat for more; replaces all custom metadata).
    #[arg(long, value_name = "KEY=VALUE")]
    pub custom_metadata: Vec<String>,
    /// The secret's path, mount included (`secret/app`).
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// The rotator types the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RotatorType {
    /// A new value from a password policy.
    Password,
    /// A PostgreSQL role's password, through the database engine.
    Postgres,
    /// An external HTTPS hook.
    Webhook,
}

impl RotatorType {
    fn as_str(self) -> &'static str {
        match self {
            RotatorType::Password => "password",
            RotatorType::Postgres => "postgres",
            RotatorType::Webhook => "webhook",
        }
    }
}

/// `coffer kv rotation`.
#[derive(Args)]
pub struct RotationArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// Set the schedule: `rate(30 days)`, `cron(0 4 * * ? *)` (UTC) or a period (`720h`).
    #[arg(long, value_name = "SCHEDULE", conflicts_with = "delete")]
    pub schedule: Option<String>,
    /// Start each rotation at a random point within this long after it is due (`3h`).
    #[arg(long, value_name = "DURATION", requires = "schedule")]
    pub window: Option<String>,
    /// The rotator's type (sets `type` in the rotator object).
    #[arg(long, value_enum, value_name = "TYPE", requires = "schedule")]
    pub rotator_type: Option<RotatorType>,
    /// The rotator's settings as a JSON object; `@FILE` reads it from a file, `-` from stdin
    /// (use one of those when it holds a webhook's `hmac_key`).
    #[arg(long, value_name = "JSON", requires = "schedule")]
    pub rotator_json: Option<String>,
    /// Remove the schedule (a rotation in flight is not rolled back).
    #[arg(long)]
    pub delete: bool,
    /// The secret's path, mount included (`secret/app`).
    #[arg(value_name = "PATH")]
    pub path: String,
}

impl std::fmt::Debug for RotationArgs {
    /// Without the rotator's settings: they may hold a webhook's `hmac_key`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotationArgs")
            .field("conn", &self.conn)
            .field("schedule", &self.schedule)
            .field("window", &self.window)
            .field("rotator_type", &self.rotator_type)
            .field("rotator_json", &self.rotator_json.as_ref().map(|_| "[redacted]"))
            .field("delete", &self.delete)
            .field("path", &self.path)
            .finish()
    }
}

/// A KV v2 path split at its mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvPath {
    /// The mount, with a trailing slash (`secret/`).
    pub mount: String,
    /// The path inside the mount (`app/db`), maybe empty.
    pub rest: String,
}

impl KvPath {
    /// The API path under one of the engine's prefixes: `api("data")` → `secret/data/app/db`.
    pub fn api(&self, part: &str) -> String {
        format!("{}{}/{}", self.mount, part, self.rest)
    }

    /// The path as the user wrote it (`secret/app/db`).
    pub fn display(&self) -> String {
        format!("{}{}", self.mount, self.rest)
    }

    fn require_secret(&self) -> Result<(), CliError> {
        if self.rest.trim_matches('/').is_empty() {
            return Err(CliError::Usage(format!("{} is a mount: give the path of a secret inside it", self.mount)));
        }
        Ok(())
    }
}

/// True if `sys/mounts` shows no secrets engine at `path` or a prefix of it; `None` if the token
/// may not read `sys/mounts`.
async fn unmounted(api: &Api, path: &str) -> Option<bool> {
    let body = api.read("sys/mounts").await.ok()??;
    let table = body.get("data").filter(|d| d.is_object()).unwrap_or(&body).as_object()?;
    let wanted = format!("{}/", path.trim_end_matches('/'));
    Some(!table.iter().any(|(mount, v)| v.get("type").is_some() && wanted.starts_with(mount.as_str())))
}

/// Finds the KV v2 mount serving `path` with `GET sys/internal/ui/mounts/<path>`.
pub async fn resolve(api: &Api, path: &str) -> Result<KvPath, CliError> {
    let p = path.trim_start_matches('/');
    if p.is_empty() {
        return Err(CliError::Usage("the path is empty: give one that starts with a mount (secret/app)".into()));
    }
    let body = match api.read(&format!("sys/internal/ui/mounts/{p}")).await {
        // A token allowed on the secret but refused the discovery path (a plain "permission
        // denied", not the "preflight capability check" answer for a path outside every mount):
        // assume the first segment is a KV v2 mount; the request itself then succeeds or says why.
        Err(CliError::Api { status: 403, message, .. }) if api.token().is_some() && !message.contains("preflight") => {
            let (mount, rest) = p.split_once('/').unwrap_or((p, ""));
            return Ok(KvPath { mount: format!("{mount}/"), rest: rest.to_string() });
        }
        // The "preflight" 403 answers both a path outside every mount and a token with nothing
        // under the mount: a token that may read `sys/mounts` learns which one it is.
        Err(e @ CliError::Api { status: 403, .. }) if e.to_string().contains("preflight") => {
            return Err(match unmounted(api, p).await {
                Some(true) => CliError::Other(format!(
                    "no secrets engine is mounted at {p:?} or a prefix of it (`coffer secrets list` shows the mounts)"
                )),
                _ => e,
            });
        }
        other => other?.unwrap_or(Value::Null),
    };
    let data = body.get("data").cloned().unwrap_or(Value::Null);
    let mount = data
        .get("path")
        .and_then(Value::as_str)
        .map(|m| format!("{}/", m.trim_end_matches('/')))
        .ok_or_else(|| CliError::Other(format!("the server named no mount for {p}")))?;
    let kind = data.get("type").and_then(Value::as_str).unwrap_or("");
    let version = data.pointer("/options/version").and_then(Value::as_str).unwrap_or("1");
    match kind {
        "kv-v2" => {}
        "kv" | "generic" if version == "2" => {}
        "kv" | "generic" => {
            return Err(CliError::Other(format!(
                "{mount} is a KV version 1 mount; coffer kv works with version 2 mounts only (use coffer read/write)"
            )))
        }
        other => {
            return Err(CliError::Other(format!(
                "{mount} is not a KV mount (type {other:?}); use coffer read/write for other engines"
            )))
        }
    }
    let rest = p.strip_prefix(&mount).or_else(|| p.strip_prefix(mount.trim_end_matches('/'))).unwrap_or("");
    Ok(KvPath { mount, rest: rest.trim_start_matches('/').to_string() })
}

/// A secret's latest (or given) version: the `data.data` object and `data.metadata.version`.
/// A missing or deleted secret is an error that says which.
pub async fn read_data(api: &Api, path: &str, version: Option<u64>) -> Result<(Map<String, Value>, Value), CliError> {
    let kp = resolve(api, path).await?;
    kp.require_secret()?;
    let body = read_version(api, &kp, version).await?;
    let data = body.pointer("/data/data").and_then(Value::as_object).cloned().unwrap_or_default();
    let meta = body.pointer("/data/metadata").cloned().unwrap_or(Value::Null);
    Ok((data, meta))
}

async fn read_version(api: &Api, kp: &KvPath, version: Option<u64>) -> Result<Value, CliError> {
    let query: Vec<(&str, String)> = version.map(|v| ("version", v.to_string())).into_iter().collect();
    let api_path = kp.api("data");
    let reply = api.send(Method::GET, &api_path, &query, None).await?;
    if reply.status == StatusCode::NOT_FOUND {
        let shown = kp.display();
        let meta = reply.body.as_ref().and_then(|b| b.pointer("/data/metadata")).filter(|m| m.is_object());
        let Some(meta) = meta else {
            return Err(CliError::Other(match version {
                Some(v) => format!("no version {v} of {shown} (404 on {api_path})"),
                None => format!("no secret at {shown} (404 on {api_path})"),
            }));
        };
        let v = meta.get("version").map(cell).unwrap_or_else(|| "?".into());
        if meta.get("destroyed").and_then(Value::as_bool) == Some(true) {
            return Err(CliError::Other(format!("version {v} of {shown} is destroyed")));
        }
        let when = meta.get("deletion_time").map(cell).unwrap_or_default();
        return Err(CliError::Other(format!(
            "version {v} of {shown} was deleted at {when}; restore it with `coffer kv undelete --versions {v} {shown}`"
        )));
    }
    if !reply.status.is_success() {
        return Err(api.api_error(&api_path, &reply));
    }
    reply.body.ok_or_else(|| CliError::Other(format!("empty answer for {api_path}")))
}

/// Runs a `coffer kv` command.
pub async fn run(cmd: KvCommand) -> Result<i32, CliError> {
    match cmd {
        KvCommand::Get(a) => get(a).await,
        KvCommand::Put(a) => write(a, false).await,
        KvCommand::Patch(a) => write(a, true).await,
        KvCommand::Delete(a) => {
            let api = Api::new(&a.conn)?;
            let kp = resolve(&api, &a.path).await?;
            kp.require_secret()?;
            let target = if a.versions.is_empty() {
                let p = kp.api("data");
                api.call(Method::DELETE, &p, None).await?;
                p
            } else {
                let p = kp.api("delete");
                api.call(Method::POST, &p, Some(&json!({"versions": a.versions}))).await?;
                p
            };
            done(a.conn.format, &format!("Success! Data deleted (if it existed) at: {target}"))
        }
        KvCommand::Undelete(a) => versions(a, "undelete", Method::POST).await,
        KvCommand::Destroy(a) => versions(a, "destroy", Method::PUT).await,
        KvCommand::List(a) => {
            let api = Api::new(&a.conn)?;
            let kp = resolve(&api, &a.path).await?;
            let keys = match api.list(&kp.api("metadata")).await {
                Err(CliError::Api { status: 404, .. }) => {
                    return Err(CliError::Other(format!("no secrets under {}", kp.display())))
                }
                other => other?,
            };
            print_list(a.conn.format, &keys)?;
            Ok(EXIT_OK)
        }
        KvCommand::Search(a) => search(a).await,
        KvCommand::Move(a) => move_secret(a).await,
        KvCommand::Metadata(m) => metadata(m).await,
        KvCommand::Rotate(a) => {
            let api = Api::new(&a.conn)?;
            let kp = resolve(&api, &a.path).await?;
            kp.require_secret()?;
            let p = kp.api("rotate");
            match api.call(Method::POST, &p, None).await? {
                Some(body) => print_secret(a.conn.format, &body)?,
                None => {
                    done(a.conn.format, &format!("Success! Rotation of {} started", kp.display()))?;
                }
            }
            Ok(EXIT_OK)
        }
        KvCommand::Rotation(a) => rotation(a).await,
    }
}

/// Keys a `coffer kv search` page asks for (the server's most).
const SEARCH_PAGE: u64 = 1000;

/// The body of one `sys/search` page.
pub fn search_body(a: &SearchArgs, mount: &str, after: Option<&str>, limit: u64) -> Result<Value, CliError> {
    let mut body = Map::new();
    body.insert("mount".into(), json!(mount));
    for (field, value) in [("prefix", &a.prefix), ("name_glob", &a.name), ("stage", &a.stage)] {
        if let Some(v) = value {
            body.insert(field.into(), json!(v));
        }
    }
    if !a.metadata.is_empty() {
        body.insert("custom_metadata".into(), Value::Object(plain_pairs(&a.metadata, "metadata filter")?));
    }
    if let Some(after) = after {
        body.insert("after".into(), json!(after));
    }
    body.insert("limit".into(), json!(limit));
    Ok(Value::Object(body))
}

/// `coffer kv search`: pages of `sys/search` until the last one (or `--limit` keys).
async fn search(a: SearchArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let kp = resolve(&api, &a.mount).await?;
    if !kp.rest.trim_matches('/').is_empty() {
        return Err(CliError::Usage(format!(
            "{} is a path inside the mount {}: give the mount, and the folder with --prefix {}",
            a.mount, kp.mount, kp.rest
        )));
    }
    let mount = kp.mount.trim_end_matches('/');
    let mut keys: Vec<String> = Vec::new();
    let mut after = a.after.clone();
    loop {
        let want = a.limit.map_or(SEARCH_PAGE, |l| (l - keys.len() as u64).min(SEARCH_PAGE));
        let body = search_body(&a, mount, after.as_deref(), want)?;
        let resp = api.call(Method::POST, "sys/search", Some(&body)).await?.unwrap_or(Value::Null);
        let page: Vec<String> = resp
            .pointer("/data/keys")
            .and_then(Value::as_array)
            .map(|k| k.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        let next = resp.pointer("/data/next_after").and_then(Value::as_str).map(String::from);
        let full = page.len() as u64 >= want;
        after = next.or_else(|| page.last().cloned().filter(|_| full));
        keys.extend(page);
        let done = a.limit.is_some_and(|l| keys.len() as u64 >= l);
        if done || after.is_none() {
            break;
        }
    }
    print_list(a.conn.format, &keys)?;
    Ok(EXIT_OK)
}

/// `coffer kv move FROM TO`: both paths in one mount.
async fn move_secret(a: MoveArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let from = resolve(&api, &a.from).await?;
    from.require_secret()?;
    let to = a.to.trim_start_matches('/');
    let Some(rest) = to.strip_prefix(from.mount.as_str()).filter(|r| !r.is_empty()) else {
        return Err(CliError::Usage(format!(
            "{} is not a secret path in the mount {}: a secret moves inside its mount (give {}NEW/PATH)",
            a.to, from.mount, from.mount
        )));
    };
    let p = from.api("move");
    api.call(Method::POST, &p, Some(&json!({ "to": rest }))).await?;
    done(a.conn.format, &format!("Success! Moved {} to {}{rest}", from.display(), from.mount))
}

/// A success line in table format; nothing in JSON/YAML (there is no answer to print).
fn done(format: Format, msg: &str) -> Result<i32, CliError> {
    if format == Format::Table {
        emit_line(msg)?;
    }
    Ok(EXIT_OK)
}

async fn get(a: GetArgs) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let kp = resolve(&api, &a.path).await?;
    kp.require_secret()?;
    let body = read_version(&api, &kp, a.version).await?;
    if let Some(field) = &a.field {
        let value = body
            .pointer("/data/data")
            .and_then(|d| d.get(field))
            .ok_or_else(|| CliError::Other(format!("{} has no field {field:?}", kp.display())))?;
        let raw = match value {
            Value::String(s) => zeroize::Zeroizing::new(s.clone()),
            other => zeroize::Zeroizing::new(other.to_string()),
        };
        // As the vault CLI: a newline only for a terminal, so `> file` keeps the exact value.
        emit(&raw)?;
        if std::io::stdout().is_terminal() {
            emit("\n")?;
        }
        return Ok(EXIT_OK);
    }
    print_warnings(&body);
    if a.conn.format != Format::Table {
        print_structured(a.conn.format, &body)?;
        return Ok(EXIT_OK);
    }
    let mut out = format!("== Secret Path ==\n{}\n\n", kp.api("data"));
    if let Some(Value::Object(meta)) = body.pointer("/data/metadata") {
        out.push_str("== Metadata ==\n");
        out.push_str(&table(("Key", "Value"), &rows_of(meta)));
        out.push('\n');
    }
    out.push_str("== Data ==\n");
    let data = body.pointer("/data/data").and_then(Value::as_object).cloned().unwrap_or_default();
    out.push_str(&table(("Key", "Value"), &rows_of(&data)));
    emit(&out)?;
    Ok(EXIT_OK)
}

async fn write(a: PutArgs, patch: bool) -> Result<i32, CliError> {
    let pairs = parse_pairs(&a.pairs)?;
    if pairs.data.is_empty() {
        return Err(CliError::Usage("no data to write: give KEY=VALUE pairs".into()));
    }
    warn_inline(&pairs.inline_keys);
    let api = Api::new(&a.conn)?;
    let kp = resolve(&api, &a.path).await?;
    kp.require_secret()?;
    let mut body = json!({ "data": Value::Object(pairs.data) });
    if let Some(cas) = a.cas {
        crate::base::json::set(&mut body, "options", json!({ "cas": cas }));
    }
    let p = kp.api("data");
    let method = if patch { Method::PATCH } else { Method::POST };
    let resp = api.call(method, &p, Some(&body)).await?.unwrap_or(Value::Null);
    print_warnings(&resp);
    if a.conn.format != Format::Table {
        print_structured(a.conn.format, &resp)?;
        return Ok(EXIT_OK);
    }
    let mut out = format!("== Secret Path ==\n{p}\n\n== Metadata ==\n");
    let meta = resp.get("data").and_then(Value::as_object).cloned().unwrap_or_default();
    out.push_str(&table(("Key", "Value"), &rows_of(&meta)));
    emit(&out)?;
    Ok(EXIT_OK)
}

async fn versions(a: VersionsArgs, part: &str, method: Method) -> Result<i32, CliError> {
    let api = Api::new(&a.conn)?;
    let kp = resolve(&api, &a.path).await?;
    kp.require_secret()?;
    let p = kp.api(part);
    api.call(method, &p, Some(&json!({"versions": a.versions}))).await?;
    done(a.conn.format, &format!("Success! Data written to: {p}"))
}

async fn metadata(cmd: MetadataCommand) -> Result<i32, CliError> {
    match cmd {
        MetadataCommand::Get(a) => {
            let api = Api::new(&a.conn)?;
            let kp = resolve(&api, &a.path).await?;
            kp.require_secret()?;
            let p = kp.api("metadata");
            let body = match api.read(&p).await {
                Err(CliError::Api { status: 404, .. }) => {
                    return Err(CliError::Other(format!("no secret at {} (404 on {p})", kp.display())))
                }
                other => other?.unwrap_or(Value::Null),
            };
            if a.conn.format != Format::Table {
                print_structured(a.conn.format, &body)?;
                return Ok(EXIT_OK);
            }
            let data = body.get("data").and_then(Value::as_object).cloned().unwrap_or_default();
            let mut out = format!("== Metadata Path ==\n{p}\n\n== Metadata ==\n");
            let rows: Vec<_> = rows_of(&data).into_iter().filter(|(k, _)| k != "versions").collect();
            out.push_str(&table(("Key", "Value"), &rows));
            if let Some(Value::Object(versions)) = data.get("versions") {
                let mut numbered: Vec<(u64, &Value)> =
                    versions.iter().filter_map(|(k, v)| k.parse().ok().map(|n| (n, v))).collect();
                numbered.sort_by_key(|(n, _)| *n);
                for (n, v) in numbered {
                    out.push_str(&format!("\n== Version {n} ==\n"));
                    let rows = v.as_object().map(rows_of).unwrap_or_default();
                    out.push_str(&table(("Key", "Value"), &rows));
                }
            }
            emit(&out)?;
            Ok(EXIT_OK)
        }
        MetadataCommand::Put(a) => {
            let mut body = Map::new();
            if let Some(n) = a.max_versions {
                body.insert("max_versions".into(), json!(n));
            }
            if let Some(b) = a.cas_required {
                body.insert("cas_required".into(), json!(b));
            }
            if let Some(d) = &a.delete_version_after {
                body.insert("delete_version_after".into(), json!(d));
            }
            if !a.custom_metadata.is_empty() {
                body.insert(
                    "custom_metadata".into(),
                    Value::Object(plain_pairs(&a.custom_metadata, "custom metadata")?),
                );
            }
            if body.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give --max-versions, --cas-required, --delete-version-after or --custom-metadata"
                        .into(),
                ));
            }
            let api = Api::new(&a.conn)?;
            let kp = resolve(&api, &a.path).await?;
            kp.require_secret()?;
            let p = kp.api("metadata");
            api.call(Method::POST, &p, Some(&Value::Object(body))).await?;
            done(a.conn.format, &format!("Success! Data written to: {p}"))
        }
        MetadataCommand::Delete(a) => {
            let api = Api::new(&a.conn)?;
            let kp = resolve(&api, &a.path).await?;
            kp.require_secret()?;
            let p = kp.api("metadata");
            api.call(Method::DELETE, &p, None).await?;
            done(a.conn.format, &format!("Success! Data deleted (if it existed) at: {p}"))
        }
    }
}

/// The body `coffer kv rotation --schedule` sends: `{"schedule", "window"?, "rotator"?}`.
pub fn rotation_body(
    schedule: &str,
    window: Option<&str>,
    rotator_type: Option<RotatorType>,
    rotator_json: Option<&str>,
) -> Result<Value, CliError> {
    let mut body = Map::new();
    body.insert("schedule".into(), json!(schedule));
    if let Some(w) = window {
        body.insert("window".into(), json!(w));
    }
    let mut rotator = match rotator_json {
        None => None,
        Some(src) => {
            let text = match src.strip_prefix('@') {
                Some(path) => read_file_text(Path::new(path))?,
                None if src == "-" => read_file_text(Path::new("-"))?,
                None => zeroize::Zeroizing::new(src.to_string()),
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(o)) => Some(o),
                Ok(_) => return Err(CliError::Usage("--rotator-json must be a JSON object".into())),
                // serde_json's message quotes no input, only the position.
                Err(e) => return Err(CliError::Usage(format!("--rotator-json is not valid JSON: {e}"))),
            }
        }
    };
    if let Some(t) = rotator_type {
        let r = rotator.get_or_insert_with(Map::new);
        match r.get("type").and_then(Value::as_str) {
            Some(existing) if existing != t.as_str() => {
                return Err(CliError::Usage(format!(
                    "--rotator-type {} contradicts \"type\": {existing:?} in --rotator-json",
                    t.as_str()
                )))
            }
            _ => {
                r.insert("type".into(), json!(t.as_str()));
            }
        }
    }
    if let Some(r) = rotator {
        body.insert("rotator".into(), Value::Object(r));
    }
    Ok(Value::Object(body))
}

async fn rotation(a: RotationArgs) -> Result<i32, CliError> {
    // Arguments are checked before any request, so a bad --rotator-json never reaches the server.
    let body = match &a.schedule {
        Some(s) => Some(rotation_body(s, a.window.as_deref(), a.rotator_type, a.rotator_json.as_deref())?),
        None => None,
    };
    let api = Api::new(&a.conn)?;
    let kp = resolve(&api, &a.path).await?;
    kp.require_secret()?;
    let p = kp.api("rotation");
    if a.delete {
        api.call(Method::DELETE, &p, None).await?;
        return done(a.conn.format, &format!("Success! Rotation schedule of {} removed", kp.display()));
    }
    if let Some(body) = body {
        match api.call(Method::POST, &p, Some(&body)).await? {
            Some(resp) => print_secret(a.conn.format, &resp)?,
            None => {
                done(a.conn.format, &format!("Success! Rotation schedule of {} set", kp.display()))?;
            }
        }
        return Ok(EXIT_OK);
    }
    match api.read(&p).await {
        Err(CliError::Api { status: 404, .. }) => {
            Err(CliError::Other(format!("{} has no rotation schedule (404 on {p})", kp.display())))
        }
        other => {
            print_secret(a.conn.format, &other?.unwrap_or(Value::Null))?;
            Ok(EXIT_OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths() {
        let kp = KvPath { mount: "secret/".into(), rest: "app/db".into() };
        assert_eq!(kp.api("data"), "secret/data/app/db");
        assert_eq!(kp.api("rotation"), "secret/rotation/app/db");
        assert_eq!(kp.display(), "secret/app/db");
    }

    #[test]
    fn search_bodies() {
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            args: SearchArgs,
        }
        let args = |metadata: &str| {
            let argv = ["t", "--prefix", "app/", "--stage", "pending", "--metadata", metadata, "secret"];
            <Cmd as clap::Parser>::try_parse_from(argv).unwrap().args
        };
        let b = search_body(&args("owner=team-a"), "secret", Some("app/a"), 1000).unwrap();
        assert_eq!(
            b,
            json!({"mount": "secret", "prefix": "app/", "stage": "pending", "custom_metadata": {"owner": "team-a"},
                   "after": "app/a", "limit": 1000})
        );
        assert!(search_body(&args("owner"), "secret", None, 1).is_err());
    }

    #[test]
    fn rotation_bodies() {
        let b = rotation_body("rate(30 days)", Some("3h"), Some(RotatorType::Password), None).unwrap();
        assert_eq!(b, json!({"schedule": "rate(30 days)", "window": "3h", "rotator": {"type": "password"}}));
        let b = rotation_body("720h", None, Some(RotatorType::Postgres), Some(r#"{"db_name":"pg"}"#)).unwrap();
        assert_eq!(b, json!({"schedule": "720h", "rotator": {"type": "postgres", "db_name": "pg"}}));
        let b = rotation_body("720h", None, None, None).unwrap();
        assert_eq!(b, json!({"schedule": "720h"}));
        assert!(rotation_body("720h", None, Some(RotatorType::Webhook), Some(r#"{"type":"password"}"#)).is_err());
        assert!(rotation_body("720h", None, None, Some("[1]")).is_err());
        assert!(rotation_body("720h", None, None, Some("{")).is_err());
    }
}

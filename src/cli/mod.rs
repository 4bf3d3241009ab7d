//! The `coffer` command line: `coffer server` (config file or `--dev`), the offline tools
//! (`audit verify`, `operator migrate`), the client commands that talk to a server over HTTP
//! (`login`, `kv`, `run`, `token`, `policy`, …; see `crate::cli::client`), completions and `version`.

pub mod client;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::server;
use crate::server::config::Overrides;
use client::{generic, kv, login, policy, run as run_cmd, secrets, sys, token};

/// What `coffer --help` shows after the command list.
const OVERVIEW: &str = "\
Client commands talk to $COFFER_ADDR (else $VAULT_ADDR, else https://127.0.0.1:8200) with the token
from --token, $COFFER_TOKEN, $VAULT_TOKEN or ~/.coffer-token (written by `coffer login`, mode 0600).

Examples:
  coffer login --method userpass --username alice
  coffer kv put secret/app db_pass=@db_pass.txt
  coffer kv get --field db_pass secret/app
  coffer run --secret secret/app -- ./server --port 8080

Exit codes: 0 success, 1 error (API error, connection failure), 2 usage error.
Shell completions: coffer completions bash|zsh|fish. More: docs/cli.md.";

/// Coffer: a secrets server that speaks the Vault/OpenBao HTTP API.
#[derive(Debug, Parser)]
#[command(name = "coffer", version, about, long_about = None, after_help = OVERVIEW)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and store the token in ~/.coffer-token (mode 0600)
    ///
    /// Methods: token (checked with lookup-self), userpass, approle, jwt. Secrets are read from
    /// files, stdin or a hidden prompt, never from the command line. The token is not printed
    /// (only with --format json|yaml, which prints the whole answer).
    ///
    /// Examples:
    ///   coffer login                                         # prompts for a token
    ///   coffer login --method token - < token.txt
    ///   coffer login --method userpass --username alice      # prompts for the password
    ///   coffer login --method userpass --username alice --password-stdin < pass.txt
    ///   coffer login --method approle --role-id "$ROLE_ID" --secret-id-file /run/secrets/secret-id
    ///   coffer login --method jwt --role deploy --jwt-file "$RUNNER_TEMP/oidc.jwt"
    ///   coffer login --method jwt --path gitlab --role app --jwt-file - <<< "$CI_JOB_JWT"
    #[command(verbatim_doc_comment)]
    Login(login::LoginArgs),
    /// Show whether the server is initialised and sealed
    ///
    /// Exit codes: 0 unsealed, 2 sealed (as `vault status`), 1 error.
    ///
    /// Examples:
    ///   coffer status
    ///   coffer status --format json
    #[command(verbatim_doc_comment)]
    Status(sys::ConnArgs),
    /// KV version 2 secrets: get, put, patch, delete, undelete, destroy, list, metadata, rotation.
    ///
    /// Paths include the mount (`secret/app` is `secret/data/app` in the API); the mount is found
    /// with `sys/internal/ui/mounts/<path>`, as the vault CLI does.
    #[command(subcommand)]
    Kv(kv::KvCommand),
    /// Run a command with secrets in its environment and in rendered files
    ///
    /// Each field of a --secret becomes a variable: the optional prefix, then the field name
    /// upper-cased with other characters than letters and digits as `_` (`db-pass` → `DB_PASS`).
    /// --env NAME=PATH#FIELD sets one variable and wins over --secret. Templates use
    /// {{ secret "PATH" "FIELD" }} (see docs/cli.md). SIGTERM, SIGINT, SIGHUP and SIGQUIT are
    /// forwarded to the command; coffer exits with its exit code (128+N if signal N killed it).
    /// With --watch, the secrets are polled every --watch-interval; on a change the templates are
    /// re-rendered and the command restarted (SIGTERM, then SIGKILL after --kill-timeout), or sent
    /// --watch-signal. With --cache-dir, fetched secrets are kept encrypted (AES-256-GCM, key
    /// derived from the token) and used, with a warning, while the server cannot be reached and
    /// the copy is younger than --fallback-max-age.
    ///
    /// Examples:
    ///   coffer run --secret secret/app -- ./server
    ///   coffer run --secret secret/app --secret secret/db:DB_ -- env
    ///   coffer run --env PGPASSWORD=secret/db#password -- psql -h db -U app
    ///   coffer run --template app.conf.tmpl:/run/app/app.conf --secret secret/app -- ./server
    ///   coffer run --template tls.pem.tmpl:/run/nginx/tls.pem --watch --watch-signal SIGHUP --watch-interval 1m -- nginx -g 'daemon off;'
    ///   coffer run --secret secret/ci --cache-dir ~/.cache/coffer --fallback-max-age 10m -- make deploy
    ///
    /// Exit codes: the command's; 1 if the secrets cannot be fetched; 2 usage error; 126/127 if
    /// the command cannot be started or is not found.
    #[command(verbatim_doc_comment)]
    Run(run_cmd::RunArgs),
    /// Read any API path
    ///
    /// Examples:
    ///   coffer read sys/mounts
    ///   coffer read --field role_id auth/approle/role/billing/role-id
    ///   coffer read --format json database/creds/readonly
    #[command(verbatim_doc_comment)]
    Read(generic::ReadArgs),
    /// Write to any API path (KEY=VALUE, KEY=@FILE, KEY=-; `-` alone: JSON from stdin)
    ///
    /// Examples:
    ///   coffer write auth/userpass/users/alice password=@alice.pass token_policies=app
    ///   coffer write -f auth/approle/role/billing/secret-id
    ///   coffer write --field client_token auth/approle/login role_id=… secret_id=@sid.txt
    #[command(verbatim_doc_comment)]
    Write(generic::WriteArgs),
    /// List the keys under any API path
    ///
    /// Examples:
    ///   coffer list auth/approle/role
    ///   coffer list sys/policies/acl
    #[command(verbatim_doc_comment)]
    List(generic::PathArgs),
    /// Delete any API path
    ///
    /// Examples:
    ///   coffer delete auth/userpass/users/alice
    ///   coffer delete sys/policies/acl/old
    #[command(verbatim_doc_comment)]
    Delete(generic::PathArgs),
    /// Tokens: create, lookup, renew, revoke.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// ACL policies: write, read, list, delete, and fmt (local).
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Secrets engines: enable, list, disable, tune.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Auth methods: enable, list.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Audit devices: enable and list (over HTTP); verify audit files (offline).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Operator tools: init, unseal, seal, rotate, key-status (over HTTP); migrate (offline, on
    /// the stores directly).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Run the server.
    ///
    /// Examples:
    ///   coffer server --config /etc/coffer/coffer.toml
    ///   coffer server --dev --dev-root-token-id root
    #[command(verbatim_doc_comment)]
    Server(ServerArgs),
    /// Print a shell completion script
    ///
    /// Examples:
    ///   coffer completions bash > /etc/bash_completion.d/coffer
    ///   coffer completions zsh > "${fpath[1]}/_coffer"
    ///   coffer completions fish > ~/.config/fish/completions/coffer.fish
    #[command(verbatim_doc_comment)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run the sidecar agent: auto-auth, token sinks, templates, a local API proxy
    ///
    /// The configuration file (TOML) is described in the README's agent section.
    ///
    /// Examples:
    ///   coffer agent --config /etc/coffer/agent.toml
    #[command(verbatim_doc_comment)]
    Agent {
        /// The agent's configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the version.
    Version,
}

/// `coffer auth …`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Enable an auth method (userpass, approle, jwt) at its name or at --path
    ///
    /// Examples:
    ///   coffer auth enable userpass
    ///   coffer auth enable --path gitlab --description "GitLab CI" jwt
    #[command(verbatim_doc_comment)]
    Enable(sys::AuthEnableArgs),
    /// List the enabled auth methods
    ///
    /// Example:
    ///   coffer auth list
    #[command(verbatim_doc_comment)]
    List(sys::ConnArgs),
}

/// `coffer audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check audit files offline: hash chain, signed checkpoints, order, gaps and truncation.
    ///
    /// Give rotated files oldest first; they are checked as one chain. The public key comes from
    /// `GET /v1/sys/audit/<name>/public-key` (base64 or PEM, inline or in a file).
    ///
    /// Examples:
    ///   coffer audit verify /var/log/coffer/audit.log --public-key audit.pub
    ///   coffer audit verify audit.log.1 audit.log --public-key 'MCowBQYDK2VwAyEA…'
    ///   coffer audit verify audit.log --public-key audit.pub --allow-open-tail   # a file still being written
    ///
    /// Exit codes: 0 verified, 1 tampering or damage found (the first broken line is printed), 2 usage error.
    #[command(verbatim_doc_comment)]
    Verify {
        /// Audit files, oldest first.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The device's Ed25519 public key: base64, PEM, or a file holding either.
        #[arg(long, value_name = "KEY")]
        public_key: String,
        /// Accept a last file that does not end with a closing checkpoint (the server is still
        /// writing it); its unsigned tail is reported as a warning.
        #[arg(long)]
        allow_open_tail: bool,
    },
    /// Enable an audit device (file or socket) at its type's name or at --path
    ///
    /// Examples:
    ///   coffer audit enable file file_path=/var/log/coffer/audit.log
    ///   coffer audit enable --path remote socket address=127.0.0.1:9090 socket_type=tcp
    #[command(verbatim_doc_comment)]
    Enable(sys::AuditEnableArgs),
    /// List the enabled audit devices
    ///
    /// Example:
    ///   coffer audit list
    #[command(verbatim_doc_comment)]
    List(sys::ConnArgs),
}

/// `coffer operator bootstrap …`.
#[derive(Debug, Subcommand)]
pub enum BootstrapCommand {
    /// Show the changes applying FILE would make, one line per object, without applying them
    ///
    /// The server plans the file with the code that applies it at unseal: `create`, `update`
    /// (with the fields that differ), `delete` (managed objects no longer in the file), `adopt`,
    /// `forget` and `wait` lines. A problem in the file, or an object of the same name made through
    /// the API without `adopt = true`, is an error naming the table and field.
    ///
    /// Examples:
    ///   coffer operator bootstrap plan /etc/coffer/coffer.bootstrap.toml
    ///   coffer operator bootstrap plan --format json coffer.bootstrap.toml
    ///
    /// Exit codes: 0 nothing to do, 2 changes to make, 1 error (the file or the server refused).
    #[command(verbatim_doc_comment)]
    Plan(client::bootstrap::PlanArgs),
}

/// `coffer operator …`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Initialise a new server: make the unseal key shares and the root token (shown once)
    ///
    /// Examples:
    ///   coffer operator init
    ///   coffer operator init --key-shares 1 --key-threshold 1 --format json > init.json
    #[command(verbatim_doc_comment)]
    Init(sys::InitArgs),
    /// Enter unseal key shares: one argument, a hidden prompt, or every line of stdin
    ///
    /// Examples:
    ///   coffer operator unseal                      # prompts, without echo
    ///   coffer operator unseal - < share.txt
    ///   coffer operator unseal --reset              # forget the shares entered so far
    #[command(verbatim_doc_comment)]
    Unseal(sys::UnsealArgs),
    /// Make a new root token with a threshold of unseal key shares (needs `[seal] generate_root`)
    ///
    /// Examples:
    ///   coffer operator generate-root - < shares.txt        # start, submit, print the token
    ///   coffer operator generate-root --init                # start; prints the nonce and OTP
    ///   coffer operator generate-root --nonce NONCE -       # another holder adds a share
    ///   coffer operator generate-root --decode ENCODED --otp OTP
    ///   coffer operator generate-root --status
    ///   coffer operator generate-root --cancel --nonce NONCE
    #[command(verbatim_doc_comment)]
    GenerateRoot(client::generate_root::GenerateRootArgs),
    /// Seal the server: it drops its keys and refuses requests until unsealed
    ///
    /// Example:
    ///   coffer operator seal
    #[command(verbatim_doc_comment)]
    Seal(sys::ConnArgs),
    /// Add a new encryption key term; older data keys are re-wrapped in the background
    ///
    /// Example:
    ///   coffer operator rotate
    #[command(verbatim_doc_comment)]
    Rotate(sys::ConnArgs),
    /// Show the active key term and when it was installed
    ///
    /// Example:
    ///   coffer operator key-status
    #[command(verbatim_doc_comment)]
    KeyStatus(sys::ConnArgs),
    /// Save, restore or inspect a snapshot of the whole store
    #[command(subcommand)]
    Snapshot(client::snapshot::SnapshotCommand),
    /// Declarative bootstrap: show what a bootstrap file would change (needs sudo on sys/bootstrap)
    #[command(subcommand)]
    Bootstrap(BootstrapCommand),
    /// Copy a whole store into a new, empty one (typically SQLite to PostgreSQL), then verify it
    ///
    /// Stop every Coffer server that uses either store first. Every row of every table is copied
    /// as it is, in one transaction: ciphertexts are never decrypted or re-encrypted, so the same
    /// unseal key (or key file) unseals the copy. A target holding any row is refused and left
    /// unchanged. The copy is then verified: row counts and a content digest per table against the
    /// source and, given the unseal key, every encrypted value decrypted from the target (KV
    /// versions, token HMAC key, cubbyholes and wrapped answers, audit device keys). The key is
    /// first checked against the source, so a wrong key copies nothing.
    ///
    /// Examples:
    ///   coffer operator migrate --from sqlite:///var/lib/coffer/coffer.db \
    ///       --to postgres://coffer@db.internal:5432/coffer --key-file /etc/coffer/unseal.key
    ///   coffer operator migrate --from sqlite:///var/lib/coffer/coffer.db \
    ///       --to 'postgres://coffer@db.internal/coffer?sslmode=require' --unseal-key - < shares.txt
    ///   coffer operator migrate --from … --to … --verify-only --key-file /etc/coffer/unseal.key
    ///
    /// Exit codes: 0 copied and verified, 1 refused or verification failed (the table and key are
    /// named, never a value), 2 usage error.
    #[command(verbatim_doc_comment)]
    Migrate {
        /// The store to copy: sqlite:///path/to/coffer.db or postgres://… (the file must exist).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty store to copy into: postgres://… or sqlite:///path (created if missing).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Key-file seal: the unseal key file (as `[seal] key_file`), to decrypt and verify.
        #[arg(long, value_name = "FILE", conflicts_with = "unseal_key")]
        key_file: Option<PathBuf>,
        /// Shamir seal: an unseal key share (hex or base64), repeated up to the threshold; `-` reads
        /// shares from stdin, one per line (shares given as arguments are visible to `ps`).
        #[arg(long, value_name = "SHARE")]
        unseal_key: Vec<crate::server::migrate::UnsealShare>,
        /// Copy nothing: compare an earlier copy with its source and decrypt the target.
        #[arg(long)]
        verify_only: bool,
    },
}

/// `coffer server` flags. `Debug` hides the dev root token and the storage URL's password.
#[derive(Args)]
pub struct ServerArgs {
    /// TOML configuration file (see config/coffer.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Development mode: temporary store, initialised and unsealed, KV v2 at secret/, plain HTTP on loopback.
    #[arg(long)]
    pub dev: bool,
    /// Dev mode: use this value as the root token instead of a random one.
    #[arg(long, value_name = "TOKEN", env = "COFFER_DEV_ROOT_TOKEN_ID", hide_env_values = true)]
    pub dev_root_token_id: Option<String>,
    /// Dev mode: an AWS access key id with the root policy (with --dev-aws-secret-access-key).
    #[arg(long, value_name = "ID", env = "COFFER_DEV_AWS_ACCESS_KEY_ID")]
    pub dev_aws_access_key_id: Option<String>,
    /// Dev mode: the secret of that access key.
    #[arg(long, value_name = "KEY", env = "COFFER_DEV_AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub dev_aws_secret_access_key: Option<String>,
    /// Dev mode: the AWS account id in ARNs (12 digits).
    #[arg(long, value_name = "ID", env = "COFFER_DEV_AWS_ACCOUNT_ID")]
    pub dev_aws_account_id: Option<String>,
    /// Dev mode: address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8200")]
    pub dev_listen_address: SocketAddr,
    /// Override listener.address.
    #[arg(long, value_name = "ADDR")]
    pub listen_address: Option<String>,
    /// Override storage.url.
    #[arg(long, value_name = "URL")]
    pub storage_url: Option<String>,
    /// Override log.level.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

impl std::fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerArgs")
            .field("config", &self.config)
            .field("dev", &self.dev)
            .field("dev_root_token_id", &self.dev_root_token_id.as_ref().map(|_| "<hidden>"))
            .field("dev_aws_access_key_id", &self.dev_aws_access_key_id)
            .field("dev_aws_secret_access_key", &self.dev_aws_secret_access_key.as_ref().map(|_| "<hidden>"))
            .field("dev_aws_account_id", &self.dev_aws_account_id)
            .field("dev_listen_address", &self.dev_listen_address)
            .field("listen_address", &self.listen_address)
            .field("storage_url", &self.storage_url.as_deref().map(crate::base::redact::redact_url))
            .field("log_level", &self.log_level)
            .finish()
    }
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Audit(AuditCommand::Verify { files, public_key, allow_open_tail }) => {
            crate::core::audit::verify::run(&files, &public_key, allow_open_tail)
        }
        Command::Operator(OperatorCommand::Migrate { from, to, key_file, unseal_key, verify_only }) => {
            crate::server::migrate::run(crate::server::migrate::Options {
                from,
                to,
                key_file,
                unseal_keys: unseal_key,
                verify_only,
            })
            .await
        }
        Command::Agent { config } => server::agent::run(&config).await,
        Command::Version => {
            println!("Coffer v{}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "coffer", &mut script);
            client::finish(client::output::emit(&String::from_utf8_lossy(&script)).map(|()| client::EXIT_OK))
        }
        Command::Login(a) => client::finish(login::run(a).await),
        Command::Status(a) => client::finish(sys::status(a).await),
        Command::Kv(c) => client::finish(kv::run(c).await),
        Command::Run(a) => client::finish(run_cmd::run(a).await),
        Command::Read(a) => client::finish(generic::read(a).await),
        Command::Write(a) => client::finish(generic::write(a).await),
        Command::List(a) => client::finish(generic::list(a).await),
        Command::Delete(a) => client::finish(generic::delete(a).await),
        Command::Token(c) => client::finish(token::run(c).await),
        Command::Policy(c) => client::finish(policy::run(c).await),
        Command::Secrets(c) => client::finish(secrets::run(c).await),
        Command::Auth(AuthCommand::Enable(a)) => client::finish(sys::auth_enable(a).await),
        Command::Auth(AuthCommand::List(a)) => client::finish(sys::auth_list(a).await),
        Command::Audit(AuditCommand::Enable(a)) => client::finish(sys::audit_enable(a).await),
        Command::Audit(AuditCommand::List(a)) => client::finish(sys::audit_list(a).await),
        Command::Operator(OperatorCommand::Init(a)) => client::finish(sys::init(a).await),
        Command::Operator(OperatorCommand::Unseal(a)) => client::finish(sys::unseal(a).await),
        Command::Operator(OperatorCommand::Seal(a)) => client::finish(sys::seal(a).await),
        Command::Operator(OperatorCommand::GenerateRoot(a)) => client::finish(client::generate_root::run(a).await),
        Command::Operator(OperatorCommand::Rotate(a)) => client::finish(sys::rotate(a).await),
        Command::Operator(OperatorCommand::KeyStatus(a)) => client::finish(sys::key_status(a).await),
        Command::Operator(OperatorCommand::Snapshot(c)) => client::finish(client::snapshot::run(c).await),
        Command::Operator(OperatorCommand::Bootstrap(BootstrapCommand::Plan(a))) => {
            client::finish(client::bootstrap::plan(a).await)
        }
        Command::Server(args) if args.dev => {
            let aws = server::DevAws {
                access_key_id: args.dev_aws_access_key_id,
                secret_access_key: args.dev_aws_secret_access_key.map(secrecy::SecretString::from),
                account_id: args.dev_aws_account_id,
            };
            match server::run::dev(args.dev_listen_address, args.log_level, args.dev_root_token_id, aws).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("Error: {e}");
                    1
                }
            }
        }
        Command::Server(args) => match server::run::from_config(
            args.config.as_deref(),
            &Overrides { address: args.listen_address, storage_url: args.storage_url, log_level: args.log_level },
        )
        .await
        {
            Ok(()) => 0,
            Err(errors) => {
                for e in errors {
                    eprintln!("Error: {e}");
                }
                1
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_parsed_commands_holds_no_secret() {
        let lines: [&[&str]; 7] = [
            &["coffer", "server", "--dev", "--dev-root-token-id", "hunter2"],
            &["coffer", "server", "--storage-url", "postgres://coffer:hunter2@db/coffer?password=hunter2"],
            &["coffer", "kv", "put", "--token", "s.tok3n", "secret/a", "k=hunter2"],
            &["coffer", "write", "auth/userpass/users/a", "password=hunter2"],
            &["coffer", "login", "--method", "token", "s.tok3n"],
            &["coffer", "operator", "unseal", "hunter2"],
            &[
                "coffer",
                "kv",
                "rotation",
                "secret/a",
                "--schedule",
                "1h",
                "--rotator-json",
                "{\"hmac_key\":\"hunter2\"}",
            ],
        ];
        for args in lines {
            let cli = Cli::try_parse_from(args).unwrap();
            let shown = format!("{cli:?}");
            assert!(!shown.contains("hunter2") && !shown.contains("s.tok3n"), "{shown}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}

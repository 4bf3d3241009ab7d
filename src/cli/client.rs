//! The `coffer` client commands: connection options shared by every command that talks to a
//! server, the error type, and the exit-code convention (0 success, 1 error, 2 usage error).

pub mod api;
pub mod bootstrap;
pub mod cache;
pub mod env_guard;
pub mod explain;
pub mod generate_root;
pub mod generic;
pub mod input;
pub mod kv;
pub mod login;
pub mod output;
pub mod policy;
pub mod run;
pub mod secrets;
pub mod snapshot;
pub mod sys;
pub mod template;
pub mod token;
pub mod token_file;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use zeroize::Zeroizing;

pub use api::Api;
pub use output::Format;

/// Exit code of a command that succeeded.
pub const EXIT_OK: i32 = 0;
/// Exit code of a command that failed: an API error, a connection failure, a local I/O error.
pub const EXIT_ERROR: i32 = 1;
/// Exit code of a usage error (clap uses the same code for the errors it finds).
pub const EXIT_USAGE: i32 = 2;

/// The address used when neither `--address`, `COFFER_ADDR` nor `VAULT_ADDR` is set.
pub const DEFAULT_ADDR: &str = "https://127.0.0.1:8200";

/// A secret given on the command line or read from a file (a token, a password, a key share):
/// zeroed on drop, never shown by `Debug`.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True for an empty value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret::new(s.to_string()))
    }
}

/// What went wrong in a client command. The messages never hold a secret value.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments do not make sense together (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached (refused, timed out, TLS handshake failed, name unknown).
    #[error("cannot reach {addr}: {reason}")]
    Unreachable {
        /// The server address.
        addr: String,
        /// Why, in a few words (`connection refused`).
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{message} ({status}) on {path}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API path, without `/v1/`.
        path: String,
        /// The server's `errors`, joined, or the status text.
        message: String,
    },
    /// Anything else: a local file, a malformed answer.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            _ => EXIT_ERROR,
        }
    }

    /// True when the server is down or cannot serve (connection failure, 502, 503, 504): the
    /// cases in which `coffer run` may fall back to its local cache.
    pub fn is_outage(&self) -> bool {
        match self {
            CliError::Unreachable { .. } => true,
            CliError::Api { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            CliError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Prints the error of a failed command on stderr and turns the outcome into an exit code.
pub fn finish(outcome: Result<i32, CliError>) -> i32 {
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            e.exit_code()
        }
    }
}

/// Connection and output options of every command that talks to a server.
#[derive(Debug, Clone, Args)]
pub struct ClientOpts {
    /// Server address [default: $COFFER_ADDR, then $VAULT_ADDR, then https://127.0.0.1:8200].
    #[arg(long, value_name = "URL", help_heading = "Connection")]
    pub address: Option<String>,
    /// Token to send [default: $COFFER_TOKEN, then $VAULT_TOKEN, then ~/.coffer-token]. Prefer
    /// the variable or the file: other users can read command lines with `ps`.
    #[arg(long, value_name = "TOKEN", help_heading = "Connection")]
    pub token: Option<Secret>,
    /// CA certificate(s) (PEM) to trust instead of the built-in roots [default: $COFFER_CACERT,
    /// then $VAULT_CACERT].
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS [default: $COFFER_CLIENT_CERT, then $VAULT_CLIENT_CERT].
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of --client-cert [default: $COFFER_CLIENT_KEY, then $VAULT_CLIENT_KEY].
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub client_key: Option<PathBuf>,
    /// Do not check the server's certificate (prints a warning; never in production)
    /// [default: $COFFER_SKIP_VERIFY, then $VAULT_SKIP_VERIFY].
    #[arg(long, help_heading = "Connection")]
    pub tls_skip_verify: bool,
    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Table, env = "COFFER_FORMAT", help_heading = "Output")]
    pub format: Format,
}

/// The first non-empty value among the given environment variables.
pub(crate) fn env_first(names: &[&str]) -> Option<String> {
    names.iter().filter_map(|n| std::env::var(n).ok()).find(|v| !v.trim().is_empty())
}

/// True if an environment flag such as `VAULT_SKIP_VERIFY` is set to a true value.
pub(crate) fn env_flag(names: &[&str]) -> bool {
    env_first(names).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

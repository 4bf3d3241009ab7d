//! `coffer login`: token, userpass, AppRole and JWT logins; the token is stored in
//! `~/.coffer-token` (mode 0600) and never printed, except with `--format json|yaml`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::{json, Value};

use super::input::{line_from_stdin, prompt_hidden, secret_arg, secret_from_file};
use super::output::{emit, print_auth, print_structured, print_warnings, table};
use super::{env_first, token_file, Api, CliError, ClientOpts, Format, Secret, EXIT_OK};

/// Login methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginMethod {
    /// An existing token (checked with `auth/token/lookup-self`).
    Token,
    /// A user name and password (`auth/userpass/login/<name>`).
    Userpass,
    /// A role id and secret id (`auth/approle/login`).
    Approle,
    /// A JWT, e.g. a CI job's OIDC token (`auth/jwt/login`).
    Jwt,
}

impl LoginMethod {
    fn default_path(self) -> &'static str {
        match self {
            LoginMethod::Token => "token",
            LoginMethod::Userpass => "userpass",
            LoginMethod::Approle => "approle",
            LoginMethod::Jwt => "jwt",
        }
    }
}

/// `coffer login` arguments.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// How to log in.
    #[arg(long, value_enum, default_value_t = LoginMethod::Token)]
    pub method: LoginMethod,
    /// The auth mount's path, if not the method's name (`--method jwt --path gitlab`).
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// userpass: the user name.
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// userpass: read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// approle: the role id.
    #[arg(long, value_name = "ID")]
    pub role_id: Option<String>,
    /// approle: a file holding the secret id (`-`: stdin).
    #[arg(long, value_name = "FILE")]
    pub secret_id_file: Option<PathBuf>,
    /// jwt: the role to log in as.
    #[arg(long, value_name = "NAME")]
    pub role: Option<String>,
    /// jwt: a file holding the JWT (`-`: stdin).
    #[arg(long, value_name = "FILE")]
    pub jwt_file: Option<PathBuf>,
    /// Do not store the token in ~/.coffer-token (print it with --format json to use it).
    #[arg(long)]
    pub no_store: bool,
    /// token: the token; `-` or nothing reads it from stdin, or prompts on a terminal. Prefer
    /// those: a token given here is visible to other users in `ps`.
    #[arg(value_name = "TOKEN")]
    pub token_value: Option<Secret>,
}

/// Runs `coffer login`.
pub async fn run(a: LoginArgs) -> Result<i32, CliError> {
    check_flags(&a)?;
    let api = Api::new(&a.conn)?.anonymous();
    let mount = a.path.clone().unwrap_or_else(|| a.method.default_path().to_string());
    let mount = mount.trim_matches('/').to_string();
    let (token, resp) = match a.method {
        LoginMethod::Token => {
            let token = secret_arg(a.token_value.as_ref(), "Token (will be hidden): ")?;
            let resp = api
                .with_token(token.clone())
                .read("auth/token/lookup-self")
                .await?
                .ok_or_else(|| CliError::Other("empty answer to auth/token/lookup-self".into()))?;
            (token, resp)
        }
        LoginMethod::Userpass => {
            let user = a.username.clone().unwrap_or_default();
            let password = if a.password_stdin {
                line_from_stdin()?
            } else {
                prompt_hidden(
                    "Password (will be hidden): ",
                    "give the password on stdin with --password-stdin (… --password-stdin < pass.txt)",
                )?
            };
            if password.is_empty() {
                return Err(CliError::Usage("the password is empty".into()));
            }
            let body = json!({ "password": password.expose() });
            login_call(&api, &format!("auth/{mount}/login/{user}"), &body).await?
        }
        LoginMethod::Approle => {
            let mut body = json!({ "role_id": a.role_id.clone().unwrap_or_default() });
            if let Some(f) = &a.secret_id_file {
                crate::base::json::set(&mut body, "secret_id", json!(secret_from_file(f)?.expose()));
            }
            login_call(&api, &format!("auth/{mount}/login"), &body).await?
        }
        LoginMethod::Jwt => {
            let file = a.jwt_file.clone().unwrap_or_default();
            let jwt = secret_from_file(&file)?;
            let body = json!({ "role": a.role.clone().unwrap_or_default(), "jwt": jwt.expose() });
            login_call(&api, &format!("auth/{mount}/login"), &body).await?
        }
    };
    print_warnings(&resp);
    let stored = if a.no_store { None } else { Some(token_file::save(&token)?) };
    if a.conn.format != Format::Table {
        return print_structured(a.conn.format, &resp).map(|()| EXIT_OK);
    }
    let mut out = String::from("Success! You are now authenticated.");
    match &stored {
        Some(path) => out.push_str(&format!(
            " The token is stored in {} and\nevery coffer command sends it. It is not shown here.\n\n",
            path.display()
        )),
        None => {
            out.push_str(" The token was not stored (--no-store) and is not shown;\nuse --format json to see it.\n\n")
        }
    }
    emit(&out)?;
    if a.method == LoginMethod::Token {
        let d = resp.get("data").cloned().unwrap_or(Value::Null);
        let rows = ["accessor", "display_name", "policies", "ttl", "renewable"]
            .iter()
            .map(|k| (k.to_string(), super::output::cell(d.get(*k).unwrap_or(&Value::Null))))
            .collect::<Vec<_>>();
        emit(&table(("Key", "Value"), &rows))?;
    } else {
        print_auth(Format::Table, &resp, false)?;
    }
    if stored.is_some() {
        if let Some(var) = ["COFFER_TOKEN", "VAULT_TOKEN"].into_iter().find(|v| env_first(&[v]).is_some()) {
            eprintln!("Warning: {var} is set and takes precedence over the stored token");
        }
    }
    Ok(EXIT_OK)
}

/// Flags that belong to another method, or that a method needs, are usage errors (exit 2).
fn check_flags(a: &LoginArgs) -> Result<(), CliError> {
    let given = |set: bool, flag: &str, methods: &str| -> Result<(), CliError> {
        if set {
            return Err(CliError::Usage(format!("{flag} is for --method {methods}")));
        }
        Ok(())
    };
    let m = a.method;
    given(m != LoginMethod::Userpass && a.username.is_some(), "--username", "userpass")?;
    given(m != LoginMethod::Userpass && a.password_stdin, "--password-stdin", "userpass")?;
    given(m != LoginMethod::Approle && a.role_id.is_some(), "--role-id", "approle")?;
    given(m != LoginMethod::Approle && a.secret_id_file.is_some(), "--secret-id-file", "approle")?;
    given(m != LoginMethod::Jwt && a.role.is_some(), "--role", "jwt")?;
    given(m != LoginMethod::Jwt && a.jwt_file.is_some(), "--jwt-file", "jwt")?;
    given(m != LoginMethod::Token && a.token_value.is_some(), "a TOKEN argument", "token")?;
    given(m == LoginMethod::Token && a.path.is_some(), "--path", "userpass, approle or jwt")?;
    let need = |missing: bool, what: &str| -> Result<(), CliError> {
        if missing {
            return Err(CliError::Usage(format!("--method {} needs {what}", m.default_path())));
        }
        Ok(())
    };
    need(m == LoginMethod::Userpass && a.username.as_deref().is_none_or(str::is_empty), "--username")?;
    need(m == LoginMethod::Approle && a.role_id.as_deref().is_none_or(str::is_empty), "--role-id")?;
    need(m == LoginMethod::Jwt && a.role.as_deref().is_none_or(str::is_empty), "--role")?;
    need(m == LoginMethod::Jwt && a.jwt_file.is_none(), "--jwt-file (`-` for stdin)")?;
    Ok(())
}

/// Posts a login and returns the new token with the whole answer.
async fn login_call(api: &Api, path: &str, body: &Value) -> Result<(Secret, Value), CliError> {
    let resp = api.call(Method::POST, path, Some(body)).await?.unwrap_or(Value::Null);
    let token = resp
        .pointer("/auth/client_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CliError::Other(format!("the answer to {path} holds no token")))?;
    Ok((Secret::new(token.to_string()), resp))
}

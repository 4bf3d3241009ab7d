//! Talking to a managed PostgreSQL: the connection URL with `{{username}}`/`{{password}}` filled
//! in, statement templates (`{{name}}`, `{{username}}`, `{{password}}`, `{{expiration}}`), and
//! errors with every password blanked out before they reach a log or a client.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use zeroize::Zeroizing;

/// Values for statement templates.
pub struct Vars<'a> {
    /// The database user the statements are about.
    pub name: &'a str,
    /// Its new password (empty when the statements need none).
    pub password: &'a str,
    /// Its expiry, for `VALID UNTIL`.
    pub expiration: Option<DateTime<Utc>>,
}

/// Vault's `{{expiration}}` format.
pub fn expiration_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%z").to_string()
}

/// Fills one statement template. Quote characters in values are doubled, so a value cannot end
/// the `"…"` identifier or `'…'` literal it is placed in.
pub fn render(template: &str, v: &Vars<'_>) -> Zeroizing<String> {
    let exp = v.expiration.map(expiration_text).unwrap_or_default();
    let name = v.name.replace('"', "\"\"").replace('\'', "''");
    let password = Zeroizing::new(v.password.replace('\'', "''").replace('"', "\"\""));
    Zeroizing::new(
        template
            .replace("{{name}}", &name)
            .replace("{{username}}", &name)
            .replace("{{password}}", &password)
            .replace("{{expiration}}", &exp),
    )
}

/// `text` with each secret replaced by `[redacted]`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(*s, "[redacted]");
    }
    out
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The connection URL with the root credentials filled in (percent-encoded).
pub fn connection_url(template: &str, username: &str, password: &str) -> Zeroizing<String> {
    Zeroizing::new(template.replace("{{username}}", &encode(username)).replace("{{password}}", &encode(password)))
}

// The functions below return boxed `Send` futures: sqlx's executor traits are higher-ranked, and
// without the box rustc cannot prove the callers' futures `Send` for every lifetime.

/// Opens one connection as the root user. Errors never carry the password.
pub fn connect<'a>(
    template: &'a str,
    username: &'a str,
    password: &'a str,
) -> BoxFuture<'a, Result<PgConnection, String>> {
    Box::pin(async move {
        let url = connection_url(template, username, password);
        let scrub = |e: sqlx::Error| redact(&e.to_string(), &[password, &encode(password)]);
        // Statements carry passwords (`CREATE ROLE … PASSWORD '…'`): sqlx must never log them,
        // at any level, slow or not (SEC-36).
        let options = PgConnectOptions::from_str(&url).map_err(scrub)?.disable_statement_logging();
        options.connect().await.map_err(scrub)
    })
}

/// Splits a statement list item at `;`, outside quotes (`'…'`, `"…"`) and dollar quotes
/// (`$$…$$`, `$tag$…$tag$`); empty pieces are dropped.
pub fn split_statements(text: &str) -> Vec<Zeroizing<String>> {
    let mut out = Vec::new();
    let mut cur = Zeroizing::new(String::new());
    let mut chars = text.char_indices().peekable();
    let mut quote: Option<char> = None;
    let mut dollar: Option<String> = None;
    while let Some((i, c)) = chars.next() {
        if let Some(tag) = &dollar {
            if text[i..].starts_with(tag.as_str()) {
                cur.push_str(tag);
                for _ in 1..tag.chars().count() {
                    chars.next();
                }
                dollar = None;
            } else {
                cur.push(c);
            }
            continue;
        }
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (None, '$') => {
                let rest = &text[i + 1..];
                match rest.find('$') {
                    Some(end) if rest[..end].chars().all(|x| x.is_alphanumeric() || x == '_') => {
                        let tag = format!("${}$", &rest[..end]);
                        cur.push_str(&tag);
                        for _ in 0..=end {
                            chars.next();
                        }
                        dollar = Some(tag);
                    }
                    _ => cur.push(c),
                }
            }
            (None, ';') => {
                if !cur.trim().is_empty() {
                    out.push(Zeroizing::new(cur.trim().to_string()));
                }
                cur.clear();
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(Zeroizing::new(cur.trim().to_string()));
    }
    out
}

/// Runs statements in one transaction: all of them or none. Each list item may hold several
/// `;`-separated statements. Errors never carry `secrets`.
pub fn run_all<'a>(
    conn: &'a mut PgConnection,
    statements: &'a [Zeroizing<String>],
    secrets: &'a [&'a str],
) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let mut tx = conn.begin().await.map_err(|e| redact(&e.to_string(), secrets))?;
        for s in statements {
            for one in split_statements(s) {
                // Not persistent: a statement holding a password must not stay in the cache.
                sqlx::query(&one)
                    .persistent(false)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| redact(&e.to_string(), secrets))?;
            }
        }
        tx.commit().await.map_err(|e| redact(&e.to_string(), secrets))
    })
}

/// Connects as root, runs `statements` in one transaction and, when they fail, `rollback`
/// (best effort, its own transaction).
pub fn run_as_root<'a>(
    url: &'a str,
    root_user: &'a str,
    root_password: &'a str,
    statements: &'a [Zeroizing<String>],
    rollback: &'a [Zeroizing<String>],
    secrets: &'a [&'a str],
) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let mut conn = connect(url, root_user, root_password).await?;
        let done = run_all(&mut conn, statements, secrets).await;
        if done.is_err() && !rollback.is_empty() {
            let _ = run_all(&mut conn, rollback, secrets).await;
        }
        let _ = conn.close().await;
        done
    })
}

/// Drops a user: takes membership in its role when the admin lacks it (best effort; see
/// `default_revocation`), ends its sessions, then runs `statements`, or the default revocation
/// when there are none. A user that does not exist counts as dropped already.
pub fn drop_user<'a>(
    url: &'a str,
    root_user: &'a str,
    root_password: &'a str,
    user: &'a str,
    statements: &'a [Zeroizing<String>],
) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let mut conn = connect(url, root_user, root_password).await?;
        let exists: Option<i32> = sqlx::query_scalar("select 1 from pg_roles where rolname = $1")
            .bind(user)
            .fetch_optional(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let done = match exists {
            None => Ok(()),
            Some(_) => drop_existing(&mut conn, user, statements, &[root_password]).await,
        };
        let _ = conn.close().await;
        done
    })
}

fn drop_existing<'a>(
    conn: &'a mut PgConnection,
    user: &'a str,
    statements: &'a [Zeroizing<String>],
    secrets: &'a [&'a str],
) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        // Without membership the steps below fail with their own, clearer error; this one is
        // added to it.
        let member = super::default_revocation::take_membership(conn, user).await;
        let done = match terminate_sessions(conn, user).await {
            Ok(()) if statements.is_empty() => super::default_revocation::run(conn, user, secrets).await,
            Ok(()) => run_all(conn, statements, secrets).await,
            Err(e) => Err(e),
        };
        match (done, member) {
            (Err(e), Err(m)) => Err(format!("{e} ({m})")),
            (done, _) => done,
        }
    })
}

/// Ends every session of `user` (before its role is dropped or its password changes hands).
pub fn terminate_sessions<'a>(conn: &'a mut PgConnection, user: &'a str) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        sqlx::query(
            "select pg_terminate_backend(pid) from pg_stat_activity where usename = $1 and pid <> pg_backend_pid()",
        )
        .bind(user)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_every_variable_and_escapes_quotes() {
        let v = Vars { name: "v-a\"b", password: "p'w", expiration: None };
        let s = render("CREATE ROLE \"{{name}}\" PASSWORD '{{password}}' -- {{username}}", &v);
        assert_eq!(s.as_str(), "CREATE ROLE \"v-a\"\"b\" PASSWORD 'p''w' -- v-a\"\"b");
    }

    #[test]
    fn connection_url_encodes_credentials() {
        let u = connection_url("postgresql://{{username}}:{{password}}@db/x", "root", "p@ss:w/rd");
        assert_eq!(u.as_str(), "postgresql://root:p%40ss%3Aw%2Frd@db/x");
    }

    #[test]
    fn statements_split_outside_quotes_and_dollar_quotes() {
        let parts = split_statements(
            "CREATE ROLE \"a;b\" PASSWORD 'p;w'; GRANT SELECT ON t TO x;; DO $f$ BEGIN PERFORM 1; END $f$; SELECT 2",
        );
        let parts: Vec<&str> = parts.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            parts,
            vec![
                "CREATE ROLE \"a;b\" PASSWORD 'p;w'",
                "GRANT SELECT ON t TO x",
                "DO $f$ BEGIN PERFORM 1; END $f$",
                "SELECT 2"
            ]
        );
        let dd: Vec<String> = split_statements("DO $$ BEGIN x; END $$;").iter().map(|p| p.to_string()).collect();
        assert_eq!(dd, vec!["DO $$ BEGIN x; END $$"]);
    }

    #[test]
    fn redact_removes_secrets() {
        assert_eq!(redact("bad password hunter22 here", &["hunter22"]), "bad password [redacted] here");
    }
}

//! The revocation a dynamic user gets when its role names no statements: Vault's (revoke what the
//! user was granted, then `DROP ROLE`), made to work for an admin with `CREATEROLE` only, as on
//! managed PostgreSQL. Such an admin first takes membership in the user's role, which lets it end
//! the user's sessions and `DROP OWNED BY` it (PostgreSQL 15 refuses both to a non-member).

use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use zeroize::Zeroizing;

use super::target::{redact, run_all};

/// An SQL identifier: `"name"` with every `"` doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn has_privileges_of<'a>(conn: &'a mut PgConnection, user: &'a str) -> BoxFuture<'a, Result<bool, String>> {
    Box::pin(async move {
        sqlx::query_scalar("select pg_has_role(current_user, $1::text::name, 'USAGE')")
            .bind(user)
            .fetch_one(conn)
            .await
            .map_err(|e| e.to_string())
    })
}

/// Makes the connected admin a member of `user`'s role, unless it already has its privileges (a
/// superuser always has). `CREATEROLE` is enough for the `GRANT` on PostgreSQL 15; from 16 on the
/// admin has the admin option on the roles it created itself.
pub fn take_membership<'a>(conn: &'a mut PgConnection, user: &'a str) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        if has_privileges_of(conn, user).await? {
            return Ok(());
        }
        sqlx::query(&format!("GRANT {} TO CURRENT_USER", quote_ident(user)))
            .persistent(false)
            .execute(conn)
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot grant role {user:?} to the admin: {e}"))
    })
}

/// Vault's statements: every privilege on the tables of each schema where `user` holds grants,
/// and on `public`'s tables, sequences and schema, and `CONNECT` on this database.
fn revocations<'a>(conn: &'a mut PgConnection, user: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>> {
    Box::pin(async move {
        let schemas: Vec<String> = sqlx::query_scalar(
            "select table_schema::text from information_schema.role_table_grants where grantee = $1 \
             union select table_schema::text from information_schema.role_column_grants where grantee = $1 \
             order by 1",
        )
        .bind(user)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
        let database: String = sqlx::query_scalar("select current_database()::text")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| e.to_string())?;
        let u = quote_ident(user);
        let mut out = Vec::new();
        for schema in schemas.iter().filter(|s| s.as_str() != "public") {
            let s = quote_ident(schema);
            out.push(format!("REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA {s} FROM {u}"));
            out.push(format!("REVOKE USAGE ON SCHEMA {s} FROM {u}"));
        }
        out.push(format!("REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM {u}"));
        out.push(format!("REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM {u}"));
        out.push(format!("REVOKE USAGE ON SCHEMA public FROM {u}"));
        out.push(format!("REVOKE CONNECT ON DATABASE {} FROM {u}", quote_ident(&database)));
        Ok(out)
    })
}

/// Drops `user` (its sessions already ended): the revocations one by one, each on its own so one
/// that fails does not keep the others from removing access; then, in one transaction,
/// `DROP OWNED BY` (when the admin has the user's privileges: it drops what the user owns and
/// revokes what others granted it here) and `DROP ROLE IF EXISTS`. Once the role is gone every
/// grant it held is gone with it, so a failed revocation before a successful drop is no error.
pub fn run<'a>(conn: &'a mut PgConnection, user: &'a str, secrets: &'a [&'a str]) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let mut revoke_error = None;
        for statement in revocations(conn, user).await? {
            if let Err(e) = sqlx::query(&statement).persistent(false).execute(&mut *conn).await {
                revoke_error = Some(redact(&e.to_string(), secrets));
            }
        }
        let u = quote_ident(user);
        let mut drop = Vec::new();
        if has_privileges_of(conn, user).await.unwrap_or(false) {
            drop.push(Zeroizing::new(format!("DROP OWNED BY {u}")));
        }
        drop.push(Zeroizing::new(format!("DROP ROLE IF EXISTS {u}")));
        run_all(conn, &drop, secrets).await.map_err(|e| match revoke_error {
            Some(r) => format!("{e} (a revocation before it failed too: {r})"),
            None => e,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn identifiers_are_quoted_with_quotes_doubled() {
        assert_eq!(quote_ident("v-root-ro-abc"), "\"v-root-ro-abc\"");
        assert_eq!(quote_ident("a\"; DROP ROLE x; --"), "\"a\"\"; DROP ROLE x; --\"");
    }
}

//! The roles Coffer never changes through a database connection, whoever asks: the connection's
//! own user (as configured, and as it really logs in), a role that does not exist, and a
//! superuser. Static roles and the KV `postgres` rotator both check here before they set a
//! password (each also checks the connection's `allowed_roles` for the name it uses).

use futures_util::future::BoxFuture;
use sqlx::Connection;

use super::config::DbConfig;
use crate::base::refusal::Refusal;

fn own_user(u: &str) -> Refusal {
    Refusal::Final(format!("role {u:?} is the connection's own user, whose password Coffer never changes"))
}

/// Checks each of `usernames` (see the module doc).
pub async fn check(cfg: &DbConfig, usernames: &[String]) -> Result<(), Refusal> {
    for u in usernames {
        if *u == cfg.username {
            return Err(own_user(u));
        }
    }
    let mut conn = cfg
        .connect()
        .await
        .map_err(|e| Refusal::Retry(format!("cannot check the roles through the connection: {e}")))?;
    let checked = roles_allowed(&mut conn, usernames).await;
    let _ = conn.close().await;
    checked
}

fn roles_allowed<'a>(conn: &'a mut sqlx::PgConnection, usernames: &'a [String]) -> BoxFuture<'a, Result<(), Refusal>> {
    Box::pin(async move {
        let failed = |e: sqlx::Error| Refusal::Retry(format!("cannot check the roles through the connection: {e}"));
        let (me, session): (String, String) = sqlx::query_as("select current_user::text, session_user::text")
            .fetch_one(&mut *conn)
            .await
            .map_err(failed)?;
        for u in usernames {
            if *u == me || *u == session {
                return Err(own_user(u));
            }
            let superuser: Option<bool> =
                sqlx::query_scalar("select rolsuper from pg_catalog.pg_roles where rolname = $1")
                    .bind(u)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(failed)?;
            match superuser {
                None => return Err(Refusal::Final(format!("role {u:?} does not exist"))),
                Some(true) => {
                    return Err(Refusal::Final(format!(
                        "role {u:?} is a superuser, whose password Coffer never changes"
                    )))
                }
                Some(false) => {}
            }
        }
        Ok(())
    })
}

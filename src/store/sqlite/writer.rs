//! The SQLite writer: one connection that commits queued writes together (group commit), each
//! inside its own savepoint.

use futures_util::future::BoxFuture;
use sqlx::{Executor, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::store::{StoreError, StoreResult};

/// A write to run inside the writer's batch transaction.
pub(super) type WriteFn = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<()>> + Send>;

/// One queued write and where its result goes.
pub(super) struct Job {
    pub(super) work: WriteFn,
    pub(super) reply: oneshot::Sender<StoreResult<()>>,
}

/// Most writes committed together in one transaction (one fsync).
const MAX_BATCH: usize = 128;

/// Group commit: takes every queued write (up to [`MAX_BATCH`]), runs each inside its own
/// savepoint so one failure does not undo the others, commits once, then answers each caller.
pub(super) async fn writer_loop(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Some(busy) = run_batch(&mut conn, batch).await {
            // The database stayed locked for a whole `busy_timeout`: writes queued meanwhile get
            // the same answer now rather than waiting out another timeout each.
            while let Ok(job) = rx.try_recv() {
                let _ = job.reply.send(Err(busy.clone()));
            }
        }
    }
}

/// Runs one batch; returns the error when the transaction could not even start because the
/// database stayed locked (`Unavailable`).
async fn run_batch(conn: &mut SqliteConnection, batch: Vec<Job>) -> Option<StoreError> {
    let fail_all = |replies: Vec<oneshot::Sender<StoreResult<()>>>, err: StoreError| {
        for reply in replies {
            let _ = reply.send(Err(err.clone()));
        }
    };
    // Another process holding the write lock past `busy_timeout` fails here (503).
    if let Err(e) = conn.execute("begin immediate").await {
        let e = StoreError::from(e);
        fail_all(batch.into_iter().map(|j| j.reply).collect(), e.clone());
        return matches!(e, StoreError::Unavailable(_)).then_some(e);
    }
    let mut done = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if let Err(e) = conn.execute("savepoint w").await {
            let _ = job.reply.send(Err(e.into()));
            continue;
        }
        let result = (job.work)(&mut *conn).await;
        // After a full disk SQLite may already have rolled the whole transaction back: keep
        // nothing of the batch, and tell every caller why (507), never a half-committed batch.
        if let Err(e @ (StoreError::Full(_) | StoreError::Unavailable(_))) = &result {
            let e = e.clone();
            let _ = conn.execute("rollback").await;
            let replies =
                done.into_iter().map(|(r, _)| r).chain(std::iter::once(job.reply)).chain(jobs.map(|j| j.reply));
            fail_all(replies.collect(), e);
            return None;
        }
        let end = if result.is_ok() { "release w" } else { "rollback to w; release w" };
        if let Err(e) = conn.execute(end).await {
            tracing::error!(error = %e, "savepoint cleanup failed");
        }
        done.push((job.reply, result));
    }
    match conn.execute("commit").await {
        Ok(_) => {
            for (reply, result) in done {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            let _ = conn.execute("rollback").await;
            fail_all(done.into_iter().map(|(r, _)| r).collect(), e.into());
        }
    }
    None
}

//! The SQLite writer: one thread with its own connection that commits queued writes together
//! (group commit), each inside its own savepoint. The thread runs every statement of a batch
//! itself, so a write costs one hand-over to the thread and one back, whatever its statements.

use std::any::Any;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::store::{StoreError, StoreResult};

/// What a write job hands back (downcast by [`super::SqliteStore::write`]).
pub(super) type Output = Box<dyn Any + Send>;

/// A write to run inside the writer's batch transaction.
pub(super) type WriteFn = Box<dyn FnOnce(&mut Connection) -> StoreResult<Output> + Send>;

/// One queued write and where its result goes.
pub(super) struct Job {
    pub(super) work: WriteFn,
    pub(super) reply: oneshot::Sender<StoreResult<Output>>,
}

/// Most writes committed together in one transaction (one fsync).
const MAX_BATCH: usize = 128;

/// Starts the writer thread on `conn`; it ends when every sender is dropped.
pub(super) fn spawn(conn: Connection, rx: mpsc::Receiver<Job>) -> StoreResult<()> {
    std::thread::Builder::new()
        .name("coffer-sqlite-writer".into())
        .spawn(move || writer_loop(conn, rx))
        .map(drop)
        .map_err(|e| StoreError::Backend(format!("cannot start the database writer: {e}")))
}

/// Group commit: takes every queued write (up to [`MAX_BATCH`]), runs each inside its own
/// savepoint so one failure does not undo the others, commits once, then answers each caller.
fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Some(busy) = run_batch(&mut conn, batch) {
            // The database stayed locked for a whole `busy_timeout`: writes queued meanwhile get
            // the same answer now rather than waiting out another timeout each.
            while let Ok(job) = rx.try_recv() {
                let _ = job.reply.send(Err(busy.clone()));
            }
        }
    }
}

type Reply = oneshot::Sender<StoreResult<Output>>;

fn fail_all(replies: impl Iterator<Item = Reply>, err: &StoreError) {
    for reply in replies {
        let _ = reply.send(Err(err.clone()));
    }
}

/// Runs one batch; returns the error when the transaction could not even start because the
/// database stayed locked (`Unavailable`).
fn run_batch(conn: &mut Connection, batch: Vec<Job>) -> Option<StoreError> {
    // Another process holding the write lock past `busy_timeout` fails here (503).
    if let Err(e) = conn.execute_batch("begin immediate") {
        let e = StoreError::from(e);
        fail_all(batch.into_iter().map(|j| j.reply), &e);
        return matches!(e, StoreError::Unavailable(_)).then_some(e);
    }
    let mut done: Vec<(Reply, StoreResult<Output>)> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if let Err(e) = conn.execute_batch("savepoint w") {
            let _ = job.reply.send(Err(e.into()));
            continue;
        }
        let result = (job.work)(conn);
        // After a full disk SQLite may already have rolled the whole transaction back: keep
        // nothing of the batch, and tell every caller why (507), never a half-committed batch.
        if let Err(e @ (StoreError::Full(_) | StoreError::Unavailable(_))) = &result {
            let e = e.clone();
            let _ = conn.execute_batch("rollback");
            let replies =
                done.into_iter().map(|(r, _)| r).chain(std::iter::once(job.reply)).chain(jobs.map(|j| j.reply));
            fail_all(replies, &e);
            return None;
        }
        let end = if result.is_ok() { "release w" } else { "rollback to w; release w" };
        if let Err(e) = conn.execute_batch(end) {
            tracing::error!(error = %e, "savepoint cleanup failed");
        }
        done.push((job.reply, result));
    }
    match conn.execute_batch("commit") {
        Ok(()) => {
            for (reply, result) in done {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            let _ = conn.execute_batch("rollback");
            fail_all(done.into_iter().map(|(r, _)| r), &e.into());
        }
    }
    None
}

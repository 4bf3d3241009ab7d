//! A device's dedicated writer task: takes entry bodies from a bounded queue, chains them into
//! lines, writes each batch with one call, adds signed checkpoints, and acknowledges each entry
//! only once its batch is written.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender};

use chrono::SecondsFormat;
use ed25519_dalek::SigningKey;

use super::chain::{self, Head, Reason};
use super::sink::Sink;

/// Tells a waiting request whether its entry was written.
pub enum Ack {
    /// The only device the request waits for.
    One(tokio::sync::oneshot::Sender<bool>),
    /// One of several devices; the request goes ahead at the first `true`.
    Many(Sender<bool>),
}

impl Ack {
    /// Sends the outcome (the request may have given up waiting; that is fine).
    pub fn send(self, ok: bool) {
        match self {
            Ack::One(tx) => {
                let _ = tx.send(ok);
            }
            Ack::Many(tx) => {
                let _ = tx.try_send(ok);
            }
        }
    }
}

/// What a writer thread is asked to do.
pub enum Msg {
    /// Write one entry body (a JSON object without `seq`/`prev_hash`).
    Entry(Vec<u8>, Option<Ack>),
    /// Write a `close` checkpoint, close the file, and reopen it (logrotate).
    Reopen,
    /// Write a `close` checkpoint and stop; the final head is sent back.
    Close(tokio::sync::oneshot::Sender<Head>),
}

/// How often checkpoints are written.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    /// After this many entries.
    pub entries: u64,
    /// Or this long after the first unsigned entry.
    pub interval: Duration,
}

/// Most entries written with one call.
const MAX_BATCH: usize = 512;

/// Queue length per device: beyond it, requests fail fast instead of waiting on a stuck device.
pub const QUEUE: usize = 4096;

/// The chain as the thread sees it: committed only after a successful write.
#[derive(Clone, Copy)]
struct State {
    head: Head,
    unsigned: u64,
    first_unsigned: Option<Instant>,
    need_open: bool,
}

/// The writer task's owned state.
pub struct Writer {
    /// Device name, written into checkpoints.
    pub name: String,
    /// Destination.
    pub sink: Sink,
    /// Checkpoint signing key.
    pub key: SigningKey,
    /// Checkpoint cadence.
    pub cadence: Cadence,
    /// Called with the head after every durable checkpoint.
    pub on_checkpoint: Box<dyn Fn(Head) + Send>,
    /// The last failure, for the operator (`None` after a successful write).
    pub problem: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    /// The core's clock (checkpoint times).
    pub clock: crate::base::schedule::SharedClock,
}

/// Starts the task on the current runtime; returns the queue's sending side.
pub fn spawn(writer: Writer, head: Head) -> Sender<Msg> {
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
    tokio::spawn(writer.run(rx, head));
    tx
}

/// Queues a message without blocking; false if the queue is full or the task is gone.
pub fn offer(tx: &Sender<Msg>, msg: Msg) -> bool {
    match tx.try_send(msg) {
        Ok(()) => true,
        Err(TrySendError::Full(_) | TrySendError::Closed(_)) => false,
    }
}

fn now(clock: &crate::base::schedule::SharedClock) -> String {
    clock.now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

impl Writer {
    async fn run(mut self, mut rx: Receiver<Msg>, head: Head) {
        let mut state = State { head, unsigned: 0, first_unsigned: None, need_open: true };
        loop {
            let wait = match state.first_unsigned {
                Some(t) => self.cadence.interval.saturating_sub(t.elapsed()),
                None => Duration::from_secs(3600),
            };
            let first = match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(m)) => Some(m),
                Err(_) => None,
                Ok(None) => {
                    self.close(&mut state).await;
                    return;
                }
            };
            let mut entries = Vec::new();
            let mut control = None;
            match first {
                Some(Msg::Entry(body, ack)) => {
                    entries.push((body, ack));
                    // Let the requests that are running now queue their entries too: one write
                    // for all of them instead of one each.
                    tokio::task::yield_now().await;
                }
                Some(other) => control = Some(other),
                None => {}
            }
            while control.is_none() && entries.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(Msg::Entry(body, ack)) => entries.push((body, ack)),
                    Ok(other) => control = Some(other),
                    Err(_) => break,
                }
            }
            let closing = control.is_some() && !state.need_open;
            let due = state.first_unsigned.is_some_and(|t| t.elapsed() >= self.cadence.interval);
            let ok = (entries.is_empty() && !due && !closing) || self.write_batch(&mut state, &entries, closing).await;
            for (_, ack) in entries {
                if let Some(ack) = ack {
                    ack.send(ok);
                }
            }
            match control {
                Some(Msg::Reopen) => {
                    self.sink.close();
                    state.need_open = true;
                }
                Some(Msg::Close(reply)) => {
                    self.sink.close();
                    let _ = reply.send(state.head);
                    return;
                }
                _ => {}
            }
        }
    }

    /// Chains and writes one batch (plus the checkpoints due); commits `state` on success.
    async fn write_batch(&mut self, state: &mut State, entries: &[(Vec<u8>, Option<Ack>)], closing: bool) -> bool {
        let reopened = match self.sink.ensure_open().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(device = %self.name, target = %self.sink.target(), error = %e, "audit device cannot be opened");
                self.report(Some(e.to_string()));
                return false;
            }
        };
        let mut next = *state;
        let mut buf = Vec::with_capacity(entries.iter().map(|(b, _)| b.len() + 100).sum::<usize>() + 400);
        if reopened || next.need_open {
            self.checkpoint(&mut next, Reason::Open, &mut buf);
        }
        for (body, _) in entries {
            chain::seal_into(&mut next.head, body, &mut buf);
            next.unsigned += 1;
            next.first_unsigned.get_or_insert_with(Instant::now);
            if next.unsigned >= self.cadence.entries {
                self.checkpoint(&mut next, Reason::Periodic, &mut buf);
            }
        }
        if closing {
            self.checkpoint(&mut next, Reason::Close, &mut buf);
        } else if next.first_unsigned.is_some_and(|t| t.elapsed() >= self.cadence.interval) {
            self.checkpoint(&mut next, Reason::Periodic, &mut buf);
        }
        let signed = next.head != state.head && next.unsigned == 0;
        let mut written = self.sink.write(&buf).await;
        if written.is_ok() && signed {
            written = self.sink.sync().await;
        }
        match written {
            Ok(()) => {
                *state = next;
                self.report(None);
                if signed {
                    (self.on_checkpoint)(state.head);
                }
                true
            }
            Err(e) => {
                tracing::error!(device = %self.name, target = %self.sink.target(), error = %e, "audit device write failed");
                self.report(Some(e.to_string()));
                false
            }
        }
    }

    fn report(&self, problem: Option<String>) {
        if let Ok(mut p) = self.problem.lock() {
            *p = problem;
        }
    }

    fn checkpoint(&self, state: &mut State, reason: Reason, buf: &mut Vec<u8>) {
        chain::checkpoint_into(&mut state.head, &self.name, reason, &self.key, &now(&self.clock), buf);
        state.unsigned = 0;
        state.first_unsigned = None;
        state.need_open = false;
    }

    /// The channel closed: sign off what is there.
    async fn close(&mut self, state: &mut State) {
        if state.unsigned > 0 || !state.need_open {
            self.write_batch(state, &[], true).await;
        }
        self.sink.close();
    }
}

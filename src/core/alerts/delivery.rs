//! Sending alerts to their rules' webhooks, off the request path: a bounded queue (an alert that
//! finds it full is dropped and counted), and a worker that checks each URL against the outbound
//! allow-list again, POSTs the alert signed with the rule's key (the core's one signed POST, as
//! rotation webhooks), and gives up after a timeout. One attempt per alert; a failure is logged
//! and counted. The worker also writes each rule's rate-limit summary when its minute ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};

use crate::base::refusal::Refusal;
use crate::core::outbound::signed::{self, Post};
use crate::core::outbound::HmacKey;
use crate::core::Core;

/// Alerts waiting to be sent, at most.
pub const QUEUE: usize = 1_024;
/// Sends in flight at once.
pub const PARALLEL: usize = 4;
/// Longest one send may take (connection and answer).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How often ended rate-limit minutes are summarised.
const TICK: Duration = Duration::from_secs(1);

/// One alert on its way to one webhook.
pub struct Delivery {
    /// The rule's name (for logs).
    pub rule: String,
    /// The webhook.
    pub url: String,
    /// The rule's key.
    pub key: HmacKey,
    /// The alert, as JSON.
    pub body: Vec<u8>,
}

/// What became of deliveries on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Answered 2xx.
    pub sent: u64,
    /// Refused by the allow-list, failed or timed out, or answered otherwise.
    pub failed: u64,
    /// Dropped because the queue was full.
    pub overflow: u64,
}

/// The queue and its counts.
pub struct Queue {
    tx: mpsc::Sender<Delivery>,
    rx: Mutex<Option<mpsc::Receiver<Delivery>>>,
    sent: AtomicU64,
    failed: AtomicU64,
    overflow: AtomicU64,
}

impl Default for Queue {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Queue {
            tx,
            rx: Mutex::new(Some(rx)),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            overflow: AtomicU64::new(0),
        }
    }
}

impl Queue {
    /// Queues a delivery without waiting; a full queue drops it (counted).
    pub fn offer(&self, d: Delivery) {
        match self.tx.try_send(d) {
            Ok(()) => {}
            Err(TrySendError::Full(d) | TrySendError::Closed(d)) => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(rule = %d.rule, "alert webhook queue full: an alert was not sent");
            }
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        Counts {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            overflow: self.overflow.load(Ordering::Relaxed),
        }
    }

    fn take_receiver(&self) -> Option<mpsc::Receiver<Delivery>> {
        self.rx.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The worker of a core: sends what is queued, and summarises ended rate-limit minutes. Runs until
/// aborted (one per core; a second one returns at once).
pub async fn run(core: Arc<Core>) {
    let Some(mut rx) = core.alerts.queue().take_receiver() else { return };
    let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            next = rx.recv() => {
                let Some(d) = next else { return };
                let Ok(slot) = slots.clone().acquire_owned().await else { return };
                let core = core.clone();
                tokio::spawn(async move {
                    deliver(&core, d).await;
                    drop(slot);
                });
            }
            _ = tick.tick() => core.alerts.tick(&core.audit),
        }
    }
}

async fn deliver(core: &Core, d: Delivery) {
    let queue = core.alerts.queue();
    match send(core, &d).await {
        Ok(()) => {
            queue.sent.fetch_add(1, Ordering::Relaxed);
        }
        Err(why) => {
            queue.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(rule = %d.rule, error = %why, "an alert could not be sent to its webhook");
        }
    }
}

/// One signed POST, after the allow-list admitted the URL again.
async fn send(core: &Core, d: &Delivery) -> Result<(), String> {
    let permit = match core.outbound.permit(&core.store, &d.url).await {
        Ok(Ok(p)) => p,
        Ok(Err(Refusal::Final(why) | Refusal::Retry(why))) => return Err(format!("the webhook is not allowed: {why}")),
        Err(e) => return Err(e.errors.join("; ")),
    };
    let post = Post { permit: &permit, key: &d.key, ca_pem: "", timeout: TIMEOUT };
    let resp = tokio::time::timeout(TIMEOUT, signed::post(&post, d.body.clone()))
        .await
        .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))??;
    match resp.status() {
        s if s.is_success() => Ok(()),
        s => Err(format!("the webhook answered HTTP {}", s.as_u16())),
    }
}

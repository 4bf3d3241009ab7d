//! Per-connection watchdog (slow clients, SEC-29/LOAD-5): a connection must deliver a request's
//! headers within the header timeout, counted from its start and from the first byte after each
//! idle period, and is closed after the idle timeout with no request in flight.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// No byte since the connection became idle.
const NONE: u64 = u64::MAX;

/// What the watchdog knows of one connection. Times are milliseconds since its start.
pub struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    idle_since: AtomicU64,
    head_since: AtomicU64,
    served: AtomicUsize,
}

impl Activity {
    /// A connection accepted now.
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            served: AtomicUsize::new(0),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// A request's headers arrived; the returned guard marks its end.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.fetch_add(1, Ordering::SeqCst);
        self.head_since.store(NONE, Ordering::SeqCst);
        Busy(self.clone())
    }

    fn read_some(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            let now = self.now();
            let _ = self.head_since.compare_exchange(NONE, now, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// When the connection must be closed if nothing changes (`None`: a request is in flight).
    fn deadline(&self, header: Duration, idle: Duration) -> Option<u64> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NONE / 2);
        let head = self.head_since.load(Ordering::SeqCst);
        Some(if head != NONE {
            head.saturating_add(ms(header))
        } else if self.served.load(Ordering::SeqCst) == 0 {
            ms(header)
        } else {
            self.idle_since.load(Ordering::SeqCst).saturating_add(ms(idle))
        })
    }
}

/// One request in flight; dropping it makes the connection idle again (if it was the last).
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.0.now();
        self.0.idle_since.store(now, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves when the connection has overstayed: headers too slow, or idle too long.
pub async fn overstayed(activity: Arc<Activity>, header: Duration, idle: Duration) {
    // Re-checked at least this often, so a deadline that moves earlier (bytes arriving on an
    // idle connection) is seen in time.
    let tick = (header / 4).max(Duration::from_millis(20));
    loop {
        let now = activity.now();
        let wait = match activity.deadline(header, idle) {
            Some(d) if now >= d => return,
            Some(d) => Duration::from_millis(d - now).min(tick),
            None => tick,
        };
        tokio::time::sleep(wait).await;
    }
}

/// A stream that reports the bytes it reads to its connection's [`Activity`].
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_requests_and_bytes() {
        let (h, i) = (Duration::from_secs(10), Duration::from_secs(300));
        let a = Activity::new();
        assert_eq!(a.deadline(h, i), Some(10_000), "the first request's headers");
        a.read_some();
        assert!(a.deadline(h, i) >= Some(10_000) && a.deadline(h, i) < Some(11_000), "from the first byte");
        let busy = a.begin();
        assert_eq!(a.deadline(h, i), None, "a request in flight");
        a.read_some();
        assert_eq!(a.deadline(h, i), None, "its body");
        drop(busy);
        let idle = a.deadline(h, i).unwrap();
        assert!((300_000..301_000).contains(&idle), "idle after a request: {idle}");
        a.read_some();
        let next = a.deadline(h, i).unwrap();
        assert!((10_000..11_000).contains(&next), "bytes of the next request: {next}");
    }
}

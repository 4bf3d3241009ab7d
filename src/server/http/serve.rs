//! The accept loop: plain TCP or rustls TLS, HTTP/1.1 and HTTP/2, a cap on open connections,
//! header and idle timeouts per connection, graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::watch::{self, Activity, Watched};
use super::{Limits, PeerAddr, PeerCerts};

/// A bound listener, with TLS or without.
pub enum Listener {
    /// Plain HTTP (`tls_disable = true`).
    Plain(TcpListener),
    /// HTTPS.
    Tls(TcpListener, TlsAcceptor),
}

impl Listener {
    fn tcp(&self) -> &TcpListener {
        match self {
            Listener::Plain(l) | Listener::Tls(l, _) => l,
        }
    }
}

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes of request headers (HTTP/1 read buffer; the HTTP/2 header list gets the same).
pub const MAX_HEADER_BYTES: usize = 64 << 10;

/// What a plain-HTTP client gets when the server holds `max_connections` already.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Serves `app` until `shutdown` completes, then drains open connections (bounded).
pub async fn serve(listener: Listener, app: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // Request headers of one connection are buffered up to this (hyper's default is ~400 KB,
    // which times `max_connections` is a lot of memory for clients that never finish).
    builder.http1().max_buf_size(MAX_HEADER_BYTES);
    builder.http2().max_header_list_size(64 << 10);
    let builder = Arc::new(builder);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (header, idle) = (limits.header_read_timeout, limits.idle_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.tcp().accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Running out of file descriptors must not end the server.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Over the cap: closed at once rather than queued (a held slot frees within the
        // header or idle timeout).
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if matches!(listener, Listener::Plain(_)) {
                let _ = stream.try_write(BUSY);
            }
            tracing::debug!(%peer, "connection refused: max_connections reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let activity = Activity::new();
        let busy = activity.clone();
        // The service of one connection: every request carries the peer's address and, on TLS,
        // the client certificate chain the handshake proved (if the client sent one).
        let service = move |certs: Option<PeerCerts>| {
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                if let Some(c) = &certs {
                    req.extensions_mut().insert(c.clone());
                }
                let guard = busy.begin();
                let answer = app.clone().oneshot(req.map(axum::body::Body::new));
                async move {
                    let out = answer.await;
                    drop(guard);
                    out
                }
            })
        };
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = match &listener {
            Listener::Plain(_) => None,
            Listener::Tls(_, acceptor) => Some(acceptor.clone()),
        };
        tokio::spawn(async move {
            let _slot = slot;
            let overstayed = watch::overstayed(activity.clone(), header, idle);
            match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(Watched::new(stream, activity)), service(None));
                    tokio::select! {
                        _ = watcher.watch(conn.into_owned()) => {}
                        () = overstayed => tracing::debug!(%peer, "connection closed: headers too slow or idle too long"),
                    }
                }
                Some(acceptor) => {
                    // A failed or slow handshake closes only this connection.
                    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let certs = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .filter(|c| !c.is_empty())
                        .map(|c| PeerCerts(Arc::new(c.iter().map(|d| d.as_ref().to_vec()).collect())));
                    let conn = builder.serve_connection(TokioIo::new(Watched::new(tls, activity)), service(certs));
                    tokio::select! {
                        _ = watcher.watch(conn.into_owned()) => {}
                        () = overstayed => tracing::debug!(%peer, "connection closed: headers too slow or idle too long"),
                    }
                }
            }
        });
    }
    tracing::info!("shutting down: draining open connections");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
}

//! Accepting connections: at most as many as [`ConnectionCaps`] allows
//! (below the descriptor limit), TLS handshake (with a deadline), the
//! client certificate's CN put into each request, HTTP/1.1 and HTTP/2 with
//! a header deadline (and a first request within it, whatever the
//! protocol), and graceful shutdown that lets in-flight requests finish.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::conn_cap::ConnectionCaps;
use crate::state::Limits;
use crate::tls::common_name;

/// The client certificate a connection presented (its subject CN).
#[derive(Debug, Clone, Default)]
pub struct PeerCert {
    /// The CN, when a certificate was presented (and verified).
    pub common_name: Option<String>,
}

/// Serves `router` on `listener` over TLS until `shutdown` resolves, then
/// waits up to `drain` for open requests to finish.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut caps = ConnectionCaps::for_process(&limits);
    tokio::pin!(shutdown);
    loop {
        // A slot first: beyond the cap, connections wait in the listen queue.
        let slot = tokio::select! {
            slot = caps.slot() => slot,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream))
                .await
            {
                Ok(Ok(tls)) => {
                    drop(slot.handshake);
                    tls
                }
                Ok(Err(e)) => {
                    tracing::info!(peer = %peer, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(peer = %peer, "TLS handshake timed out");
                    return;
                }
            };
            let cert = PeerCert {
                common_name: tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|der| common_name(der)),
            };
            let requested = Arc::new(AtomicBool::new(false));
            let seen = Arc::clone(&requested);
            let service =
                router.map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    seen.store(true, Ordering::Relaxed);
                    request.extensions_mut().insert(cert.clone());
                    request
                });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(64);
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(tls),
                TowerToHyperService::new(service),
            );
            let connection = watcher.watch(connection.into_owned());
            tokio::pin!(connection);
            // Neither HTTP/2 nor the protocol detection before it has a
            // deadline of its own: a connection that sends no request
            // after its handshake would hold its slot for ever.
            let ended = tokio::select! {
                ended = &mut connection => Some(ended),
                () = tokio::time::sleep(limits.header_timeout) => None,
            };
            let ended = match ended {
                Some(ended) => ended,
                None if !requested.load(Ordering::Relaxed) => {
                    tracing::info!(peer = %peer, "no request within the header timeout: connection closed");
                    return;
                }
                None => connection.await,
            };
            if let Err(e) = ended {
                tracing::debug!(peer = %peer, error = %e, "connection ended");
            }
            drop(slot.connection);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(drain) => tracing::warn!("shutdown: requests still open after the drain time"),
    }
}

//! The accept loop: hyper's connection builder with the limits `axum::serve` does not expose
//! (header read timeout, header count and size), a cap on open connections, and a drain that
//! ends every connection gracefully, then cuts the streams still open at the deadline with an
//! error event in their format (`relay.rs` watches [`crate::relay::DRAIN`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tollgate_config::EdgeConfig;

use super::refused;

/// After the drain deadline cuts the open streams, how long their error events get to be
/// written before the connections are dropped.
const CUT_GRACE: Duration = Duration::from_secs(2);

/// The HTTP server of one edge: what a connection may cost.
pub struct Server {
    builder: auto::Builder<TokioExecutor>,
    connections: Arc<Semaphore>,
    /// A connection must bring its first whole request head within this (HTTP/1 and HTTP/2:
    /// hyper's own header timeout covers HTTP/1 only, so a client dribbling the HTTP/2 preface
    /// or its first HEADERS would otherwise hold a connection slot for ever).
    first_request: Duration,
}

/// HTTP/2 keepalive ping interval, and how long a ping may go unanswered.
const H2_KEEPALIVE: Duration = Duration::from_secs(20);

impl Server {
    pub fn new(edge: &EdgeConfig) -> Server {
        let h = &edge.hardening;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(h.header_read_timeout)
            .max_headers(h.max_headers)
            .max_buf_size(h.max_header_bytes);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(h.max_header_bytes).unwrap_or(u32::MAX))
            // A peer that stops answering pings is gone (a host that vanished sends no FIN).
            .keep_alive_interval(Some(H2_KEEPALIVE))
            .keep_alive_timeout(H2_KEEPALIVE);
        Server {
            builder,
            connections: Arc::new(Semaphore::new(h.max_connections)),
            first_request: h.header_read_timeout,
        }
    }

    /// Serve `app` on `listener` until `stop_accepting`; then every connection finishes its
    /// requests and closes, up to `drain`; at `drain`, `cut` ends the streams still open (with
    /// their error event), which get [`CUT_GRACE`] to go out before the connections are dropped.
    pub async fn run(
        self,
        app: Router,
        listener: TcpListener,
        stop_accepting: CancellationToken,
        cut: CancellationToken,
        drain: Duration,
    ) {
        let mut open = JoinSet::new();
        loop {
            // At the cap, wait for a connection to close: new ones queue in the listen backlog
            // (the kernel's), costing this process nothing.
            let permit = match self.connections.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    refused("connection_cap");
                    tokio::select! {
                        () = stop_accepting.cancelled() => break,
                        p = self.connections.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => break,
                        },
                    }
                }
            };
            let (tcp, peer) = tokio::select! {
                () = stop_accepting.cancelled() => break,
                Some(_) = open.join_next(), if !open.is_empty() => continue,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors and the like: the next accept may work; never
                        // spin on the error.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let conn = serve_connection(
                self.builder.clone(),
                tcp,
                peer,
                app.clone(),
                stop_accepting.clone(),
                self.first_request,
            );
            open.spawn(crate::relay::DRAIN.scope(cut.clone(), async move {
                conn.await;
                drop(permit);
            }));
        }
        drop(listener);
        let all_closed = async { while open.join_next().await.is_some() {} };
        if tokio::time::timeout(drain, all_closed).await.is_err() {
            tracing::warn!(
                open = open.len(),
                "drain deadline reached; ending the streams still open"
            );
            cut.cancel();
            let all_closed = async { while open.join_next().await.is_some() {} };
            if tokio::time::timeout(CUT_GRACE, all_closed).await.is_err() {
                open.abort_all();
            }
        }
    }
}

/// One connection, its requests carrying the peer address (the failed-auth throttle keys on
/// it); closed gracefully once `stop_accepting` fires.
async fn serve_connection(
    builder: auto::Builder<TokioExecutor>,
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    stop_accepting: CancellationToken,
    first_request: Duration,
) {
    // SSE events are small and must reach the client as they come.
    let _ = tcp.set_nodelay(true);
    let started = Arc::new(AtomicBool::new(false));
    let seen = started.clone();
    let svc = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        seen.store(true, Ordering::Relaxed);
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move { tower::ServiceExt::oneshot(app, req).await }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc);
    tokio::pin!(conn);
    let no_request = async {
        tokio::time::sleep(first_request).await;
        if started.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = no_request => {
            // Nothing asked in time: drop the connection without waiting on the peer.
            refused("header_timeout");
            return;
        }
        () = stop_accepting.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        match e.downcast_ref::<hyper::Error>() {
            Some(h) if h.is_timeout() => refused("header_timeout"),
            Some(h) if h.is_parse_too_large() => refused("header_too_large"),
            _ => tracing::debug!(error = %e, "connection ended with an error"),
        }
    }
}

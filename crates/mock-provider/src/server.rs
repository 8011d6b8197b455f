//! Serving: an accept loop over hyper (HTTP/1.1 keep-alive and h2c), and `MockServer`, the
//! handle tests hold.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::options::{MockOptions, MockStats};
use crate::router;
use crate::state::Shared;

/// How long open connections get to finish once shutdown starts. Short: a mock has nothing worth
/// draining, and hanging requests (the `hang` fault) would otherwise hold shutdown forever.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Serves the mock on `listener` with `opts` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    opts: MockOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    run(listener, Shared::new(opts), shutdown).await
}

async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = router::build(shared.clone());
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let tracker = TaskTracker::new();
    let stop = shared.shutdown.clone();
    tokio::pin!(shutdown);
    loop {
        let (socket, _peer) = tokio::select! {
            () = &mut shutdown => break,
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Typically EMFILE under a benchmark: back off instead of spinning.
                    tracing::warn!(error = %e, "mock provider accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        // Small SSE events must not wait for Nagle.
        let _ = socket.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let stop = stop.clone();
        tracker.spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(socket), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
                }
            }
        });
    }
    drop(listener);
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// A mock provider running in the current tokio runtime on `127.0.0.1:<random port>`.
/// Dropping it stops the server too (without waiting).
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl MockServer {
    pub async fn start(opts: MockOptions) -> io::Result<MockServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(opts);
        let stop = shared.shutdown.clone().cancelled_owned();
        let task = tokio::spawn(run(listener, shared.clone(), stop));
        Ok(MockServer {
            addr,
            shared,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI base URL, e.g. `http://127.0.0.1:41234/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn stats(&self) -> MockStats {
        self.shared.stats()
    }

    /// `(path, headers)` of the most recent requests (up to 256), oldest first.
    pub fn seen_headers(&self) -> Vec<(String, axum::http::HeaderMap)> {
        self.shared.seen.all()
    }

    /// The bodies of the last requests to the endpoints billed by unit (images, audio,
    /// moderations, rerank), as received, oldest first, with their paths.
    pub fn seen_bodies(&self) -> Vec<(String, bytes::Bytes)> {
        self.shared.seen.bodies()
    }

    pub fn options(&self) -> MockOptions {
        (*self.shared.options()).clone()
    }

    /// Applies to every request that starts after this call.
    pub fn set_options(&self, opts: MockOptions) {
        self.shared.set_options(opts);
    }

    /// Stops accepting, gives open connections a short grace, and waits for the server to end.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

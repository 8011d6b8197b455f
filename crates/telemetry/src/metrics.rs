//! The process-wide Prometheus recorder. Services record with the `metrics` macros; the edge
//! renders the text format on its own `/metrics`, the gRPC services on a small listener of their
//! own (`telemetry.metrics_listen`).

use std::sync::OnceLock;

use metrics_exporter_prometheus::PrometheusBuilder;
pub use metrics_exporter_prometheus::PrometheusHandle;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the global recorder on first call and return a handle to it; later calls (tests start
/// several services in one process) share the same recorder.
pub fn install_prometheus() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => h,
            // Another recorder was installed first: keep a private one so rendering still works.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        })
        .clone()
}

/// Serve `GET /metrics` on `addr` for the life of the process (gRPC services have no HTTP
/// surface of their own). Binding errors are returned; serving runs in the background.
pub async fn spawn_endpoint(addr: std::net::SocketAddr) -> std::io::Result<std::net::SocketAddr> {
    let handle = install_prometheus();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let h = handle.clone();
            async move { h.render() }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_endpoint_renders_recorded_metrics() {
        let addr = spawn_endpoint("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        metrics::counter!("tollgate_test_endpoint_total").increment(3);
        let body = reqwest_free_get(addr).await;
        assert!(body.contains("tollgate_test_endpoint_total 3"), "{body}");
    }

    /// A plain HTTP/1.0 GET, so the test needs no HTTP client crate.
    async fn reqwest_free_get(addr: std::net::SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }
}

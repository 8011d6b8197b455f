//! Serving a gRPC service the same way everywhere.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::auth::{AuthError, GrpcAuth};
use crate::connections::{ConnectionWatch, Watched};

/// A peer that stops answering HTTP/2 pings this long after one is sent is gone (a host that
/// vanished sends no FIN): its connection is closed and its calls end.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Streams a peer may reset before the server accepted them, and streams the server may reset
/// for the peer's errors, before the connection is closed as abusive (HTTP/2 rapid reset,
/// CVE-2023-44487). hyper's defaults (20 and 1024) suit the open internet; here every client
/// cancels a stream whenever one of its own clients hangs up, and a burst of hang-ups crossing
/// 20 would take down every call on that connection. The likely cause of the edge → routing
/// connection failing for a second with `ResourceExhausted` (how tonic reports the GOAWAY) in 2
/// of 5 long fault-suite runs at 200 requests/s; not reproduced on demand. Still bounded.
const MAX_PENDING_RESETS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Serve `routes` plus `grpc.health.v1.Health` on `listener` until `shutdown` resolves.
///
/// Health answers SERVING while running and NOT_SERVING once shutdown has begun, so load
/// balancers stop sending work before in-flight calls are drained. Each RPC gets a span whose
/// parent is the caller's W3C trace context. Every RPC but the health check must carry a
/// service credential accepted by `auth` (see [`crate::auth`]); a disabled `auth` accepts anyone
/// and is announced loudly, because then anything that reaches the port can call every RPC.
pub async fn serve_grpc(
    name: &'static str,
    routes: Routes,
    auth: GrpcAuth,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_grpc_watched(name, routes, auth, listener, shutdown, None).await
}

/// [`serve_grpc`], telling `watch` when each connection closes; every RPC carries its
/// connection's [`ConnInfo`](crate::connections::ConnInfo) either way.
pub async fn serve_grpc_watched(
    name: &'static str,
    routes: Routes,
    auth: GrpcAuth,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    watch: Option<Arc<dyn ConnectionWatch>>,
) -> Result<(), ServerError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let routes = routes.add_service(health);

    let addr = listener.local_addr().ok();
    if !auth.is_enabled() {
        tracing::warn!(
            service = name,
            "UNAUTHENTICATED: `[internal] secret` is not set, so any client that can reach this \
             port may call every RPC (create keys, set prices); set it (TOLLGATE_INTERNAL_SECRET) \
             on every Tollgate service"
        );
    }
    tracing::info!(service = name, addr = ?addr, authenticated = auth.is_enabled(), "gRPC server listening");

    let stop = async move {
        shutdown.await;
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        tracing::info!(service = name, "draining gRPC calls");
    };

    Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_RESETS))
        .http2_max_local_error_reset_streams(Some(MAX_PENDING_RESETS))
        .trace_fn(move |req: &http::Request<()>| {
            let span = tracing::info_span!(
                "rpc",
                otel.kind = "server",
                rpc.system = "grpc",
                rpc.service = name,
                rpc.method = %req.uri().path(),
            );
            let _ = span.set_parent(tollgate_telemetry::propagation::extract(req.headers()));
            span
        })
        // Inside the trace span, so a refused call is logged with its method and trace id.
        .layer(auth)
        .add_routes(routes)
        // TCP_NODELAY: stream frames are small and must not wait for Nagle + delayed ACK (a 40 ms
        // stall per frame otherwise).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .map(move |conn| conn.map(|io| Watched::new(io, watch.clone()))),
            stop,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    #[tokio::test]
    async fn health_is_serving_and_the_server_stops_on_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // With authentication on: health answers callers without a credential.
        let auth = GrpcAuth::new(crate::auth::InternalKey::new(&[1; 32]).unwrap());
        let server = tokio::spawn(serve_grpc(
            "test",
            Routes::default(),
            auth,
            listener,
            async {
                let _ = rx.await;
            },
        ));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = HealthClient::new(channel);
        let resp = client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap();
        assert_eq!(resp.into_inner().status, 1); // SERVING
        tx.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

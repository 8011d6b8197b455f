//! Probes and metrics: `/healthz` (the process is alive), `/readyz` (keys loaded, routing
//! reachable, not shutting down), `/metrics` (Prometheus text, with the in-flight gauge read at
//! scrape time).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::hardening::Guard;
use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let keys = state.keys.load().is_some();
    let routing = state.routing_healthy.load(Ordering::Relaxed);
    let ready = state.ready.load(Ordering::Relaxed);
    let body = format!("keys_loaded={keys} routing={routing} accepting={ready}\n");
    if keys && routing && ready {
        (StatusCode::OK, body)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

pub async fn metrics(
    State(state): State<AppState>,
    guard: Option<Extension<Arc<Guard>>>,
) -> impl IntoResponse {
    // The load-shedding layer hands every request the guard; read the in-flight count now.
    if let Some(Extension(guard)) = guard {
        guard.publish_in_flight();
    }
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Poll routing's gRPC health so readiness reflects it and 503s are fast when it is down.
pub async fn watch_routing(channel: Channel, state: AppState, stop: CancellationToken) {
    let mut client = HealthClient::new(channel);
    loop {
        let ok = matches!(
            tokio::time::timeout(
                Duration::from_secs(1),
                client.check(HealthCheckRequest { service: String::new() }),
            )
            .await,
            Ok(Ok(r)) if r.get_ref().status == 1
        );
        state.routing_healthy.store(ok, Ordering::Relaxed);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(if ok { 2 } else { 1 })) => {}
        }
    }
}

//! The Tollgate edge: the only HTTP surface clients see.
//!
//! It authenticates from an in-memory key snapshot, admits with one Redis round trip, hands the
//! raw body to routing over one gRPC stream, relays the frames, and after the last byte settles
//! the limits and queues exactly one usage event (durably) and one log record (best effort).
//! It owns no state of its own and never queries Postgres on the request path.

mod admin;
mod admission;
mod alerts;
mod app;
mod auth;
mod budgets;
mod call;
mod chat;
mod clients;
mod cost;
mod embeddings;
mod error;
mod health;
mod jwt;
mod logs;
mod messages;
mod models;
mod openrouter;
mod overrun;
mod prices;
mod relay;
mod request;
mod settle;
mod snapshot;
mod state;
mod stream_cost;
mod usage;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwapOption;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tollgate_config::{Config, RedisFailure};
use tollgate_domain::KeyHasher;
use tollgate_limits::{FailureMode, Limiter, LimiterConfig};
use tollgate_proto::billing::v1::billing_client::BillingClient;
use tollgate_proto::logging::v1::logging_client::LoggingClient;
use tollgate_proto::routing::v1::routing_client::RoutingClient;
use tollgate_telemetry::propagation::TraceInterceptor;

pub use error::ApiError;

use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("`{field}` is not a valid URL: {message}")]
    BadUrl {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] tollgate_store::StoreError),
    #[error(transparent)]
    Limits(#[from] tollgate_limits::LimitsError),
    #[error(transparent)]
    Spool(#[from] usage::SpoolError),
    #[error("configuration: {0}")]
    Jwt(#[from] jwt::JwtSetupError),
    #[error("HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Run the edge on `listener` until `shutdown` resolves, then drain in order: readiness off,
/// stop accepting, let open streams finish (up to `edge.drain_timeout`), settle them, flush
/// usage to billing (what cannot be flushed stays in the spool), flush logs.
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EdgeError> {
    serve(cfg, None, listener, shutdown).await
}

/// [`run`], also reloading the model catalog and prices when the config file at `path` changes
/// (routing reloads the same file, so both agree on which models exist).
pub async fn run_with_reload(
    path: std::path::PathBuf,
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EdgeError> {
    serve(cfg, Some(path), listener, shutdown).await
}

async fn serve(
    cfg: Config,
    reload_from: Option<std::path::PathBuf>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EdgeError> {
    let edge = &cfg.edge;
    let jwt = jwt::JwtAuth::from_config(&cfg.jwt)?.map(Arc::new);
    let pool = tollgate_store::connect(&cfg.database).await?;
    let limiter = Limiter::connect(LimiterConfig {
        redis_url: cfg.redis.url.expose().to_owned(),
        key_prefix: cfg.redis.key_prefix.clone(),
        timeout: cfg.redis.timeout,
        slot_lease: edge.limits.slot_lease,
        failure: match edge.limits.on_redis_failure {
            RedisFailure::Open => FailureMode::Open,
            RedisFailure::Closed => FailureMode::Closed,
        },
        replicas: edge.limits.replicas,
    })
    .await?;

    let routing_ch = clients::channel("edge.routing_url", &edge.routing_url)?;
    let billing_ch = clients::channel("edge.billing_url", &edge.billing_url)?;
    let logging_ch = clients::channel("edge.logging_url", &edge.logging_url)?;

    let stop = CancellationToken::new();
    let background = TaskTracker::new();
    let (usage_sink, usage_task) = usage::start(
        &edge.usage,
        BillingClient::with_interceptor(billing_ch.clone(), TraceInterceptor),
        stop.clone(),
    )
    .await?;
    let (log_sink, log_task) = logs::start(
        &edge.logs,
        LoggingClient::with_interceptor(logging_ch.clone(), TraceInterceptor),
        stop.clone(),
    );
    let usage_handle = tokio::spawn(usage_task);
    let log_handle = tokio::spawn(log_task);

    let catalog: prices::LivePrices = Arc::default();
    let state = AppState {
        keys: Arc::new(ArcSwapOption::empty()),
        hasher: Arc::new(KeyHasher::new(edge.key_pepper.expose().as_bytes())),
        admin_token: edge.admin_token.as_ref().map(|t| Arc::from(t.expose())),
        jwt: jwt.clone(),
        limiter,
        limits: Arc::new(edge.limits.clone()),
        routing: RoutingClient::with_interceptor(routing_ch.clone(), TraceInterceptor),
        billing: BillingClient::with_interceptor(billing_ch, TraceInterceptor),
        logging: LoggingClient::with_interceptor(logging_ch, TraceInterceptor),
        usage: usage_sink,
        logs: log_sink,
        prices: Arc::new(arc_swap::ArcSwap::from_pointee(
            prices::Pricing::from_config(&cfg, catalog.clone()),
        )),
        tracker: TaskTracker::new(),
        metrics: tollgate_telemetry::metrics::install_prometheus(),
        ready: Arc::new(AtomicBool::new(true)),
        routing_healthy: Arc::new(AtomicBool::new(false)),
        request_timeout: edge.request_timeout,
        max_body: edge.max_body_bytes,
    };

    background.spawn(prices::keep_fresh(
        pool.clone(),
        catalog.clone(),
        edge.snapshot_refresh,
        stop.clone(),
    ));
    alerts::start(&edge.budget_alerts, pool.clone(), &background, stop.clone())?;
    background.spawn(snapshot::keep_fresh(
        pool,
        state.keys.clone(),
        edge.snapshot_refresh,
        stop.clone(),
    ));
    if let Some(j) = &jwt {
        j.spawn_refresh(&cfg.jwt, &background, &stop);
    }
    if let Some(path) = reload_from {
        let prices = state.prices.clone();
        let catalog = catalog.clone();
        let stopped = stop.clone();
        let every = cfg.routing.reload_interval;
        background.spawn(async move {
            let watch = tollgate_config::watch::watch(path, every, "edge", move |new| {
                prices.store(Arc::new(prices::Pricing::from_config(
                    &new,
                    catalog.clone(),
                )));
                Ok(())
            });
            tokio::select! {
                () = watch => {}
                () = stopped.cancelled() => {}
            }
        });
    }
    background.spawn(health::watch_routing(
        routing_ch,
        state.clone(),
        stop.clone(),
    ));

    let app = app::router(state.clone(), edge.max_body_bytes);
    tracing::info!(addr = ?listener.local_addr().ok(), "edge listening");

    // Shutdown sequence.
    let stop_accepting = CancellationToken::new();
    let ready = state.ready.clone();
    let drain = app::drain_deadline(edge.drain_timeout);
    let trigger = stop_accepting.clone();
    tokio::spawn(async move {
        shutdown.await;
        ready.store(false, Ordering::Relaxed);
        trigger.cancel();
    });
    let graceful = stop_accepting.clone();
    // TCP_NODELAY: SSE events are small and must reach the client as they come.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move { graceful.cancelled().await })
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => r?,
        () = async {
            stop_accepting.cancelled().await;
            tokio::time::sleep(drain).await;
        } => {
            tracing::warn!("drain deadline reached; cutting the streams still open");
        }
    }
    // Dropping the server future above (on deadline) dropped open streams, which settled as
    // cancelled. Wait for every settlement to hand over its usage event.
    state.tracker.close();
    state.tracker.wait().await;
    stop.cancel();
    let _ = usage_handle.await;
    let _ = log_handle.await;
    background.close();
    background.wait().await;
    tracing::info!("edge stopped");
    Ok(())
}

//! The Tollgate edge: the only HTTP surface clients see.
//!
//! It authenticates from an in-memory key snapshot, admits with one Redis round trip, hands the
//! raw body to routing over one gRPC stream, relays the frames, and after the last byte settles
//! the limits and queues exactly one usage event (durably) and one log record (best effort).
//! It owns no state of its own and never queries Postgres on the request path.
//!
//! # The request path, in the order a request meets it
//!
//! - `hardening/serve.rs`: the accept loop, below HTTP: accepting only once ready, the
//!   connection cap, header read timeout and header limits, the drain at shutdown.
//! - `app.rs`: the HTTP stack, outermost layer first: panic guard, sensitive headers, request
//!   id, trace, timeout, body limit, header size and load shedding, the failed-auth throttle
//!   (`hardening/`), authentication, routes. Model routes refuse deep JSON and over-cap
//!   `max_tokens`/`n` before their peek (`hardening/body.rs`).
//! - `auth.rs` (API keys, the admin credential) and `jwt.rs` (bearer tokens): the `Caller`,
//!   from memory.
//! - A route peeks its wire format into `request.rs`'s `Peeked`: `chat.rs` (OpenAI and
//!   OpenRouter), `messages.rs` (Anthropic), `embeddings.rs`, and the endpoints billed by unit:
//!   `endpoints.rs` (images, speech, moderations, rerank) and `transcriptions.rs` (a multipart
//!   upload).
//! - `call.rs`, the file to read first: the flow every model call shares, as named steps:
//!   check model → admit → call routing → await start → answer whole / answer streamed.
//!   - `admission.rs` (a pure plan in `admission/plan.rs`, the one Redis round trip, the
//!     refusal);
//!   - `relay.rs`: a streamed answer, beside `stream_cost.rs` (the usage event held for its
//!     cost) and `overrun.rs` (a stream outrunning its budget reservation);
//!   - `settle.rs`: the end of every admitted request, exactly once, as its client saw it:
//!     limits settled, one usage event (`usage.rs`, durably spooled) and one log record
//!     (`logs.rs`, best effort).
//! - `error.rs`: the one error table: every refusal, gRPC status and routing failure, to an
//!   HTTP status and a stable code, in OpenAI's or Anthropic's shape.
//!
//! # What the request path reads
//!
//! `state.rs` (what every handler shares); `snapshot.rs` with `snapshot/limits.rs` and
//! `budgets.rs` (keys, limits rows, budgets, users: refreshed from Postgres on change);
//! `prices.rs` (the config's model directory and the versioned price catalog); `clients.rs`
//! (the gRPC connections to routing, billing and logging).
//!
//! # Beside it
//!
//! `admin/` (the admin API over billing and logging), `models.rs` and `openrouter.rs` (model
//! list, OpenRouter's key and generation routes), `health.rs` (probes, metrics, the routing
//! watch), `alerts.rs` (budget alert webhooks, their URL checked by `hardening/outbound.rs`:
//! no SSRF), `cost.rs` (the cost spliced into answers).

mod admin;
mod admission;
mod alerts;
mod app;
mod auth;
mod budgets;
mod call;
mod chat;
mod completions;
mod cost;
mod embeddings;
mod endpoints;
mod error;
mod hardening;
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
mod responses;
mod settle;
mod snapshot;
mod state;
mod stored;
mod stream_cost;
mod transcriptions;

use std::future::Future;
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
use tollgate_server::outbound::{Outbound, channel};
use tonic::transport::Channel;

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
    Spool(#[from] tollgate_usage::SpoolError),
    #[error("configuration: {0}")]
    Jwt(#[from] jwt::JwtSetupError),
    #[error("internal authentication: {0}")]
    InternalAuth(#[from] tollgate_server::auth::AuthError),
    #[error("HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
    /// The Redis URL the stored-responses cache was given is unusable (the message never
    /// holds the URL: it may carry a password).
    #[error("redis.url is not usable for the stored-responses cache")]
    StoredResponses,
}

impl From<tollgate_server::outbound::BadUrl> for EdgeError {
    fn from(e: tollgate_server::outbound::BadUrl) -> Self {
        EdgeError::BadUrl {
            field: e.field,
            message: e.message,
        }
    }
}

/// How often start-up checks the schema again while Postgres is unreachable.
const SCHEMA_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

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
    // Never serve on a schema this build does not understand (older or newer).
    tollgate_store::await_schema(&pool, SCHEMA_RETRY).await?;
    let limiter = Limiter::connect(limiter_config(&cfg)).await?;

    let routing_ch = channel("edge.routing_url", &edge.routing_url)?;
    let billing_ch = channel("edge.billing_url", &edge.billing_url)?;
    let logging_ch = channel("edge.logging_url", &edge.logging_url)?;
    let outbound = Outbound::new(&cfg.internal, "edge")?;

    let stop = CancellationToken::new();
    let background = TaskTracker::new();
    let (usage_sink, usage_task) = tollgate_usage::start(
        &edge.usage,
        BillingClient::with_interceptor(billing_ch.clone(), outbound.clone()),
        stop.clone(),
    )
    .await?;
    let stored = stored::StoredResponses::new(
        cfg.redis.url.expose(),
        &cfg.redis.key_prefix,
        LoggingClient::with_interceptor(logging_ch.clone(), outbound.clone()),
    )
    .map_err(|_| EdgeError::StoredResponses)?;
    let (log_sink, log_task) = logs::start(
        &edge.logs,
        LoggingClient::with_interceptor(logging_ch.clone(), outbound.clone()),
        stop.clone(),
    );
    let usage_handle = tokio::spawn(usage_task);
    let log_handle = tokio::spawn(log_task);

    let prices = Arc::new(arc_swap::ArcSwap::from_pointee(
        prices::Pricing::from_config(&cfg, prices::LivePrices::default()),
    ));
    let config_file = reload_from.map(|path| follow_config(path, prices.clone()));
    let state = AppState::new(state::Shared {
        keys: Arc::new(ArcSwapOption::empty()),
        hasher: Arc::new(KeyHasher::new(edge.key_pepper.expose().as_bytes())),
        admin_token: edge.admin_token.as_ref().map(|t| Arc::from(t.expose())),
        jwt: jwt.clone(),
        limiter,
        limits: Arc::new(edge.limits.clone()),
        routing: RoutingClient::with_interceptor(routing_ch.clone(), outbound.clone()),
        billing: BillingClient::with_interceptor(billing_ch, outbound.clone()),
        logging: LoggingClient::with_interceptor(logging_ch, outbound),
        usage: usage_sink,
        logs: log_sink,
        prices,
        config_file,
        tracker: TaskTracker::new(),
        metrics: tollgate_telemetry::metrics::install_prometheus(),
        ready: Arc::new(AtomicBool::new(true)),
        routing_healthy: Arc::new(AtomicBool::new(false)),
        request_timeout: edge.request_timeout,
        max_body: edge.max_body_bytes,
        stored: Arc::new(stored),
        forward_headers: edge
            .forward_headers
            .iter()
            .filter_map(|h| http::HeaderName::try_from(h.as_str()).ok())
            .collect(),
    });

    keep_fresh(&cfg, &state, pool, routing_ch, &background, &stop)?;

    let guard = hardening::Guard::new(edge);
    let (surface, admin) = match edge.admin_listen {
        None => (app::Surface::All, None),
        Some(addr) => {
            let l = TcpListener::bind(addr).await?;
            let admin = app::router(
                state.clone(),
                guard.clone(),
                edge.max_body_bytes,
                app::Surface::Admin,
            );
            (app::Surface::Clients, Some((admin, l)))
        }
    };
    let app = app::router(state.clone(), guard, edge.max_body_bytes, surface);

    serve_until(app, listener, admin, shutdown, &state, edge).await?;
    // The other edges take over this one's share of every limit now, not after its heartbeat
    // lapses (a restart would otherwise leave them dividing by one edge too many for seconds).
    state.limiter.leave().await;
    stop.cancel();
    let _ = usage_handle.await;
    let _ = log_handle.await;
    background.close();
    background.wait().await;
    tracing::info!("edge stopped");
    Ok(())
}

/// The config file at `path`, whose new versions replace the models in `prices` (the price
/// catalog itself is kept: it comes from Postgres).
fn follow_config(
    path: std::path::PathBuf,
    prices: Arc<arc_swap::ArcSwap<prices::Pricing>>,
) -> Arc<tollgate_config::watch::ConfigFile> {
    tollgate_config::watch::ConfigFile::open(path, tollgate_config::Process::Edge, move |new| {
        let catalog = prices.load().catalog().clone();
        prices.store(Arc::new(prices::Pricing::from_config(&new, catalog)));
        Ok(())
    })
}

/// The tasks keeping what the request path reads fresh, until `stop`: the price catalog, the
/// key snapshot, JWKS, the config file's models (when reloading), routing's health; and the
/// budget alerts.
fn keep_fresh(
    cfg: &Config,
    state: &AppState,
    pool: sqlx::PgPool,
    routing: Channel,
    tasks: &TaskTracker,
    stop: &CancellationToken,
) -> Result<(), EdgeError> {
    let edge = &cfg.edge;
    tasks.spawn(prices::keep_fresh(
        pool.clone(),
        state.prices.load().catalog().clone(),
        edge.snapshot_refresh,
        stop.clone(),
    ));
    alerts::start(
        &edge.budget_alerts,
        hardening::outbound::Outbound::new(&edge.outbound_allow),
        pool.clone(),
        tasks,
        stop.clone(),
    )?;
    tasks.spawn(snapshot::keep_fresh(
        pool,
        state.keys.clone(),
        edge.snapshot_refresh,
        stop.clone(),
    ));
    if let Some(j) = &state.jwt {
        j.spawn_refresh(&cfg.jwt, tasks, stop);
    }
    if let Some(file) = state.config_file.clone() {
        let stopped = stop.clone();
        let every = cfg.routing.reload_interval;
        tasks.spawn(async move {
            tokio::select! {
                () = file.follow(every) => {}
                () = stopped.cancelled() => {}
            }
        });
    }
    tasks.spawn(health::watch_routing(routing, state.clone(), stop.clone()));

    Ok(())
}

/// Serve `app` until `shutdown`, in the written order: accept only once ready (keys loaded,
/// routing reachable; the port is bound already, so early clients wait in the backlog rather
/// than get 503s); at `shutdown` readiness off, then stop accepting; let open requests finish
/// up to the drain deadline, then end the streams still open with an error event (they settle
/// as cut); and wait for every settlement to hand over its usage event.
async fn serve_until(
    app: axum::Router,
    listener: TcpListener,
    admin: Option<(axum::Router, TcpListener)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    state: &AppState,
    edge: &tollgate_config::EdgeConfig,
) -> Result<(), EdgeError> {
    let stop_accepting = CancellationToken::new();
    let ready = state.ready.clone();
    let trigger = stop_accepting.clone();
    tokio::spawn(async move {
        shutdown.await;
        // Readiness goes false first, so load balancers stop sending before the door closes.
        ready.store(false, Ordering::SeqCst);
        trigger.cancel();
    });
    until_ready(state, edge.hardening.ready_wait, &stop_accepting).await;
    tracing::info!(addr = ?listener.local_addr().ok(), "edge accepting");
    let cut = CancellationToken::new();
    let drain = app::drain_deadline(edge.drain_timeout);
    let (admin_stop, admin_cut) = (stop_accepting.clone(), cut.clone());
    let admin = async move {
        if let Some((admin, l)) = admin {
            tracing::info!(addr = ?l.local_addr().ok(), "admin API accepting");
            hardening::serve::Server::new(edge)
                .run(admin, l, admin_stop, admin_cut, drain)
                .await;
        }
    };
    let clients =
        hardening::serve::Server::new(edge).run(app, listener, stop_accepting.clone(), cut, drain);
    tokio::join!(clients, admin);
    state.tracker.close();
    state.tracker.wait().await;
    Ok(())
}

/// Wait until the key snapshot is loaded and routing answers its health check, at most
/// `wait` (then accept anyway, so the admin API and the probes stay reachable while routing is
/// down: `/readyz` says why it is not ready).
async fn until_ready(state: &AppState, wait: std::time::Duration, stop: &CancellationToken) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if state.keys.load().is_some() && state.routing_healthy.load(Ordering::Relaxed) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!("not ready after edge.hardening.ready_wait; accepting anyway");
            return;
        }
        // Startup only, never the request path: a short poll of two flags is the simplest
        // correct wait (the snapshot has no change notification of its own).
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_millis(10)) => {}
        }
    }
}

/// The shared limiter as the config describes it.
fn limiter_config(cfg: &Config) -> LimiterConfig {
    let limits = &cfg.edge.limits;
    LimiterConfig {
        redis_url: cfg.redis.url.expose().to_owned(),
        key_prefix: cfg.redis.key_prefix.clone(),
        timeout: cfg.redis.timeout,
        slot_lease: limits.slot_lease,
        failure: match limits.on_redis_failure {
            RedisFailure::Open => FailureMode::Open,
            RedisFailure::Closed => FailureMode::Closed,
        },
        replicas: limits.replicas,
    }
}

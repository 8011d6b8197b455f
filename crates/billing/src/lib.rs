//! Tollgate's billing service (`billing.v1.Billing`): prices usage events with the versioned
//! catalog, writes the usage ledger exactly once per `request_id` (acknowledging only after
//! commit), answers exact spend queries, and owns tenants, teams and API keys.
//!
//! It is never on a request's hot path: the edge sends usage in batches after the response and
//! reads keys from its own snapshot. SQL lives in `tollgate-store`, not here; this crate must
//! never return a key's secret except once, in `CreateKey`'s answer, nor echo internals in
//! errors.

mod admin;
mod budgets;
mod convert;
mod error;
mod generations;
mod limits;
mod price_admin;
pub mod prices;
mod service;
mod usage;
mod users;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tollgate_config::{Config, ModelDirectory};
use tollgate_domain::KeyHasher;
use tollgate_proto::billing::v1::billing_server::BillingServer;
use tollgate_store::PgPool;
use tonic::service::Routes;

pub use error::BillingError;
use prices::Rates;

/// What every RPC shares.
pub(crate) struct State {
    pool: PgPool,
    /// `None` until the catalog is loaded (usage is refused with UNAVAILABLE until then).
    prices: ArcSwapOption<Rates>,
    /// The configured models (names, aliases, config prices); swapped on a config reload.
    directory: ArcSwap<ModelDirectory>,
    /// The directory's prices are not yet stored in the catalog (at start while Postgres is
    /// down, and after a config reload until the next refresh succeeds).
    config_pending: AtomicBool,
    hasher: KeyHasher,
}

/// How often start-up checks the schema again while Postgres is unreachable.
const SCHEMA_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Connect to Postgres (lazily), check the schema is this build's (waiting for Postgres while it
/// is unreachable) and serve until `shutdown` resolves. Migrations are not run here
/// (`tollgatectl migrate` in an init container or compose's one-shot, or
/// `tollgate-billing --migrate`, runs them).
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BillingError> {
    let pool = tollgate_store::connect(&cfg.database).await?;
    // Never serve on a schema this build does not understand (older or newer).
    tollgate_store::await_schema(&pool, SCHEMA_RETRY).await?;
    serve(cfg, pool, None, listener, shutdown).await
}

/// [`run`], also following the config file at `path` (`routing.reload_interval`, as routing and
/// the edge do): a model added or repriced there is stored in the catalog and billed at once.
pub async fn run_with_reload(
    path: PathBuf,
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BillingError> {
    let pool = tollgate_store::connect(&cfg.database).await?;
    tollgate_store::await_schema(&pool, SCHEMA_RETRY).await?;
    serve(cfg, pool, Some(path), listener, shutdown).await
}

/// [`run`] (or [`run_with_reload`] when `reload_from` names the config file) with an existing
/// pool (tests use a fresh database per test).
pub async fn run_with_pool(
    cfg: Config,
    pool: PgPool,
    reload_from: Option<PathBuf>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BillingError> {
    serve(cfg, pool, reload_from, listener, shutdown).await
}

/// What a `reader` service credential (finance tooling, `tollgatectl internal-token --role
/// reader`) may call: the read-only spend and usage queries. Keys, tenants, budgets, limits and
/// prices need a `service` credential.
pub const READER_METHODS: &[&str] = &[
    "/tollgate.billing.v1.Billing/GetSpend",
    "/tollgate.billing.v1.Billing/ListUsage",
    "/tollgate.billing.v1.Billing/GetGeneration",
];

async fn serve(
    cfg: Config,
    pool: PgPool,
    reload_from: Option<PathBuf>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BillingError> {
    let auth = tollgate_server::GrpcAuth::from_config(&cfg.internal)
        .map_err(tollgate_server::ServerError::from)?
        .allow_readers(READER_METHODS);
    let directory = cfg.directory();
    let state = Arc::new(State {
        pool: pool.clone(),
        prices: ArcSwapOption::empty(),
        directory: ArcSwap::from_pointee(directory.clone()),
        config_pending: AtomicBool::new(true),
        hasher: KeyHasher::new(cfg.billing.key_pepper.expose().as_bytes()),
    });

    // Load prices before serving when Postgres is up (the normal case); otherwise serve anyway
    // and let the refresher keep trying, so the service comes up with its database.
    match prices::load(&pool, &directory).await {
        Ok(rates) => {
            tracing::info!(models = rates.len(), "prices loaded");
            state.prices.store(Some(Arc::new(rates)));
            state
                .config_pending
                .store(false, std::sync::atomic::Ordering::Release);
        }
        Err(e) if e.is_transient() => tracing::warn!(error = %e, "prices not loaded yet"),
        Err(e) => return Err(e.into()),
    }

    // Prices set on any replica (or scheduled) reach this one's rates.
    let stop = CancellationToken::new();
    let background = tokio_util::task::TaskTracker::new();
    background.spawn(prices::keep_fresh(state.clone(), stop.clone()));
    if let Some(path) = reload_from {
        let state = state.clone();
        let stopped = stop.clone();
        let every = cfg.routing.reload_interval;
        background.spawn(async move {
            // The watcher only hands over the newest directory; storing its prices is async.
            let (tx, mut rx) = tokio::sync::watch::channel(None::<ModelDirectory>);
            let watch = tollgate_config::watch::watch(
                path,
                every,
                tollgate_config::Process::Billing,
                move |new| {
                    tx.send_replace(Some(new.directory()));
                    Ok(())
                },
            );
            let apply = async {
                while rx.changed().await.is_ok() {
                    let newest = rx.borrow_and_update().clone();
                    if let Some(directory) = newest {
                        prices::apply_config(&state, directory).await;
                    }
                }
            };
            tokio::select! {
                () = watch => {}
                () = apply => {}
                () = stopped.cancelled() => {}
            }
        });
    }

    let routes = Routes::new(BillingServer::new(service::BillingService { state }));
    let served = tollgate_server::serve_grpc("billing", routes, auth, listener, shutdown).await;
    stop.cancel();
    background.close();
    background.wait().await;
    pool.close().await;
    Ok(served?)
}

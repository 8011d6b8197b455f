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
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tokio::net::TcpListener;
use tollgate_config::Config;
use tollgate_domain::KeyHasher;
use tollgate_proto::billing::v1::billing_server::BillingServer;
use tollgate_store::PgPool;
use tonic::service::Routes;

pub use error::BillingError;
use prices::PriceBook;

/// What every RPC shares.
pub(crate) struct State {
    pool: PgPool,
    /// `None` until the catalog is loaded (usage is refused with UNAVAILABLE until then).
    prices: ArcSwapOption<PriceBook>,
    /// The configured models (aliases), for reloading the book.
    models: Vec<tollgate_config::ModelConfig>,
    hasher: KeyHasher,
}

/// Connect to Postgres (lazily) and serve until `shutdown` resolves. Migrations are not run
/// here (a separate one-shot job, or `tollgate-billing --migrate`, runs them).
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BillingError> {
    let pool = tollgate_store::connect(&cfg.database).await?;
    run_with_pool(cfg, pool, listener, shutdown).await
}

/// [`run`] with an existing pool (tests use a fresh database per test).
pub async fn run_with_pool(
    cfg: Config,
    pool: PgPool,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BillingError> {
    let state = Arc::new(State {
        pool: pool.clone(),
        prices: ArcSwapOption::empty(),
        models: cfg.models.clone(),
        hasher: KeyHasher::new(cfg.billing.key_pepper.expose().as_bytes()),
    });

    // Load prices before serving when Postgres is up (the normal case); otherwise serve anyway
    // and keep trying in the background, so the service comes up with its database.
    match prices::load(&pool, &cfg.models).await {
        Ok(book) => {
            tracing::info!(models = book.len(), "prices loaded");
            state.prices.store(Some(Arc::new(book)));
        }
        Err(e) if e.is_transient() => tracing::warn!(error = %e, "prices not loaded yet"),
        Err(e) => return Err(e.into()),
    }
    let loader = (state.prices.load().is_none()).then(|| {
        let state = state.clone();
        let models = cfg.models.clone();
        tokio::spawn(async move {
            match prices::load_with_retry(&state.pool, &models).await {
                Ok(book) => {
                    tracing::info!(models = book.len(), "prices loaded");
                    state.prices.store(Some(Arc::new(book)));
                }
                Err(e) => tracing::error!(error = %e, "prices cannot be loaded"),
            }
        })
    });

    // Prices set on any replica (or scheduled) reach this one's book.
    let refresher = tokio::spawn(prices::keep_fresh(state.clone(), cfg.models.clone()));

    let routes = Routes::new(BillingServer::new(service::BillingService { state }));
    let served = tollgate_server::serve_grpc("billing", routes, listener, shutdown).await;
    if let Some(loader) = loader {
        loader.abort();
    }
    refresher.abort();
    pool.close().await;
    Ok(served?)
}

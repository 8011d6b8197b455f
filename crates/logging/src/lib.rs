//! Tollgate's logging service (`logging.v1.Logging`): stores request logs in daily partitions
//! with the tenant's privacy policy applied (metadata always; bodies only where the tenant
//! allows it; key secrets never), drops partitions past retention, answers tenant-bound log
//! queries.
//!
//! Best-effort by design: the edge sends logs off the request path through a bounded queue and
//! drops (and counts) what this service cannot take. SQL lives in `tollgate-store`, not here.

mod error;
mod records;
pub mod redact;
pub mod retention;
mod service;
mod stored;

use std::future::Future;

use tokio::net::TcpListener;
use tollgate_config::Config;
use tollgate_proto::logging::v1::logging_server::LoggingServer;
use tollgate_store::PgPool;
use tonic::service::Routes;

pub use error::LoggingError;

/// How often start-up checks the schema again while Postgres is unreachable.
const SCHEMA_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Connect to Postgres (lazily), check the schema is this build's (waiting for Postgres while it
/// is unreachable) and serve until `shutdown` resolves. Migrations are run before (`tollgatectl
/// migrate`).
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LoggingError> {
    let pool = tollgate_store::connect(&cfg.database).await?;
    // Never serve on a schema this build does not understand (older or newer).
    tollgate_store::await_schema(&pool, SCHEMA_RETRY).await?;
    run_with_pool(cfg, pool, listener, shutdown).await
}

/// [`run`] with an existing pool (tests use a fresh database per test).
pub async fn run_with_pool(
    cfg: Config,
    pool: PgPool,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LoggingError> {
    let auth = tollgate_server::GrpcAuth::from_config(&cfg.internal)
        .map_err(tollgate_server::ServerError::from)?;
    // Housekeeping only; losing a round at shutdown is harmless, so it is aborted, not drained.
    let retention = tokio::spawn(retention::run(pool.clone(), cfg.logging.retention_days));
    let routes = Routes::new(LoggingServer::new(service::LoggingService {
        pool: pool.clone(),
        responses_retention: cfg.logging.responses_retention,
    }));
    let served = tollgate_server::serve_grpc("logging", routes, auth, listener, shutdown).await;
    retention.abort();
    pool.close().await;
    Ok(served?)
}

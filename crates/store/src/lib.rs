//! Tollgate's Postgres layer: the connection pool, the migration stream (`migrations/`) and one
//! repository module per table family. All SQL of the project lives here.
//!
//! Rules this crate keeps: bound parameters only (no SQL assembled from strings; the only
//! dynamic DDL is partition management inside the migration's plpgsql functions, built from
//! dates); every tenant-owned query binds the tenant; batch writes use `UNNEST` arrays in one
//! statement; usage writes are idempotent on `request_id`. Constraint violations come back as
//! typed [`StoreError`]s.
//!
//! It must not be called on a request's hot path: the edge reads keys and prices from snapshots
//! built here at start and refreshed on change ([`changes::Changes`] on [`keys::CHANNEL`]).

pub mod budgets;
pub mod changes;
pub mod databases;
mod error;
pub mod keys;
pub mod ledger;
pub mod limits;
pub mod logs;
pub mod prices;
pub mod responses;
mod schema;
pub mod teams;
pub mod tenants;
mod text;
pub mod users;

use std::str::FromStr;

pub use error::StoreError;
pub use schema::{SchemaMismatch, await_schema, check_schema};
pub use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The project's migration stream, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A pool for `cfg`. Lazy: no connection is opened until first use, so a service starts (and
/// reports itself unready) while Postgres is still coming up; each acquire waits at most
/// `acquire_timeout`, so a down database fails requests quickly instead of hanging them.
pub async fn connect(cfg: &tollgate_config::DatabaseConfig) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(cfg.url.expose())
        // The URL may carry a password: say only that it is malformed.
        .map_err(|_| StoreError::Config("database.url is not a valid Postgres URL".into()))?
        .application_name("tollgate");
    Ok(PgPoolOptions::new()
        .max_connections(cfg.max_connections.max(1))
        .acquire_timeout(cfg.acquire_timeout)
        .connect_lazy_with(options))
}

/// Apply pending migrations (`tollgatectl migrate`: the k8s init containers, compose's one-shot;
/// `--migrate`, tests). Concurrent runs wait on sqlx's advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// A cheap round trip, for readiness checks.
pub async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

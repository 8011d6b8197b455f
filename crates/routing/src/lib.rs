//! The routing service: implements `routing.v1.Routing` for the edge.
//!
//! Owns: the model catalog (public names and aliases → deployments), the choice of deployment
//! (`Strategy`), the provider adapters (one pooled HTTP client), retries before the first byte,
//! and turning a provider's answer into frames already encoded in the client's wire format,
//! ending with exactly one typed `Usage`.
//!
//! Must not: touch Postgres, Redis, billing or logging (the edge reports usage), log or return a
//! provider key or URL, or buffer a stream (frames leave as upstream bytes arrive).

mod catalog;
mod chat;
mod failure;
mod relay;
mod service;
mod strategy;
mod upstream;

use std::future::Future;

use tokio::net::TcpListener;
use tollgate_config::Config;

pub use catalog::{Catalog, Deployment, Model, Provider};
pub use service::RoutingService;
pub use strategy::{Strategy, WeightedRandom};

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("configuration: `{field}`: {message}")]
    Config { field: String, message: String },
    #[error("cannot build the upstream HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error(transparent)]
    Server(#[from] tollgate_server::ServerError),
}

/// Serve routing on `listener` until `shutdown` resolves (then drain open calls).
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RoutingError> {
    let service = RoutingService::from_config(&cfg)?;
    tollgate_server::serve_grpc("routing", service.routes(&cfg), listener, shutdown).await?;
    Ok(())
}

//! The routing service: implements `routing.v1.Routing` for the edge.
//!
//! Owns: the route table (public names and aliases → deployments, hot-reloaded), the choice
//! of deployment (strategies, client preferences, health), the provider adapters (pooled HTTP
//! clients), retries before the first byte within a retry budget, circuit breaking, timeouts,
//! fallback models, and turning a provider's answer into frames already encoded in the
//! client's wire format, ending with exactly one typed `Usage`.
//!
//! Must not: touch Postgres, Redis, billing or logging (the edge reports usage), log or return a
//! provider key or URL, buffer a stream (frames leave as upstream bytes arrive), or retry once a
//! byte reached the client (that would duplicate content).
//!
//! # Module map
//!
//! A `Chat` call, in the order a reader follows it; each module imports only modules below it
//! (no import cycles), from the service down to the codecs:
//!
//! - `service`: the tonic service; each call runs in its own task feeding a bounded frame
//!   channel.
//! - `chat`: one call start to end, the file to read first. `handle` resolves the model, reads
//!   the body (`chat::prepare`), walks the chain of models (`chat::fallback`), tries each
//!   model's deployments (`chat::retry`), and ends every call with exactly one `Usage`.
//! - `select`, `strategy`, `budget`: which deployment takes the next attempt; the retry budget
//!   and the backoff before returning to one.
//! - `attempt`: one attempt on one deployment: key and circuit slot, the request sent under its
//!   timeouts, then the answer relayed or the refusal classified (`attempt::status`) into a
//!   `Failed` that says whether to retry (`attempt::failed`).
//! - `dialect`: the client's request translated for the deployment (`dialect::native` for
//!   Gemini and Bedrock), and the `Mode` its answer comes back in.
//! - `upstream`, `sigv4`: the HTTP call itself (headers, SigV4 signing), the provider's
//!   rate-limit headers, the upstream metrics.
//! - `relay`: a 2xx answer as frames. `relay::run` is the one entry; behind it the OpenAI
//!   passthrough (`relay::passthrough`) and the relay through a codec (`relay::translated`);
//!   `relay::ending` ends cut streams with an error event in the client's format.
//! - `codec`: answers translated into the client's format, whole or event by event.
//!
//! The leaves the steps share: `call` (the call types: `Shared`, `Out`/`Gone`, `Run`, `Call`),
//! `mode` (`Mode` and what both translation directions share), `route_table` (names → models →
//! deployments with their keys, clients and health, names resolved through the config's
//! `ModelDirectory`), `failure` and `class` (what the client is told, and the failure classes),
//! `health` (per-deployment health), `tables` (the table in force and the few it replaced, so
//! a call is routed with the model directory the edge admitted it under). Beside the request
//! path: `checks` (active health checks) and `reload` (hot reload of the route table).

mod attempt;
mod backstop;
mod budget;
mod call;
mod chat;
mod checks;
mod class;
mod codec;
mod dialect;
mod failure;
mod health;
#[cfg(test)]
mod matrix_tests;
mod mode;
mod prompt;
mod relay;
mod reload;
mod route_table;
mod select;
mod service;
mod sigv4;
mod strategy;
mod tables;
mod upstream;

use std::future::Future;
use std::path::PathBuf;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tollgate_config::Config;
use tollgate_proto::billing::v1::billing_client::BillingClient;
use tollgate_server::connections::ConnectionWatch;
use tollgate_server::outbound;

pub use health::{CircuitPolicy, Health};
pub use route_table::{Deployment, Fallback, Key, Model, Provider, RouteTable};
pub use select::{Request, decide};
pub use service::RoutingService;

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("configuration: `{field}`: {message}")]
    Config { field: String, message: String },
    #[error("cannot build the upstream HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error(transparent)]
    Server(#[from] tollgate_server::ServerError),
    #[error("configuration: {0}")]
    BadUrl(#[from] tollgate_server::outbound::BadUrl),
    #[error("internal authentication: {0}")]
    InternalAuth(#[from] tollgate_server::auth::AuthError),
    #[error(transparent)]
    Spool(#[from] tollgate_usage::SpoolError),
}

/// Serve routing on `listener` until `shutdown` resolves (then drain open calls).
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RoutingError> {
    let service = RoutingService::from_config(&cfg)?;
    serve(service, &cfg, None, listener, shutdown).await
}

/// [`run`], reloading the route table whenever the file at `path` changes
/// (`routing.reload_interval`). A bad file is logged with the field named and the running table
/// kept.
pub async fn run_with_reload(
    path: PathBuf,
    cfg: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RoutingError> {
    let service = RoutingService::from_config(&cfg)?;
    let file = reload::follow(&service, path);
    let watcher = tokio::spawn(file.follow(cfg.routing.reload_interval));
    serve(service, &cfg, Some(watcher), listener, shutdown).await
}

/// Serve with the background loops (health checks, config watcher), which hold nothing that
/// must be flushed and are stopped once serving ends.
async fn serve(
    service: RoutingService,
    cfg: &Config,
    watcher: Option<tokio::task::JoinHandle<()>>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RoutingError> {
    let auth = tollgate_server::GrpcAuth::from_config(&cfg.internal)
        .map_err(tollgate_server::ServerError::from)?;
    let stop = CancellationToken::new();
    let (backstop, sender) = start_backstop(cfg, stop.clone()).await?;
    service.set_backstop(backstop.clone());
    let checks = service.start_health_checks(cfg);
    let watch: Arc<dyn ConnectionWatch> = backstop.clone();
    let shutdown = async move {
        shutdown.await;
        backstop.stop();
    };
    let served = tollgate_server::serve_grpc_watched(
        "routing",
        service.routes(cfg),
        auth,
        listener,
        shutdown,
        Some(watch),
    )
    .await;
    for task in [watcher, checks].into_iter().flatten() {
        task.abort();
    }
    // Whatever the backstop still holds goes out (or stays spooled for the next start).
    stop.cancel();
    let _ = sender.await;
    served?;
    Ok(())
}

/// The backstop and its usage sender (spooled, batched, to `routing.billing_url` or else
/// `edge.billing_url`).
async fn start_backstop(
    cfg: &Config,
    stop: CancellationToken,
) -> Result<(Arc<backstop::Backstop>, tokio::task::JoinHandle<()>), RoutingError> {
    let (field, url) = match &cfg.routing.billing_url {
        Some(url) => ("routing.billing_url", url),
        None => ("edge.billing_url", &cfg.edge.billing_url),
    };
    let billing = outbound::traced(
        outbound::channel(field, url)?,
        outbound::Outbound::new(&cfg.internal, "routing")?,
    );
    let (sink, sender) =
        tollgate_usage::start(&cfg.routing.usage, BillingClient::new(billing), stop).await?;
    let backstop = Arc::new(backstop::Backstop::new(
        cfg.routing.backstop_window,
        cfg.routing.backstop_grace,
        sink,
    ));
    Ok((backstop, tokio::spawn(sender)))
}

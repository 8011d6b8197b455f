//! What every handler shares: one `Arc`, because axum's extractors, every middleware layer and
//! every task a request spawns clone it (a profile of the edge at saturation showed the clones
//! and drops of a struct of twenty handles, three gRPC clients with their URIs among them).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio_util::task::TaskTracker;
use tollgate_config::LimitsConfig;
use tollgate_domain::KeyHasher;
use tollgate_limits::Limiter;
use tollgate_proto::billing::v1::billing_client::BillingClient;
use tollgate_proto::logging::v1::logging_client::LoggingClient;
use tollgate_proto::routing::v1::routing_client::RoutingClient;
use tollgate_telemetry::metrics::PrometheusHandle;

use crate::logs::LogSink;
use crate::prices::Pricing;
use crate::snapshot::SharedSnapshot;
use tollgate_server::outbound::Traced;
use tollgate_usage::UsageSink;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The handles themselves, built once at start.
pub struct Shared {
    pub keys: SharedSnapshot,
    pub hasher: Arc<KeyHasher>,
    pub admin_token: Option<Arc<str>>,
    /// Configured JWT issuers; `None` when bearers are API keys only.
    pub jwt: Option<Arc<crate::jwt::JwtAuth>>,
    pub limiter: Limiter,
    pub limits: Arc<LimitsConfig>,
    pub routing: RoutingClient<Traced>,
    pub billing: BillingClient<Traced>,
    pub logging: LoggingClient<Traced>,
    pub usage: UsageSink,
    pub logs: LogSink,
    /// The model catalog and prices; swapped whole when the config file is reloaded.
    pub prices: Arc<arc_swap::ArcSwap<Pricing>>,
    /// The config file the edge follows (when it follows one), checked at once before a model
    /// is refused as unknown, so a model just added to the file is not refused by an edge whose
    /// poll has not come yet.
    pub config_file: Option<Arc<tollgate_config::watch::ConfigFile>>,
    /// Side effects that must outlive the request (settlement, usage, logs); shutdown waits.
    pub tracker: TaskTracker,
    pub metrics: PrometheusHandle,
    /// Readiness: set false at shutdown so load balancers stop sending first.
    pub ready: Arc<AtomicBool>,
    pub routing_healthy: Arc<AtomicBool>,
    pub request_timeout: std::time::Duration,
    pub max_body: usize,
    /// Client request headers handed to routing (`edge.forward_headers`, lower case).
    pub forward_headers: Arc<[http::HeaderName]>,
    /// Stored Responses API answers (Redis in front of logging).
    pub stored: Arc<crate::stored::StoredResponses>,
}

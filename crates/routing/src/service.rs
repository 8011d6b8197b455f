//! The tonic service: each `Chat` call runs in its own task that feeds a bounded frame channel,
//! so a slow edge slows the upstream read (backpressure) and a vanished edge stops it.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tollgate_config::Config;
use tollgate_proto::routing::v1::routing_server::{Routing, RoutingServer};
use tollgate_proto::routing::v1::{ChatCall, ChatFrame, ListModelsRequest, ListModelsResponse};
use tollgate_server::connections::ConnInfo;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use crate::RoutingError;
use crate::backstop::Backstop;
use crate::budget::RetryBudget;
use crate::call::{Out, Shared};
use crate::chat;
use crate::route_table::{Clients, RouteTable};
use crate::tables::Tables;

/// Frames buffered between a call's task and the gRPC stream.
const FRAMES_IN_FLIGHT: usize = 16;
/// Room for the largest request body the edge accepts, plus the envelope.
const ENVELOPE: usize = 1024 * 1024;

#[derive(Clone)]
pub struct RoutingService {
    shared: Arc<Shared>,
}

impl RoutingService {
    pub fn from_config(cfg: &Config) -> Result<Self, RoutingError> {
        let clients = Clients::default();
        let table = RouteTable::build(cfg, None, &clients)?;
        Ok(RoutingService {
            shared: Arc::new(Shared {
                table: Tables::new(table),
                clients,
                budget: RetryBudget::new(cfg.routing.retry_budget_min),
                backstop: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Swap in the route table of a new config. Calls in flight finish on the table they started
    /// with; deployment health carries over by id. Listen addresses are not re-bound.
    pub fn reload(&self, cfg: &Config) -> Result<(), RoutingError> {
        let old = self.shared.table.load();
        let next = RouteTable::build(cfg, Some(&old), &self.shared.clients)?;
        self.shared.table.store(next);
        Ok(())
    }

    /// Catch up with `file` on demand when an edge names a newer model directory.
    pub(crate) fn follow(&self, file: std::sync::Arc<tollgate_config::watch::ConfigFile>) {
        self.shared.table.follow(file);
    }

    /// Active health checks, when `routing.health_check_interval` is set. A background loop
    /// with nothing to flush: the caller aborts it at shutdown.
    pub fn start_health_checks(&self, cfg: &Config) -> Option<tokio::task::JoinHandle<()>> {
        let every = cfg.routing.health_check_interval?;
        Some(tokio::spawn(crate::checks::run(self.shared.clone(), every)))
    }

    /// From now on every call leaves its receipt with `backstop`.
    pub(crate) fn set_backstop(&self, backstop: Arc<Backstop>) {
        let _ = self.shared.backstop.set(backstop);
    }

    /// The route table in force now.
    pub fn route_table(&self) -> Arc<RouteTable> {
        self.shared.table.load_full()
    }

    /// The gRPC routes, sized for the edge's largest body.
    pub fn routes(self, cfg: &Config) -> Routes {
        let limit = cfg.edge.max_body_bytes.max(4 * 1024 * 1024) + ENVELOPE;
        Routes::new(RoutingServer::new(self).max_decoding_message_size(limit))
    }
}

#[tonic::async_trait]
impl Routing for RoutingService {
    type ChatStream = ReceiverStream<Result<ChatFrame, Status>>;

    async fn chat(&self, request: Request<ChatCall>) -> Result<Response<Self::ChatStream>, Status> {
        let (tx, rx) = mpsc::channel(FRAMES_IN_FLIGHT);
        let conn = request.extensions().get::<ConnInfo>().map(|c| c.id);
        let call = request.into_inner();
        let out = match (self.shared.backstop.get(), conn) {
            (Some(backstop), Some(conn)) => Out::tracked(tx, &call, backstop.clone(), conn),
            _ => Out::new(tx),
        };
        // The task ends with the call: when the edge drops the stream, its sends fail and its
        // upstream read is raced against `closed()`, so nothing outlives the request.
        tokio::spawn(chat::handle(self.shared.clone(), call, out));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn list_models(
        &self,
        _request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        Ok(Response::new(ListModelsResponse {
            models: self.shared.table.load().list().to_vec(),
        }))
    }
}

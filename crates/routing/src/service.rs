//! The tonic service: each `Chat` call runs in its own task that feeds a bounded frame channel,
//! so a slow edge slows the upstream read (backpressure) and a vanished edge stops it.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tollgate_config::Config;
use tollgate_proto::routing::v1::routing_server::{Routing, RoutingServer};
use tollgate_proto::routing::v1::{ChatCall, ChatFrame, ListModelsRequest, ListModelsResponse};
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use crate::RoutingError;
use crate::catalog::Catalog;
use crate::chat::{self, Out, Shared};
use crate::strategy::WeightedRandom;
use crate::upstream;

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
        Ok(RoutingService {
            shared: Arc::new(Shared {
                catalog: Catalog::from_config(cfg)?,
                http: upstream::client(&cfg.routing)?,
                strategy: Box::new(WeightedRandom),
                default_timeout: cfg.routing.request_timeout,
            }),
        })
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
        // The task ends with the call: when the edge drops the stream, its sends fail and its
        // upstream read is raced against `closed()`, so nothing outlives the request.
        tokio::spawn(chat::handle(
            self.shared.clone(),
            request.into_inner(),
            Out::new(tx),
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn list_models(
        &self,
        _request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        Ok(Response::new(ListModelsResponse {
            models: self.shared.catalog.list().to_vec(),
        }))
    }
}

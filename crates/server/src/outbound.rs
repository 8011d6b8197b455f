//! The gRPC connections to routing, billing and logging: lazily connected channels whose calls
//! carry the request's trace context and the edge's service credential. Owns how the edge reaches
//! the other services, nothing else.

use tollgate_server::ServiceCredential;
use tollgate_telemetry::propagation::TraceInterceptor;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::EdgeError;

/// Every service client the edge holds: a channel with the [`Outbound`] interceptor.
pub type Traced = InterceptedService<Channel, Outbound>;

/// What every outgoing call carries: the trace context and, when `[internal] secret` is set, the
/// edge's service credential. The credential is a cached header value re-minted every few
/// minutes, never signed per call: the edge → routing call is the hot path.
#[derive(Clone, Debug)]
pub struct Outbound {
    credential: ServiceCredential,
}

impl Outbound {
    pub fn new(cfg: &tollgate_config::InternalConfig) -> Result<Outbound, EdgeError> {
        let credential = ServiceCredential::from_config(cfg, "edge")?;
        if !credential.is_enabled() {
            tracing::warn!(
                "`[internal] secret` is not set: calls to routing, billing and logging carry no \
                 service credential, and those services accept any caller"
            );
        }
        Ok(Outbound { credential })
    }
}

impl Interceptor for Outbound {
    fn call(&mut self, req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        self.credential.call(TraceInterceptor.call(req)?)
    }
}

/// A lazily connected channel to `url`, named by its config `field` in errors.
pub fn channel(field: &'static str, url: &str) -> Result<Channel, EdgeError> {
    let ep = Endpoint::from_shared(url.to_owned()).map_err(|e| EdgeError::BadUrl {
        field,
        message: e.to_string(),
    })?;
    Ok(ep
        .connect_timeout(std::time::Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_adaptive_window(true)
        .connect_lazy())
}

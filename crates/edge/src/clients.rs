//! The gRPC connections to routing, billing and logging: lazily connected channels whose calls
//! carry the request's trace context. Owns how the edge reaches the other services, nothing else.

use tollgate_telemetry::propagation::TraceInterceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::EdgeError;

/// Every service client the edge holds: a channel with the trace interceptor.
pub type Traced = InterceptedService<Channel, TraceInterceptor>;

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

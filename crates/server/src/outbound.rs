//! The calling side of every service-to-service gRPC connection: lazily connected channels whose
//! calls carry the request's trace context and the caller's service credential. The edge reaches
//! routing, billing and logging this way; routing reaches billing this way (usage of calls whose
//! edge vanished).

use tollgate_telemetry::propagation::TraceInterceptor;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::auth::{AuthError, ServiceCredential};

/// Every service client: a channel with the [`Outbound`] interceptor.
pub type Traced = InterceptedService<Channel, Outbound>;

/// A service URL in the config that is not a URL.
#[derive(Debug, thiserror::Error)]
#[error("{field}: not a valid URL: {message}")]
pub struct BadUrl {
    pub field: &'static str,
    pub message: String,
}

/// What every outgoing call carries: the trace context and, when `[internal] secret` is set, the
/// caller's service credential. The credential is a cached header value re-minted every few
/// minutes, never signed per call: the edge → routing call is the hot path.
#[derive(Clone, Debug)]
pub struct Outbound {
    credential: ServiceCredential,
}

impl Outbound {
    /// Credentials of `service` (the `sub` other services log), from `[internal]`.
    pub fn new(
        cfg: &tollgate_config::InternalConfig,
        service: &'static str,
    ) -> Result<Outbound, AuthError> {
        let credential = ServiceCredential::from_config(cfg, service)?;
        if !credential.is_enabled() {
            tracing::warn!(
                service,
                "`[internal] secret` is not set: this service's calls to other Tollgate services \
                 carry no service credential, and those services accept any caller"
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
pub fn channel(field: &'static str, url: &str) -> Result<Channel, BadUrl> {
    let ep = Endpoint::from_shared(url.to_owned()).map_err(|e| BadUrl {
        field,
        message: e.to_string(),
    })?;
    Ok(ep
        .connect_timeout(std::time::Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_adaptive_window(true)
        .connect_lazy())
}

/// A client of some service on `channel`, its calls carrying `outbound`.
pub fn traced(channel: Channel, outbound: Outbound) -> Traced {
    InterceptedService::new(channel, outbound)
}

//! The server side: one tower layer in front of every service's routes that checks the service
//! credential of each RPC before any handler runs.
//!
//! A layer rather than a `tonic::service::Interceptor`: an interceptor sees the metadata but not
//! the method path, and the path decides both the open health check and what a `reader` may
//! call. It still does exactly what an interceptor would: read headers, answer a `Status` or
//! pass the request on untouched.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use tonic::Status;
use tower::{Layer, Service};

use super::{AuthError, InternalKey, Role};

/// Health checks stay open: load balancers, kubelets and `tollgatectl health` hold no secret.
pub const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// The verified caller of an RPC, in the request's extensions for handlers that care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCaller {
    pub name: String,
    pub role: Role,
}

/// Who may call a service: the key to check credentials with (none = anyone, the unconfigured
/// default) and the methods a `reader` credential may call (full paths, `/pkg.Service/Method`).
#[derive(Clone, Debug, Default)]
pub struct GrpcAuth {
    key: Option<Arc<InternalKey>>,
    reader_methods: &'static [&'static str],
}

impl GrpcAuth {
    /// Accept every caller (no `[internal] secret`).
    pub fn disabled() -> GrpcAuth {
        GrpcAuth::default()
    }

    pub fn new(key: InternalKey) -> GrpcAuth {
        GrpcAuth {
            key: Some(Arc::new(key)),
            reader_methods: &[],
        }
    }

    pub fn from_config(cfg: &tollgate_config::InternalConfig) -> Result<GrpcAuth, AuthError> {
        Ok(InternalKey::from_config(cfg)?.map_or_else(GrpcAuth::disabled, GrpcAuth::new))
    }

    /// Let `reader` credentials call `methods` (read-only queries); by default they call nothing.
    pub fn allow_readers(mut self, methods: &'static [&'static str]) -> GrpcAuth {
        self.reader_methods = methods;
        self
    }

    pub fn is_enabled(&self) -> bool {
        self.key.is_some()
    }

    /// Decide one RPC to `path`: `Ok(Some(caller))` when a credential was checked, `Ok(None)`
    /// for an open call. Messages name what is wrong, never the token.
    pub fn check(
        &self,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Option<ServiceCaller>, Status> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        if path.starts_with(HEALTH_PREFIX) {
            return Ok(None);
        }
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err(Status::unauthenticated(
                "missing service credential (authorization: Bearer …)",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                Status::unauthenticated("malformed service credential: expected `Bearer <token>`")
            })?;
        let claims = key
            .verify(token.trim())
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        if claims.role == Role::Reader && !self.reader_methods.contains(&path) {
            return Err(Status::permission_denied(
                "a reader credential may only call read-only query methods",
            ));
        }
        Ok(Some(ServiceCaller {
            name: claims.sub,
            role: claims.role,
        }))
    }
}

impl<S> Layer<S> for GrpcAuth {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            auth: self.clone(),
            inner,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AuthService<S> {
    auth: GrpcAuth,
    inner: S,
}

impl<S, B, ResBody> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    // No boxing: a refusal is a ready response, an accepted call is the inner future itself.
    type Future = Either<Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        match self.auth.check(req.uri().path(), req.headers()) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    req.extensions_mut().insert(caller);
                }
                Either::Right(self.inner.call(req))
            }
            Err(status) => {
                let code = match status.code() {
                    tonic::Code::PermissionDenied => "permission_denied",
                    _ => "unauthenticated",
                };
                metrics::counter!("tollgate_internal_auth_refused_total", "code" => code)
                    .increment(1);
                tracing::warn!(
                    rpc.method = %req.uri().path(),
                    code = ?status.code(),
                    reason = status.message(),
                    "gRPC call refused"
                );
                Either::Left(ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic::Code;

    use super::*;

    const GET_SPEND: &str = "/tollgate.billing.v1.Billing/GetSpend";
    const CREATE_KEY: &str = "/tollgate.billing.v1.Billing/CreateKey";

    fn key() -> InternalKey {
        InternalKey::new(&[7; 32]).unwrap()
    }

    fn bearer(token: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    fn code(r: Result<Option<ServiceCaller>, Status>) -> Code {
        r.map_or_else(|s| s.code(), |_| Code::Ok)
    }

    #[test]
    fn missing_malformed_and_foreign_credentials_are_unauthenticated() {
        let auth = GrpcAuth::new(key());
        let empty = http::HeaderMap::new();
        assert_eq!(code(auth.check(CREATE_KEY, &empty)), Code::Unauthenticated);
        let mut basic = http::HeaderMap::new();
        basic.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(code(auth.check(CREATE_KEY, &basic)), Code::Unauthenticated);
        let foreign = InternalKey::new(&[8; 32])
            .unwrap()
            .mint("edge", Role::Service, Duration::from_secs(60))
            .unwrap();
        let refused = auth.check(CREATE_KEY, &bearer(&foreign)).unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        assert!(
            !refused.message().contains(&foreign),
            "the token is not echoed"
        );
    }

    #[test]
    fn a_service_credential_may_call_anything_and_names_its_caller() {
        let token = key()
            .mint("edge", Role::Service, Duration::from_secs(60))
            .unwrap();
        let caller = GrpcAuth::new(key())
            .check(CREATE_KEY, &bearer(&token))
            .unwrap();
        assert_eq!(
            caller,
            Some(ServiceCaller {
                name: "edge".into(),
                role: Role::Service
            })
        );
    }

    #[test]
    fn a_reader_calls_only_the_allow_listed_methods() {
        let token = key()
            .mint("finance", Role::Reader, Duration::from_secs(60))
            .unwrap();
        let auth = GrpcAuth::new(key()).allow_readers(&[GET_SPEND]);
        assert_eq!(code(auth.check(GET_SPEND, &bearer(&token))), Code::Ok);
        assert_eq!(
            code(auth.check(CREATE_KEY, &bearer(&token))),
            Code::PermissionDenied
        );
        let nothing_allowed = GrpcAuth::new(key());
        assert_eq!(
            code(nothing_allowed.check(GET_SPEND, &bearer(&token))),
            Code::PermissionDenied
        );
    }

    #[test]
    fn health_is_open_and_a_disabled_auth_lets_everyone_in() {
        let empty = http::HeaderMap::new();
        let health = "/grpc.health.v1.Health/Check";
        assert_eq!(code(GrpcAuth::new(key()).check(health, &empty)), Code::Ok);
        assert_eq!(
            code(GrpcAuth::disabled().check(CREATE_KEY, &empty)),
            Code::Ok
        );
    }
}

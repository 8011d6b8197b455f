//! The one error table of the edge: every refusal a client can see, its HTTP status, and the
//! stable `code` in the OpenAI error shape. 5xx messages never carry internals. Routes speaking
//! Anthropic's format render the same table in Anthropic's shape ([`to_anthropic`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use tollgate_formats::anthropic;
use tollgate_proto::routing::v1 as rpc;

#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    #[error("You didn't provide an API key. Send it as `Authorization: Bearer tg-...`.")]
    MissingKey,
    #[error("Incorrect API key provided.")]
    InvalidKey,
    #[error("This API key has expired.")]
    ExpiredKey,
    #[error("Invalid bearer token: {0}.")]
    InvalidToken(&'static str),
    #[error("The bearer token lacks a role this gateway requires.")]
    InsufficientRole,
    /// A tenant admin (JWT with the admin role) reaching another tenant.
    #[error("This admin may manage its own tenant only.")]
    TenantForbidden,
    /// A route only the global admin token may use.
    #[error("This route needs the admin token.")]
    GlobalAdminRequired,
    #[error("{message}")]
    BadRequest {
        message: String,
        param: Option<String>,
        code: &'static str,
    },
    #[error("The request body is larger than the {limit} bytes this gateway accepts.")]
    BodyTooLarge { limit: usize },
    /// A body nesting deeper than `edge.hardening.max_json_depth` (refused before any parse).
    #[error("The request body nests JSON deeper than the {limit} levels this gateway accepts.")]
    JsonTooDeep { limit: usize },
    /// A model call asking for more than the edge's cap on `param`.
    #[error("`{param}` may be at most {limit} on this gateway.")]
    OverCap { param: &'static str, limit: u64 },
    /// A model call asking for more than its model's own cap on `param`.
    #[error("`{param}` may be at most {limit} for model `{model}`.")]
    OverModelCap {
        param: &'static str,
        limit: u64,
        model: String,
    },
    /// Request headers over `edge.hardening.max_header_bytes`.
    #[error("The request headers are larger than the {limit} bytes this gateway accepts.")]
    HeadersTooLarge { limit: usize },
    /// Too many model requests in flight on this edge: shed before any work.
    #[error("The gateway is overloaded. Try again shortly.")]
    Overloaded,
    /// Too many failed authentications from this address in the last minute.
    #[error("Too many failed authentication attempts. Try again in {retry_after_s}s.")]
    AuthThrottled { retry_after_s: u64 },
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    UnknownModel(String),
    #[error("This key is not allowed to use the model `{0}`.")]
    ModelNotAllowed(String),
    #[error(
        "Rate limit reached: {limit} {what} per {per} for this {scope}. Try again in {retry_after_s}s."
    )]
    RateLimited {
        code: &'static str,
        what: &'static str,
        per: &'static str,
        scope: &'static str,
        limit: u32,
        retry_after_s: u64,
    },
    #[error("The {scope} budget of ${limit} for this {period} is spent. It resets at {resets_at}.")]
    BudgetExceeded {
        scope: &'static str,
        limit: String,
        period: &'static str,
        resets_at: String,
        retry_after_s: u64,
    },
    #[error("The provider is rate limiting this model. Try again later.")]
    UpstreamRateLimited { retry_after: Option<Duration> },
    #[error("{0}")]
    UpstreamInvalid(String),
    /// The prompt does not fit the model: OpenAI's 400 `context_length_exceeded`.
    #[error("{0}")]
    ContextLengthExceeded(String),
    /// The model's providers do not serve the endpoint asked for (images of an Anthropic
    /// model): routing's message names the model and the route.
    #[error("{0}")]
    UnsupportedEndpoint(String),
    #[error("The upstream provider failed: {0}")]
    Upstream(String),
    #[error("The upstream provider did not answer in time.")]
    UpstreamTimeout,
    /// Routing's stream broke after the answer started (the streamed case says the same in an
    /// error event).
    #[error("The response was interrupted inside the gateway.")]
    Interrupted,
    #[error("The gateway is temporarily unable to serve this request ({0}). Try again shortly.")]
    Unavailable(&'static str),
    #[error("Admin credentials are missing or wrong.")]
    AdminUnauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("The gateway hit an internal error.")]
    Internal,
}

struct Row {
    status: StatusCode,
    kind: &'static str,
    code: &'static str,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>, param: Option<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            param,
            code: "invalid_request",
        }
    }

    fn row(&self) -> Row {
        use ApiError::*;
        let (status, kind, code) = match self {
            MissingKey => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "missing_api_key",
            ),
            InvalidKey => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "invalid_api_key",
            ),
            ExpiredKey => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "expired_api_key",
            ),
            InvalidToken(_) => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "invalid_token",
            ),
            InsufficientRole => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "insufficient_role",
            ),
            TenantForbidden => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "tenant_forbidden",
            ),
            GlobalAdminRequired => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "global_admin_required",
            ),
            BadRequest { code, .. } => (StatusCode::BAD_REQUEST, "invalid_request_error", *code),
            BodyTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
            ),
            JsonTooDeep { .. } => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "json_too_deep",
            ),
            OverCap { .. } | OverModelCap { .. } => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "param_over_limit",
            ),
            HeadersTooLarge { .. } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "invalid_request_error",
                "headers_too_large",
            ),
            Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "api_error", "overloaded"),
            AuthThrottled { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "auth_throttled",
            ),
            UnknownModel(_) => (
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
            ),
            ModelNotAllowed(_) => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "model_not_allowed",
            ),
            RateLimited { code, .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", *code),
            BudgetExceeded { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "insufficient_quota",
                "budget_exceeded",
            ),
            UpstreamRateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "upstream_rate_limited",
            ),
            UpstreamInvalid(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "upstream_invalid_request",
            ),
            ContextLengthExceeded(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "context_length_exceeded",
            ),
            UnsupportedEndpoint(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "unsupported_endpoint",
            ),
            Upstream(_) => (StatusCode::BAD_GATEWAY, "api_error", "upstream_error"),
            UpstreamTimeout => (StatusCode::GATEWAY_TIMEOUT, "api_error", "upstream_timeout"),
            Interrupted => (
                StatusCode::BAD_GATEWAY,
                "api_error",
                "upstream_stream_interrupted",
            ),
            Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
                "service_unavailable",
            ),
            AdminUnauthorized => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "invalid_admin_token",
            ),
            NotFound(_) => (StatusCode::NOT_FOUND, "invalid_request_error", "not_found"),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "internal_error",
            ),
        };
        Row { status, kind, code }
    }

    pub fn status(&self) -> StatusCode {
        self.row().status
    }

    /// The stable code, also recorded in request logs.
    pub fn code(&self) -> &'static str {
        self.row().code
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_s, .. }
            | ApiError::BudgetExceeded { retry_after_s, .. }
            | ApiError::AuthThrottled { retry_after_s } => Some((*retry_after_s).max(1)),
            ApiError::UpstreamRateLimited { retry_after } => {
                Some(retry_after.map(|d| d.as_secs().max(1)).unwrap_or(1))
            }
            ApiError::Unavailable(_) | ApiError::Overloaded => Some(1),
            _ => None,
        }
    }

    /// The body in OpenAI's shape.
    pub fn body(&self) -> Bytes {
        let row = self.row();
        let param = match self {
            ApiError::BadRequest { param, .. } => param.as_deref(),
            ApiError::OverCap { param, .. } | ApiError::OverModelCap { param, .. } => Some(*param),
            ApiError::UnknownModel(_)
            | ApiError::ModelNotAllowed(_)
            | ApiError::UnsupportedEndpoint(_) => Some("model"),
            ApiError::ContextLengthExceeded(_) => Some("messages"),
            _ => None,
        };
        tollgate_formats::openai::error_body(&self.to_string(), row.kind, Some(row.code), param)
    }

    /// The body in Anthropic's shape, `{"type":"error","error":{"type","message"}}`: the same
    /// status (so the same `type` Anthropic uses for it) and message.
    pub fn anthropic_body(&self) -> Bytes {
        let kind = anthropic::ErrorKind::from_status(self.status().as_u16());
        match self {
            // Anthropic's SDKs send the key as `x-api-key`; say so in their words.
            ApiError::MissingKey => anthropic::error_body(kind, "x-api-key header is required"),
            _ => anthropic::error_body(kind, &self.to_string()),
        }
    }
}

/// Set on every error response, so a route in another wire format can re-render it.
#[derive(Clone)]
struct Rendered(Arc<ApiError>);

/// An error response (from any layer: auth, admission, the handler) re-rendered in
/// Anthropic's shape, status and headers kept. Other responses pass untouched.
pub fn to_anthropic(resp: Response) -> Response {
    let Some(Rendered(err)) = resp.extensions().get::<Rendered>().cloned() else {
        return resp;
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(err.anthropic_body()))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let row = self.row();
        if row.status.is_server_error() {
            tracing::warn!(
                code = row.code,
                status = row.status.as_u16(),
                "request failed"
            );
        }
        let mut resp = (row.status, self.body()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(s) = self.retry_after() {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if matches!(self, ApiError::InvalidToken(_)) {
            // RFC 6750 §3: bearer-token clients look for this.
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        resp.extensions_mut().insert(Rendered(Arc::new(self)));
        resp
    }
}

impl ApiError {
    /// The one mapping of a gRPC status to what the client sees, for every call the edge makes
    /// (routing's chat stream and the admin API's calls to billing and logging alike). A status
    /// only carries its message through when it describes the caller's own input.
    pub fn from_status(status: &tonic::Status) -> ApiError {
        use tonic::Code;
        match status.code() {
            Code::InvalidArgument => ApiError::bad_request(status.message().to_owned(), None),
            Code::AlreadyExists => ApiError::BadRequest {
                message: status.message().to_owned(),
                param: None,
                code: "already_exists",
            },
            Code::NotFound => ApiError::NotFound(status.message().to_owned()),
            Code::DeadlineExceeded => ApiError::UpstreamTimeout,
            Code::Unavailable | Code::Cancelled | Code::Unknown | Code::ResourceExhausted => {
                ApiError::Unavailable("a gateway service is unreachable")
            }
            _ => ApiError::Internal,
        }
    }

    /// Routing's answer that no provider could serve `model` (a Failure frame before the first
    /// byte).
    pub fn from_failure(f: &rpc::Failure, model: &str) -> ApiError {
        use rpc::FailureKind as K;
        match K::try_from(f.kind).unwrap_or(K::Unspecified) {
            K::UnknownModel => ApiError::UnknownModel(model.to_owned()),
            K::ModelNotAllowed => ApiError::ModelNotAllowed(model.to_owned()),
            K::InvalidRequest => ApiError::UpstreamInvalid(f.message.clone()),
            K::ContextLengthExceeded => ApiError::ContextLengthExceeded(f.message.clone()),
            K::UnsupportedEndpoint => ApiError::UnsupportedEndpoint(f.message.clone()),
            K::UpstreamRateLimited => ApiError::UpstreamRateLimited {
                retry_after: (f.retry_after_ms > 0)
                    .then(|| Duration::from_millis(f.retry_after_ms)),
            },
            K::UpstreamTimeout => ApiError::UpstreamTimeout,
            K::UpstreamUnavailable => ApiError::Unavailable("no provider deployment is reachable"),
            K::UpstreamError | K::Unspecified => ApiError::Upstream(f.message.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(e: &ApiError) -> serde_json::Value {
        serde_json::from_slice(&e.body()).unwrap()
    }

    #[test]
    fn error_bodies_have_the_openai_shape_and_stable_codes() {
        insta::assert_json_snapshot!(json(&ApiError::InvalidKey));
        insta::assert_json_snapshot!(json(&ApiError::UnknownModel("gpt-9".into())));
        insta::assert_json_snapshot!(json(&ApiError::RateLimited {
            code: "rate_limit_exceeded",
            what: "requests",
            per: "minute",
            scope: "key",
            limit: 10,
            retry_after_s: 7
        }));
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let r = ApiError::RateLimited {
            code: "rate_limit_exceeded",
            what: "requests",
            per: "minute",
            scope: "key",
            limit: 10,
            retry_after_s: 7,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
    }

    #[test]
    fn anthropic_rendering_keeps_status_and_headers_and_uses_anthropics_shape() {
        let r = to_anthropic(
            ApiError::RateLimited {
                code: "rate_limit_exceeded",
                what: "requests",
                per: "minute",
                scope: "key",
                limit: 10,
                retry_after_s: 7,
            }
            .into_response(),
        );
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        let b: serde_json::Value =
            serde_json::from_slice(&ApiError::UnknownModel("m".into()).anthropic_body()).unwrap();
        assert_eq!(b["type"], "error");
        assert_eq!(b["error"]["type"], "not_found_error");
        let b: serde_json::Value =
            serde_json::from_slice(&ApiError::Unavailable("x").anthropic_body()).unwrap();
        assert_eq!(b["error"]["type"], "overloaded_error");
    }

    #[test]
    fn internal_errors_say_nothing_internal() {
        let e = ApiError::from_status(&tonic::Status::internal("db password=hunter2 at 10.0.0.3"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = String::from_utf8(e.body().to_vec()).unwrap();
        assert!(
            !body.contains("hunter2") && !body.contains("10.0.0.3"),
            "{body}"
        );
    }

    #[test]
    fn one_mapping_of_grpc_statuses_for_every_caller() {
        let seen = |code, msg: &str| {
            let e = ApiError::from_status(&tonic::Status::new(code, msg));
            (e.status().as_u16(), e.code())
        };
        assert_eq!(
            seen(tonic::Code::InvalidArgument, "bad name"),
            (400, "invalid_request")
        );
        assert_eq!(
            seen(tonic::Code::AlreadyExists, "taken"),
            (400, "already_exists")
        );
        assert_eq!(seen(tonic::Code::NotFound, "no key"), (404, "not_found"));
        assert_eq!(
            seen(tonic::Code::DeadlineExceeded, ""),
            (504, "upstream_timeout")
        );
        for gone in [
            tonic::Code::Unavailable,
            tonic::Code::Cancelled,
            tonic::Code::Unknown,
            tonic::Code::ResourceExhausted,
        ] {
            assert_eq!(seen(gone, ""), (503, "service_unavailable"));
        }
        assert_eq!(seen(tonic::Code::Internal, ""), (500, "internal_error"));
    }

    #[test]
    fn routing_failures_map_to_the_providers_errors() {
        use rpc::FailureKind as K;
        let seen = |kind: K, retry_after_ms| {
            let e = ApiError::from_failure(
                &rpc::Failure {
                    kind: kind as i32,
                    message: "upstream said no".into(),
                    retry_after_ms,
                    ..rpc::Failure::default()
                },
                "mock",
            );
            let r = e.clone().into_response();
            let retry = r
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap().to_owned());
            (e.status().as_u16(), e.code(), retry)
        };
        assert_eq!(seen(K::UnknownModel, 0), (404, "model_not_found", None));
        assert_eq!(
            seen(K::ModelNotAllowed, 0),
            (403, "model_not_allowed", None)
        );
        assert_eq!(
            seen(K::InvalidRequest, 0),
            (400, "upstream_invalid_request", None)
        );
        assert_eq!(
            seen(K::ContextLengthExceeded, 0),
            (400, "context_length_exceeded", None)
        );
        assert_eq!(
            seen(K::UnsupportedEndpoint, 0),
            (400, "unsupported_endpoint", None)
        );
        assert_eq!(
            seen(K::UpstreamRateLimited, 3000),
            (429, "upstream_rate_limited", Some("3".into()))
        );
        assert_eq!(seen(K::UpstreamTimeout, 0), (504, "upstream_timeout", None));
        assert_eq!(
            seen(K::UpstreamUnavailable, 0),
            (503, "service_unavailable", Some("1".into()))
        );
        assert_eq!(seen(K::UpstreamError, 0), (502, "upstream_error", None));
        assert_eq!(seen(K::Unspecified, 0), (502, "upstream_error", None));
        // A routing stream broken inside a whole answer: its own code, as the streamed event.
        assert_eq!(
            (
                ApiError::Interrupted.status().as_u16(),
                ApiError::Interrupted.code()
            ),
            (502, "upstream_stream_interrupted")
        );
    }
}

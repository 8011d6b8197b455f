//! Errors: `MockError` for the crate's own failures, `ApiError` (OpenAI) and `AnthropicError` for the error
//! responses the mock sends on purpose (bad input, bad key, injected faults).

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// The `disconnect_after` fault: the body stream fails so hyper resets the connection.
    #[error("stream cut by the disconnect_after fault")]
    InjectedDisconnect,
    #[error("invalid mock option: {0}")]
    InvalidOption(&'static str),
    #[error("could not encode a response: {0}")]
    Encode(#[from] serde_json::Error),
}

/// One OpenAI error response: `{"error":{"message","type","param","code"}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: Cow<'static, str>,
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn invalid_request(
        message: impl Into<Cow<'static, str>>,
        param: Option<&'static str>,
        code: Option<&'static str>,
    ) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code,
        }
    }

    /// The body OpenAI sends for JSON it cannot parse.
    pub(crate) fn unparsable_json() -> Self {
        Self::invalid_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but \
             what was sent was not valid JSON.)",
            None,
            None,
        )
    }

    /// Maps a serde failure to OpenAI's wording: syntax errors are "could not parse", type errors
    /// name what was wrong.
    pub(crate) fn from_json(e: &serde_json::Error) -> Self {
        if e.is_data() {
            Self::invalid_request(format!("Invalid request body: {e}"), None, None)
        } else {
            Self::unparsable_json()
        }
    }

    pub(crate) fn invalid_api_key() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: "Incorrect API key provided. You can find your API key at \
                      https://platform.openai.com/account/api-keys."
                .into(),
            kind: "invalid_request_error",
            param: None,
            code: Some("invalid_api_key"),
        }
    }

    pub(crate) fn internal(e: &MockError) -> Self {
        tracing::error!(error = %e, "mock provider failed to build a response");
        Self::injected(500)
    }

    /// An error as OpenAI words it for `status`; used by the `error_rate` fault.
    pub(crate) fn injected(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (message, kind, code): (&'static str, _, _) = match status.as_u16() {
            401 => return Self::invalid_api_key(),
            403 => (
                "You are not allowed to sample from this model.",
                "invalid_request_error",
                Some("permission_denied"),
            ),
            404 => (
                "The model does not exist or you do not have access to it.",
                "invalid_request_error",
                Some("model_not_found"),
            ),
            429 => (
                "Rate limit reached for requests. Please try again in 1s.",
                "requests",
                Some("rate_limit_exceeded"),
            ),
            500 => (
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            ),
            502 => ("Bad gateway.", "server_error", Some("bad_gateway")),
            503 => (
                "The engine is currently overloaded, please try again later.",
                "server_error",
                Some("service_unavailable"),
            ),
            504 => ("Gateway timeout.", "server_error", Some("timeout")),
            s if s < 500 => ("Invalid request.", "invalid_request_error", None),
            _ => ("The server had an error.", "server_error", None),
        };
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code,
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            error: Body {
                message: &self.message,
                kind: self.kind,
                param: self.param,
                code: self.code,
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// One Anthropic error response: `{"type":"error","error":{"type","message"}}`.
#[derive(Debug)]
pub(crate) struct AnthropicError {
    status: StatusCode,
    kind: &'static str,
    message: Cow<'static, str>,
}

impl AnthropicError {
    pub(crate) fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            message: message.into(),
        }
    }

    pub(crate) fn invalid_api_key() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            message: "invalid x-api-key".into(),
        }
    }

    pub(crate) fn internal(e: &MockError) -> Self {
        tracing::error!(error = %e, "mock provider failed to build a response");
        Self::injected(500)
    }

    /// An error as Anthropic words it for `status` (529 is Anthropic's "overloaded").
    pub(crate) fn injected(status: u16) -> Self {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (kind, message): (_, &'static str) = match code.as_u16() {
            401 => return Self::invalid_api_key(),
            403 => (
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            404 => (
                "not_found_error",
                "The requested resource could not be found.",
            ),
            413 => (
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            ),
            429 => (
                "rate_limit_error",
                "This request would exceed the rate limit for your organization.",
            ),
            500 => ("api_error", "Internal server error"),
            503 | 529 => ("overloaded_error", "Overloaded"),
            s if s < 500 => ("invalid_request_error", "Invalid request."),
            _ => ("api_error", "Internal server error"),
        };
        Self {
            status: code,
            kind,
            message: message.into(),
        }
    }

    /// The JSON body.
    pub(crate) fn body_json(&self) -> Vec<u8> {
        let body = AnthropicEnvelope {
            kind: "error",
            error: AnthropicBody {
                kind: self.kind,
                message: &self.message,
            },
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct AnthropicEnvelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicBody<'a>,
}

#[derive(Serialize)]
struct AnthropicBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body_json()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

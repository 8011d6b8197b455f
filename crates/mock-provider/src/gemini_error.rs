//! Gemini's error responses: `{"error": {"code", "message", "status"}}`, Google's
//! `google.rpc.Status` JSON, with the status names and messages Gemini uses.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::MockError;

#[derive(Debug)]
pub(crate) struct GeminiError {
    status: StatusCode,
    rpc_status: &'static str,
    message: Cow<'static, str>,
}

impl GeminiError {
    pub(crate) fn invalid_argument(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            rpc_status: "INVALID_ARGUMENT",
            message: message.into(),
        }
    }

    /// No key at all: Gemini answers 403 `PERMISSION_DENIED`.
    pub(crate) fn missing_key() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            rpc_status: "PERMISSION_DENIED",
            message: "Method doesn't allow unregistered callers (callers without established \
                      identity). Please use API Key or other form of API consumer identity to \
                      call this API."
                .into(),
        }
    }

    /// A wrong key: Gemini answers 400 `INVALID_ARGUMENT` (reason `API_KEY_INVALID`).
    pub(crate) fn invalid_key() -> Self {
        Self::invalid_argument("API key not valid. Please pass a valid API key.")
    }

    pub(crate) fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            rpc_status: "NOT_FOUND",
            message: message.into(),
        }
    }

    /// Gemini's wording when the prompt is longer than the model's context window.
    pub(crate) fn context_length(count: u64, max: u64) -> Self {
        Self::invalid_argument(format!(
            "The input token count ({count}) exceeds the maximum number of tokens allowed \
             ({max})."
        ))
    }

    pub(crate) fn internal(e: &MockError) -> Self {
        tracing::error!(error = %e, "mock provider failed to build a response");
        Self::injected(500)
    }

    /// An error as Gemini words it for `status`; used by the fault flags.
    pub(crate) fn injected(status: u16) -> Self {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (rpc_status, message): (_, &'static str) = match code.as_u16() {
            400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
            401 => (
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            ),
            403 => return Self::missing_key(),
            404 => ("NOT_FOUND", "Requested entity was not found."),
            429 => (
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
            ),
            499 => ("CANCELLED", "The operation was cancelled."),
            500 => (
                "INTERNAL",
                "An internal error has occurred. Please retry or report in \
                 https://developers.generativeai.google/guide/troubleshooting",
            ),
            503 => (
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
            ),
            504 => (
                "DEADLINE_EXCEEDED",
                "Deadline expired before operation could complete.",
            ),
            s if s < 500 => ("FAILED_PRECONDITION", "Precondition check failed."),
            _ => ("INTERNAL", "An internal error has occurred."),
        };
        Self {
            status: code,
            rpc_status,
            message: message.into(),
        }
    }

    pub(crate) fn body(&self) -> serde_json::Value {
        json!({"error": {
            "code": self.status.as_u16(),
            "message": self.message,
            "status": self.rpc_status,
        }})
    }
}

impl IntoResponse for GeminiError {
    fn into_response(self) -> Response {
        let bytes = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

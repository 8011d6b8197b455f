//! The gate every `/v1` request passes first: faults and auth, in the order a caller would meet
//! them at a real provider (`admit`), rendered as the route's dialect's error (`gate` for
//! OpenAI's shape, `anthropic_gate` for Anthropic's).

use axum::http::{HeaderMap, header};

use crate::error::{AnthropicError, ApiError};
use crate::faults;
use crate::options::MockOptions;
use crate::state::Shared;

/// Why the gate refused a request.
pub(crate) enum Denied {
    BadKey,
    MissingVersion,
    Status(u16),
}

/// How the caller presents its key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `Authorization: Bearer <key>`.
    OpenAi,
    /// `x-api-key: <key>` and a required `anthropic-version`.
    Anthropic,
    /// Azure OpenAI's `api-key: <key>`.
    Azure,
}

/// Faults and auth, in the order a caller would meet them at a real provider: the request is
/// accepted (or hangs), time passes, the key is checked, then the provider may fail anyway.
/// `x-mock-latency-ms` and `x-mock-error-status` override the options for one request
/// (`x-mock-chunks` does the same for the answer length, in the chat and messages handlers).
pub(crate) async fn admit(
    shared: &Shared,
    opts: &MockOptions,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<(), Denied> {
    faults::arrive(shared, opts, headers).await;
    if let Some(key) = &opts.api_key {
        let presented = match dialect {
            Dialect::OpenAi => headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ")),
            Dialect::Anthropic => headers.get("x-api-key").and_then(|v| v.to_str().ok()),
            Dialect::Azure => headers.get("api-key").and_then(|v| v.to_str().ok()),
        };
        if presented != Some(key.as_str()) {
            return Err(Denied::BadKey);
        }
    }
    if dialect == Dialect::Anthropic && !headers.contains_key("anthropic-version") {
        return Err(Denied::MissingVersion);
    }
    if let Some(status) = faults::injected_status(shared, opts, headers) {
        return Err(Denied::Status(status));
    }
    Ok(())
}

pub(crate) async fn gate(
    shared: &Shared,
    opts: &MockOptions,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    gate_as(shared, opts, headers, Dialect::OpenAi).await
}

pub(crate) async fn gate_as(
    shared: &Shared,
    opts: &MockOptions,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<(), ApiError> {
    admit(shared, opts, headers, dialect)
        .await
        .map_err(|d| match d {
            Denied::BadKey => ApiError::invalid_api_key(),
            Denied::MissingVersion => ApiError::injected(400),
            Denied::Status(s) => ApiError::injected(s),
        })
}

pub(crate) async fn anthropic_gate(
    shared: &Shared,
    opts: &MockOptions,
    headers: &HeaderMap,
) -> Result<(), AnthropicError> {
    admit(shared, opts, headers, Dialect::Anthropic)
        .await
        .map_err(|d| match d {
            Denied::BadKey => AnthropicError::invalid_api_key(),
            Denied::MissingVersion => {
                AnthropicError::invalid_request("anthropic-version: header is required")
            }
            Denied::Status(s) => AnthropicError::injected(s),
        })
}

//! `POST /model/{modelId}/converse` and `/model/{modelId}/converse-stream`: AWS Bedrock
//! Runtime's Converse API with the same deterministic arithmetic as the other endpoints.
//!
//! Auth: a SigV4 `authorization` header (`AWS4-HMAC-SHA256 Credential=…`) and `x-amz-date`
//! are required, else 403 `UnrecognizedClientException`; the signature is not verified (the
//! routing crate's tests check signatures against an independent computation). With an API key
//! configured, the credential's access key id must equal it.
//!
//! The request's tokens and the answer are `bedrock_answer`'s.
//!
//! Faults: `x-mock-error-status`/`error_rate` give Bedrock's error for the status
//! (429 `ThrottlingException`, 503 `ServiceUnavailableException`, 400 `ValidationException`,
//! other 5xx `InternalServerException`); `context_window` gives `ValidationException` "Input is
//! too long for requested model."; in streams `disconnect_after` cuts the connection after that
//! many content events, and `x-mock-stream-exception: <name>` (e.g. `modelStreamErrorException`)
//! sends that exception frame after the first content event instead of the rest of the answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::bedrock_answer::{self, Answer};
use crate::bedrock_stream;
use crate::faults::{self, header_u64};
use crate::state::Shared;

/// One Bedrock error response: `{"message"}` with the type in `x-amzn-errortype`.
#[derive(Debug)]
pub(crate) struct BedrockError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl BedrockError {
    pub(crate) fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message)
    }

    /// The error Bedrock sends for `status`.
    pub(crate) fn injected(status: u16) -> Self {
        let (kind, message) = match status {
            400 => ("ValidationException", "Invalid request."),
            403 => (
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
            ),
            404 => (
                "ResourceNotFoundException",
                "The requested resource could not be found.",
            ),
            408 => (
                "ModelTimeoutException",
                "Model has timed out in processing the request.",
            ),
            424 => (
                "ModelErrorException",
                "The model failed to process the request.",
            ),
            429 => (
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            ),
            503 => (
                "ServiceUnavailableException",
                "Bedrock is unable to process your request.",
            ),
            s if s < 500 => ("ValidationException", "Invalid request."),
            _ => (
                "InternalServerException",
                "The server encountered an internal error.",
            ),
        };
        Self::new(status, kind, message)
    }

    /// The exception's name as ConverseStream frames spell it (`throttlingException`).
    pub(crate) fn stream_name(kind: &str) -> String {
        let mut c = kind.chars();
        c.next()
            .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
            .unwrap_or_default()
    }
}

impl IntoResponse for BedrockError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&json!({"message": self.message})).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(self.kind) {
            headers.insert("x-amzn-errortype", v);
        }
        response
    }
}

pub(crate) async fn converse(
    State(shared): State<Arc<Shared>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match prepare(&shared, &model_id, &headers, &body).await {
        Ok(answer) => {
            shared.count_completion(answer.output_tokens);
            axum::Json(bedrock_answer::response_body(&answer)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn converse_stream(
    State(shared): State<Arc<Shared>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = match prepare(&shared, &model_id, &headers, &body).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let opts = shared.options();
    let exception = headers
        .get("x-mock-stream-exception")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    bedrock_stream::respond(
        shared.clone(),
        &answer,
        bedrock_stream::StreamSpec {
            chunk_delay: opts.chunk_delay,
            disconnect_after: opts.disconnect_after,
            exception,
        },
    )
}

/// Faults, auth, parsing and the answer, in the order a caller would meet them.
async fn prepare(
    shared: &Shared,
    model_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, BedrockError> {
    let opts = shared.options();
    faults::arrive(shared, &opts, headers).await;
    check_signature(headers, opts.api_key.as_deref())?;
    if let Some(status) = faults::injected_status(shared, &opts, headers) {
        return Err(BedrockError::injected(status));
    }
    let req = bedrock_answer::parse(model_id, body)?;
    if opts.context_window.is_some_and(|w| req.total > w) {
        return Err(BedrockError::validation(
            "Input is too long for requested model.",
        ));
    }
    let chunks = header_u64(headers, "x-mock-chunks").map_or(opts.chunks, |n| n as usize);
    let (read, write) = match req.cacheable {
        Some((tokens, hash)) if tokens > 0 => {
            if shared.prompt_cache_hit(hash) {
                (tokens, 0)
            } else {
                (0, tokens)
            }
        }
        _ => (0, 0),
    };
    shared.count_prompt(req.total);
    shared.count_cache(read, write);
    let suffix = shared.next_id();
    let mut answer = bedrock_answer::plan(chunks, &req, &suffix);
    let mut usage = json!({
        "inputTokens": req.total - read - write,
        "outputTokens": answer.output_tokens,
        "totalTokens": req.total + answer.output_tokens,
    });
    if req.cacheable.is_some() {
        usage["cacheReadInputTokens"] = json!(read);
        usage["cacheWriteInputTokens"] = json!(write);
    }
    answer.usage = usage;
    Ok(answer)
}

fn check_signature(headers: &HeaderMap, key: Option<&str>) -> Result<(), BedrockError> {
    let denied = |m: &str| BedrockError::new(403, "UnrecognizedClientException", m);
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("AWS4-HMAC-SHA256 Credential="))
        .ok_or_else(|| denied("The security token included in the request is invalid."))?;
    if !headers.contains_key("x-amz-date") {
        return Err(denied(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    }
    if let Some(key) = key
        && credential.split('/').next() != Some(key)
    {
        return Err(denied(
            "The security token included in the request is invalid.",
        ));
    }
    Ok(())
}

//! `POST /v1/responses` (OpenAI's Responses API, what the Codex CLI and the OpenAI Agents SDK
//! speak; also under `/api/v1`): peek the body, then the shared flow of `call.rs` with
//! `WIRE_FORMAT_OPENAI_RESPONSES`. Routing passes the body through to deployments that speak
//! the Responses API and translates it through the chat pivot for every other kind; either way
//! the answer comes back as a Response object or its event stream, whose final event
//! (`response.completed`) carries `usage.cost` like a chat stream's usage chunk. Errors are
//! OpenAI-shaped, from the one error table in `error.rs`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use tollgate_formats::openai::peek_responses;
use tollgate_proto::routing::v1 as rpc;

use crate::auth::Caller;
use crate::call::serve;
use crate::error::ApiError;
use crate::hardening::Guard;
use crate::request::{Peeked, RequestIdExt, forwardable, read_body};
use crate::state::AppState;

#[tracing::instrument(
    skip_all,
    fields(request_id = %rid.0, tenant_id = %caller.0.identity.tenant_id, key_id = %caller.0.identity.key_id, model, stream, deployment)
)]
pub async fn responses(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    Extension(guard): Extension<Arc<Guard>>,
    headers: http::HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    guard.check_depth(&body)?;
    let peek = peek_responses(&body).map_err(|e| ApiError::BadRequest {
        message: e.to_string(),
        param: e.param().map(str::to_owned),
        code: e.code().unwrap_or("invalid_request"),
    })?;
    // Stored conversations are not kept yet: say so rather than answer without the history.
    if peek.previous_response_id.is_some() {
        return Err(ApiError::BadRequest {
            message: "previous_response_id: this gateway does not store responses yet; send the \
                      whole conversation in `input` (with `store: false`)"
                .to_owned(),
            param: Some("previous_response_id".to_owned()),
            code: "unsupported_parameter",
        });
    }
    guard.check_output(peek.max_output_tokens)?;
    let peek = Peeked {
        format: rpc::WireFormat::OpenaiResponses,
        model: peek.model,
        stream: peek.stream,
        max_tokens: peek.max_output_tokens,
        n: None,
        prompt_tokens_estimate: peek.prompt_tokens_estimate,
        // A Responses stream always ends with `response.completed`, which carries usage.
        include_usage: peek.stream,
        forward: forwardable(&state, &headers),
    };
    serve(state, caller, rid, body, peek).await
}

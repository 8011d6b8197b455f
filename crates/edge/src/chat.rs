//! `POST /v1/chat/completions` (and OpenRouter's `/api/v1/chat/completions`): peek the OpenAI
//! body, then the shared flow of `call.rs`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
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
pub async fn chat_completions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    Extension(guard): Extension<Arc<Guard>>,
    headers: http::HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    guard.check_depth(&body)?;
    let peek = tollgate_formats::openai::peek_chat(&body).map_err(|e| ApiError::BadRequest {
        message: e.to_string(),
        param: e.param().map(str::to_owned),
        code: e.code().unwrap_or("invalid_request"),
    })?;
    guard.check_output(peek.max_tokens)?;
    let n = guard.check_choices(&body)?;
    let peek = Peeked {
        format: rpc::WireFormat::OpenaiChat,
        model: peek.model,
        stream: peek.stream,
        max_tokens: peek.max_tokens,
        n,
        prompt_tokens_estimate: peek.prompt_tokens_estimate,
        include_usage: peek.include_usage,
        forward: forwardable(&state, &headers),
        keep: None,
        units: None,
        content_type: String::new(),
    };
    serve(state, caller, rid, body, peek).await
}

//! `POST /v1/completions` (OpenAI's legacy Completions API; also under `/api/v1`): peek the
//! body, then the shared flow of `call.rs` with `WIRE_FORMAT_OPENAI_COMPLETIONS`. Routing
//! translates it through the chat pivot for every provider kind and answers with a
//! `text_completion` or its chunk stream, whose usage chunk (`stream_options.include_usage`)
//! carries `usage.cost` like a chat stream's. What chat cannot do (`echo`, `suffix`,
//! `logprobs`, several choices or prompts) is refused here, before admission, naming the field.
//! Errors are OpenAI-shaped, from the one error table in `error.rs`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use tollgate_formats::openai::peek_completions;
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
pub async fn completions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    Extension(guard): Extension<Arc<Guard>>,
    headers: http::HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    guard.check_depth(&body)?;
    let peek = peek_completions(&body).map_err(|e| ApiError::BadRequest {
        message: e.to_string(),
        param: e.param().map(str::to_owned),
        code: e.code().unwrap_or("invalid_request"),
    })?;
    guard.check_output(Some(peek.max_tokens))?;
    let peek = Peeked {
        format: rpc::WireFormat::OpenaiCompletions,
        model: peek.model,
        stream: peek.stream,
        max_tokens: Some(peek.max_tokens),
        // More than one choice is refused by the peek.
        n: None,
        prompt_tokens_estimate: peek.prompt_tokens_estimate,
        include_usage: peek.include_usage,
        forward: forwardable(&state, &headers),
        keep: None,
        units: None,
        content_type: String::new(),
    };
    serve(state, caller, rid, body, peek).await
}

//! `POST /v1/embeddings`: the OpenAI Embeddings API, through the shared flow of `call.rs` (model
//! check, admission with the inputs' tokens, one routing call, settlement). Embeddings produce
//! no output tokens, so nothing is reserved for output.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use tollgate_proto::routing::v1 as rpc;

use crate::auth::Caller;
use crate::call::serve;
use crate::error::ApiError;
use crate::hardening::Guard;
use crate::request::{Peeked, RequestIdExt, read_body};
use crate::state::AppState;

#[tracing::instrument(
    skip_all,
    fields(request_id = %rid.0, tenant_id = %caller.0.identity.tenant_id, key_id = %caller.0.identity.key_id, model, stream, deployment)
)]
pub async fn embeddings(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    Extension(guard): Extension<Arc<Guard>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    guard.check_depth(&body)?;
    let peek =
        tollgate_formats::openai::peek_embeddings(&body).map_err(|e| ApiError::BadRequest {
            message: e.to_string(),
            param: e.param().map(str::to_owned),
            code: e.code().unwrap_or("invalid_request"),
        })?;
    let peek = Peeked {
        format: rpc::WireFormat::OpenaiEmbeddings,
        model: peek.model,
        stream: false,
        max_tokens: Some(0),
        n: None,
        prompt_tokens_estimate: peek.prompt_tokens_estimate,
        include_usage: false,
        // Embeddings have no beta headers to carry.
        forward: Default::default(),
        keep: None,
        units: None,
        content_type: String::new(),
    };
    serve(state, caller, rid, body, peek).await
}

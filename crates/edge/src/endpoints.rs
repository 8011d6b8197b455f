//! The endpoints billed by unit, with JSON bodies: `POST /v1/images/generations`,
//! `/v1/audio/speech`, `/v1/moderations` and `/v1/rerank` (and under `/api/v1`). Each peeks its
//! body (`tollgate_formats::endpoints`: the model, the units it will be billed by) and takes the
//! shared flow of `call.rs`: the model check, admission (a request against requests per minute,
//! budget reserved for the units' price), one routing call that passes the body through to an
//! OpenAI-compatible deployment, settlement. The multipart upload of transcriptions is in
//! `transcriptions.rs`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use tollgate_formats::FormatError;
use tollgate_formats::endpoints::{self, EndpointPeek};
use tollgate_proto::routing::v1 as rpc;

use crate::auth::Caller;
use crate::call::serve;
use crate::error::ApiError;
use crate::hardening::Guard;
use crate::request::{Peeked, RequestIdExt, read_body};
use crate::state::AppState;

type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

/// A peek's refusal, in OpenAI's error shape with its parameter and code.
pub(crate) fn refused(e: FormatError) -> ApiError {
    ApiError::BadRequest {
        message: e.to_string(),
        param: e.param().map(str::to_owned),
        code: e.code().unwrap_or("invalid_request"),
    }
}

/// What the shared flow needs of a peeked endpoint request. No output tokens are reserved: the
/// units are what these requests cost.
pub(crate) fn peeked(
    format: rpc::WireFormat,
    p: EndpointPeek,
    stream: bool,
    content_type: String,
) -> Peeked {
    Peeked {
        format,
        model: p.model,
        stream,
        max_tokens: Some(0),
        n: None,
        prompt_tokens_estimate: p.prompt_tokens_estimate,
        include_usage: false,
        // These endpoints have no beta headers to carry.
        forward: Default::default(),
        keep: None,
        units: Some(p.units),
        content_type,
    }
}

/// Read, check and peek a JSON body, then serve it.
async fn serve_json(
    (state, caller, rid, guard): (AppState, Caller, RequestIdExt, Arc<Guard>),
    body: Body,
    format: rpc::WireFormat,
    peek: fn(&[u8]) -> Result<EndpointPeek, FormatError>,
    stream: bool,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    guard.check_depth(&body)?;
    let p = peek(&body).map_err(refused)?;
    serve(
        state,
        caller,
        rid,
        body,
        peeked(format, p, stream, String::new()),
    )
    .await
}

#[tracing::instrument(
    skip_all,
    fields(request_id = %rid.0, tenant_id = %caller.0.identity.tenant_id, key_id = %caller.0.identity.key_id, model, stream, deployment)
)]
pub async fn images(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    Extension(guard): Extension<Arc<Guard>>,
    body: Body,
) -> Result<Response, ApiError> {
    let format = rpc::WireFormat::OpenaiImages;
    let cx = (state, caller, rid, guard);
    serve_json(cx, body, format, endpoints::peek_images, false).await
}

/// The audio is relayed as it comes (a streamed answer at the edge), with the provider's
/// content type.
#[tracing::instrument(
    skip_all,
    fields(request_id = %rid.0, tenant_id = %caller.0.identity.tenant_id, key_id = %caller.0.identity.key_id, model, stream, deployment)
)]
pub async fn speech(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    Extension(guard): Extension<Arc<Guard>>,
    body: Body,
) -> Result<Response, ApiError> {
    let format = rpc::WireFormat::OpenaiSpeech;
    let cx = (state, caller, rid, guard);
    serve_json(cx, body, format, endpoints::peek_speech, true).await
}

#[tracing::instrument(
    skip_all,
    fields(request_id = %rid.0, tenant_id = %caller.0.identity.tenant_id, key_id = %caller.0.identity.key_id, model, stream, deployment)
)]
pub async fn moderations(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    Extension(guard): Extension<Arc<Guard>>,
    body: Body,
) -> Result<Response, ApiError> {
    let format = rpc::WireFormat::OpenaiModerations;
    let cx = (state, caller, rid, guard);
    serve_json(cx, body, format, endpoints::peek_moderations, false).await
}

#[tracing::instrument(
    skip_all,
    fields(request_id = %rid.0, tenant_id = %caller.0.identity.tenant_id, key_id = %caller.0.identity.key_id, model, stream, deployment)
)]
pub async fn rerank(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    Extension(guard): Extension<Arc<Guard>>,
    body: Body,
) -> Result<Response, ApiError> {
    let format = rpc::WireFormat::Rerank;
    let cx = (state, caller, rid, guard);
    serve_json(cx, body, format, endpoints::peek_rerank, false).await
}

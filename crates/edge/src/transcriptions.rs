//! `POST /v1/audio/transcriptions` (and under `/api/v1`): a multipart/form-data upload. The
//! edge reads `model` (and the file's size, for the estimate) from the form with `multer`
//! (`tollgate_formats::endpoints::peek_transcription`), then passes the body and its content
//! type (with its boundary) to routing unchanged; the shared flow of `call.rs` does the rest.
//! Uploads are bounded by `edge.max_body_bytes` like every body.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use tollgate_formats::endpoints;
use tollgate_proto::routing::v1 as rpc;

use crate::auth::Caller;
use crate::call::serve;
use crate::endpoints::{peeked, refused};
use crate::error::ApiError;
use crate::request::{RequestIdExt, read_body};
use crate::state::AppState;

#[tracing::instrument(
    skip_all,
    fields(request_id = %rid.0, tenant_id = %caller.0.identity.tenant_id, key_id = %caller.0.identity.key_id, model, stream, deployment)
)]
pub async fn transcriptions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    headers: http::HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let p = endpoints::peek_transcription(&body, &content_type).map_err(refused)?;
    let format = rpc::WireFormat::OpenaiTranscriptions;
    serve(
        state,
        caller,
        rid,
        body,
        peeked(format, p, false, content_type),
    )
    .await
}

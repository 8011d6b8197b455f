//! `POST /v1/responses` (OpenAI's Responses API, what the Codex CLI and the OpenAI Agents SDK
//! speak; also under `/api/v1`): peek the body, then the shared flow of `call.rs` with
//! `WIRE_FORMAT_OPENAI_RESPONSES`. Routing passes the body through to deployments that speak
//! the Responses API and translates it through the chat pivot for every other kind; either way
//! the answer comes back as a Response object or its event stream, whose final event
//! (`response.completed`) carries `usage.cost` like a chat stream's usage chunk. Errors are
//! OpenAI-shaped, from the one error table in `error.rs`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tollgate_formats::openai::peek_responses;
use tollgate_proto::routing::v1 as rpc;

use crate::auth::Caller;
use crate::call::serve;
use crate::error::ApiError;
use crate::hardening::Guard;
use crate::request::{Peeked, RequestIdExt, forwardable, read_body};
use crate::state::AppState;
use crate::stored;

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
    let peek = peek_responses(&body).map_err(bad_request)?;
    let content_allowed = caller.0.log_content;
    let tenant = caller.0.identity.tenant_id.clone();
    // A continuation becomes one whole conversation before admission (`stored::splice`), so the
    // estimate counts the history and routing needs no lookup.
    let (body, peek) = match &peek.previous_response_id {
        None => (body, peek),
        Some(id) => {
            let stored = previous(&state, &tenant, id, content_allowed).await?;
            let body = stored::continue_from(&body, &stored)?;
            let peek = peek_responses(&body).map_err(bad_request)?;
            (body, peek)
        }
    };
    guard.check_output(peek.max_output_tokens)?;
    let keep = (peek.store && content_allowed).then(|| stored::Keep {
        store: state.stored.clone(),
        tracker: state.tracker.clone(),
        tenant_id: tenant,
        request_id: rid.0.to_string(),
        conversation: stored::conversation(&body),
    });
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
        keep,
        units: None,
        content_type: String::new(),
    };
    serve(state, caller, rid, body, peek).await
}

fn bad_request(e: tollgate_formats::FormatError) -> ApiError {
    ApiError::BadRequest {
        message: e.to_string(),
        param: e.param().map(str::to_owned),
        code: e.code().unwrap_or("invalid_request"),
    }
}

/// The stored turn `id` continues, or the 400 that says why there is none.
async fn previous(
    state: &AppState,
    tenant: &str,
    id: &str,
    content_allowed: bool,
) -> Result<stored::Stored, ApiError> {
    let refuse = |message: String, code| ApiError::BadRequest {
        message,
        param: Some("previous_response_id".to_owned()),
        code,
    };
    if !content_allowed {
        return Err(refuse(
            "previous_response_id: this tenant does not allow storing content, so responses are \
             not stored; send the whole conversation in `input`"
                .to_owned(),
            "previous_response_not_stored",
        ));
    }
    state.stored.fetch(tenant, id).await?.ok_or_else(|| {
        refuse(
            format!("Previous response with id '{id}' not found."),
            "previous_response_not_found",
        )
    })
}

/// `GET /v1/responses/{id}`: the stored Response, as it was answered.
pub async fn get_response(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let stored = find(&state, &caller, &id).await?;
    Ok(axum::Json(stored.response).into_response())
}

/// `GET /v1/responses/{id}/input_items`: the conversation's input items up to that response,
/// in OpenAI's list shape.
pub async fn input_items(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let stored = find(&state, &caller, &id).await?;
    let data = stored.input_items.as_array().cloned().unwrap_or_default();
    let first = data.first().and_then(|i| i.get("id")).cloned();
    let last = data.last().and_then(|i| i.get("id")).cloned();
    Ok(axum::Json(serde_json::json!({
        "object": "list",
        "data": data,
        "first_id": first,
        "last_id": last,
        "has_more": false,
    }))
    .into_response())
}

/// `DELETE /v1/responses/{id}`.
pub async fn delete_response(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !state
        .stored
        .delete(&caller.0.identity.tenant_id, &id)
        .await?
    {
        return Err(not_found(&id));
    }
    Ok(
        axum::Json(serde_json::json!({"id": id, "object": "response", "deleted": true}))
            .into_response(),
    )
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<stored::Stored, ApiError> {
    state
        .stored
        .fetch(&caller.0.identity.tenant_id, id)
        .await?
        .ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Response with id '{id}' not found."))
}

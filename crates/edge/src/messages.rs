//! `POST /v1/messages` (Anthropic's Messages API) and `POST /v1/messages/count_tokens`.
//!
//! The call itself takes the flow every model call shares ([`crate::call::serve`]: admission,
//! one routing call with `WIRE_FORMAT_ANTHROPIC_MESSAGES`, settlement); routing answers in
//! Anthropic's format whatever the provider speaks. Every error on these routes is rendered in
//! Anthropic's shape by the `anthropic_errors` layer in `app.rs`, from the one error table in
//! `error.rs`.
//!
//! `count_tokens` answers from the edge's own estimate (the same one admission reserves with),
//! without calling a provider: it is free, fast and never counts against rate limits, but it is
//! an estimate (text bytes / 4 plus framing), not the provider's tokenizer.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use tollgate_formats::FormatError;
use tollgate_formats::anthropic::{MessagesPeek, peek_messages};
use tollgate_proto::routing::v1 as rpc;

use crate::auth::Caller;
use crate::call::serve;
use crate::error::ApiError;
use crate::hardening::Guard;
use crate::request::{Peeked, RequestIdExt, forwardable, read_body};
use crate::state::AppState;

/// Paths whose errors are rendered in Anthropic's shape.
pub fn is_anthropic_route(path: &str) -> bool {
    path == "/v1/messages" || path.starts_with("/v1/messages/")
}

/// Anthropic requires `anthropic-version` on every call; so do we, with its 400.
fn require_version(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key("anthropic-version") {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "anthropic-version: header is required",
            None,
        ))
    }
}

fn bad_request(e: FormatError) -> ApiError {
    ApiError::BadRequest {
        message: e.to_string(),
        param: e.param().map(str::to_owned),
        code: e.code().unwrap_or("invalid_request"),
    }
}

#[tracing::instrument(
    skip_all,
    fields(request_id = %rid.0, tenant_id = %caller.0.identity.tenant_id, key_id = %caller.0.identity.key_id, model, stream, deployment)
)]
pub async fn messages(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    Extension(guard): Extension<Arc<Guard>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    require_version(&headers)?;
    let body = read_body(&state, body)?;
    guard.check_depth(&body)?;
    let peek = peek_messages(&body).map_err(bad_request)?;
    guard.check_output(Some(peek.max_tokens))?;
    let peek = Peeked {
        format: rpc::WireFormat::AnthropicMessages,
        model: peek.model,
        stream: peek.stream,
        max_tokens: Some(peek.max_tokens),
        n: None,
        prompt_tokens_estimate: peek.prompt_tokens_estimate,
        include_usage: false,
        forward: forwardable(&state, &headers),
        keep: None,
        units: None,
        content_type: String::new(),
    };
    serve(state, caller, rid, body, peek).await
}

/// `{"input_tokens": n}` from the edge's estimate; 404 for a model the gateway does not serve.
pub async fn count_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    require_version(&headers)?;
    let body = read_body(&state, body)?;
    let peek = peek_counting(&body).map_err(bad_request)?;
    if !state.prices.load().knows(&peek.model) {
        return Err(ApiError::UnknownModel(peek.model));
    }
    Ok(
        axum::Json(serde_json::json!({ "input_tokens": peek.prompt_tokens_estimate }))
            .into_response(),
    )
}

/// A count_tokens body has no `max_tokens` (the peek requires one): peek it as if it said 1.
fn peek_counting(body: &[u8]) -> Result<MessagesPeek, FormatError> {
    match peek_messages(body) {
        Err(FormatError::MissingParameter(p)) if p == "max_tokens" => {
            let Some(open) = body.iter().position(|b| !b.is_ascii_whitespace()) else {
                return Err(FormatError::MissingParameter(p));
            };
            let rest = &body[open + 1..];
            let empty = rest
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_none_or(|&b| b == b'}');
            let mut with = Vec::with_capacity(body.len() + 16);
            with.extend_from_slice(&body[..=open]);
            with.extend_from_slice(if empty {
                b"\"max_tokens\":1".as_slice()
            } else {
                b"\"max_tokens\":1,".as_slice()
            });
            with.extend_from_slice(rest);
            peek_messages(&with)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_tokens_bodies_need_no_max_tokens() {
        let p = peek_counting(
            br#" {"model":"claude-mock","messages":[{"role":"user","content":"hello there"}]}"#,
        )
        .unwrap();
        assert_eq!(p.model, "claude-mock");
        assert!(p.prompt_tokens_estimate > 0);
        assert!(peek_counting(br#"{}"#).is_err());
        assert!(peek_counting(b"[]").is_err());
    }

    #[test]
    fn only_messages_routes_are_anthropic() {
        assert!(is_anthropic_route("/v1/messages"));
        assert!(is_anthropic_route("/v1/messages/count_tokens"));
        assert!(!is_anthropic_route("/v1/messagesx"));
        assert!(!is_anthropic_route("/v1/chat/completions"));
    }
}

//! Google Gemini's API (`/v1beta/models/{model}:{action}`): `generateContent`,
//! `streamGenerateContent` (with `?alt=sse`, or as one JSON array without it), `embedContent`
//! and `batchEmbedContents`, with Gemini's key handling and error bodies.
//!
//! The same fault flags as the other dialects, met in the same order (hang, latency, key,
//! forced or drawn error status), answered in Gemini's error shape. The key is `x-goog-api-key`
//! or the `key` query parameter: none at all is 403 `PERMISSION_DENIED`, a wrong one 400
//! `INVALID_ARGUMENT` ("API key not valid"), as Gemini answers. A prompt longer than the
//! context window (the `x-mock-max-input-tokens` header, else the `context_window` option, else
//! [`DEFAULT_MAX_INPUT_TOKENS`]) is Gemini's
//! 400 "The input token count (N) exceeds the maximum number of tokens allowed (M)."
//!
//! Stats: every call counts in `requests`; prompt and output tokens as for the other dialects,
//! implicit-cache hits in `cache_read_tokens`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::embeddings::vector;
use crate::faults::{self, header_u64};
use crate::gemini_answer::{self, Answer};
use crate::gemini_error::GeminiError;
use crate::gemini_request::{self, IMPLICIT_CACHE_MIN_TOKENS};
use crate::gemini_stream::{self, StreamSpec};
use crate::options::MockOptions;
use crate::prompt::{FNV_OFFSET, fnv};
use crate::state::Shared;

/// Gemini 2.5's context window.
pub(crate) const DEFAULT_MAX_INPUT_TOKENS: u64 = 1_048_576;
const DEFAULT_DIMENSIONS: usize = 8;
const MAX_DIMENSIONS: u64 = 4096;

/// `POST /v1beta/models/{*rest}`: axum cannot route `{model}:{action}` within one segment, so
/// the action is split off at the last `:`.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let opts = shared.options();
    if let Err(e) = gate(&shared, &opts, &headers, query.as_deref()).await {
        return e.into_response();
    }
    let Some((model, action)) = rest.rsplit_once(':') else {
        return GeminiError::not_found(format!("Method not found: models/{rest}")).into_response();
    };
    let result = match action {
        "generateContent" => generate(&shared, &opts, &headers, model, &body, None),
        "streamGenerateContent" => {
            let sse = query_param(query.as_deref(), "alt") == Some("sse");
            generate(&shared, &opts, &headers, model, &body, Some(sse))
        }
        "embedContent" => embed(&shared, model, &body, false),
        "batchEmbedContents" => embed(&shared, model, &body, true),
        _ => Err(GeminiError::not_found(format!(
            "Method not found: models/{model}:{action}"
        ))),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The fault gate, in the order the OpenAI and Anthropic routes apply it.
async fn gate(
    shared: &Shared,
    opts: &MockOptions,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), GeminiError> {
    faults::arrive(shared, opts, headers).await;
    if let Some(key) = &opts.api_key {
        let presented = headers
            .get("x-goog-api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| query_param(query, "key"));
        match presented {
            None => return Err(GeminiError::missing_key()),
            Some(p) if p != key => return Err(GeminiError::invalid_key()),
            Some(_) => {}
        }
    }
    if let Some(status) = faults::injected_status(shared, opts, headers) {
        return Err(GeminiError::injected(status));
    }
    Ok(())
}

/// `generateContent` (`stream: None`) or `streamGenerateContent` (`Some(alt_sse)`).
fn generate(
    shared: &Arc<Shared>,
    opts: &MockOptions,
    headers: &HeaderMap,
    model: &str,
    body: &[u8],
    stream: Option<bool>,
) -> Result<Response, GeminiError> {
    let req = gemini_request::parse(body, model)?;
    let max_input = header_u64(headers, "x-mock-max-input-tokens")
        .or(opts.context_window)
        .unwrap_or(DEFAULT_MAX_INPUT_TOKENS);
    if req.prompt_tokens > max_input {
        return Err(GeminiError::context_length(req.prompt_tokens, max_input));
    }
    let cached = if req.prefix_tokens >= IMPLICIT_CACHE_MIN_TOKENS
        && shared.prompt_cache_hit(req.prefix_hash)
    {
        req.prefix_tokens
    } else {
        0
    };
    let chunks = header_u64(headers, "x-mock-chunks").map_or(opts.chunks, |n| n as usize);
    let answer = Answer::new(req, chunks, cached);
    let id = shared.next_id();
    shared.count_prompt(answer.req.prompt_tokens);
    shared.count_cache(cached, 0);
    match stream {
        None => {
            shared.count_completion(answer.output_tokens());
            Ok(axum::Json(gemini_answer::body(&answer, model, &id)).into_response())
        }
        Some(sse) => {
            let spec = StreamSpec {
                chunk_delay: opts.chunk_delay,
                disconnect_after: opts.disconnect_after,
                sse,
            };
            gemini_stream::respond(shared.clone(), &answer, model, &id, spec)
                .map_err(|e| GeminiError::internal(&e))
        }
    }
}

fn invalid(message: impl Into<String>) -> GeminiError {
    GeminiError::invalid_argument(message.into())
}

/// One embedding request's text, and its output dimensionality.
fn embed_item(v: &Value) -> Result<(String, usize), GeminiError> {
    let parts = v
        .get("content")
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("* EmbedContentRequest.content: content is not specified\n"))?;
    let text: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    let dims = match v
        .get("outputDimensionality")
        .or_else(|| v.get("output_dimensionality"))
    {
        None => DEFAULT_DIMENSIONS,
        Some(d) => match d.as_u64() {
            Some(d @ 1..=MAX_DIMENSIONS) => d as usize,
            _ => return Err(invalid("output_dimensionality must be within 1..=4096")),
        },
    };
    Ok((text.join(" "), dims))
}

/// `embedContent` / `batchEmbedContents`: the same deterministic unit vectors as
/// `/v1/embeddings` (same text, same vector). Batch items must name `models/{model}`, as
/// Gemini checks.
fn embed(shared: &Shared, model: &str, body: &[u8], batch: bool) -> Result<Response, GeminiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("Invalid JSON payload received. {e}")))?;
    let items: Vec<&Value> = if batch {
        let requests = v
            .get("requests")
            .and_then(Value::as_array)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                invalid("* BatchEmbedContentsRequest.requests: requests is not specified\n")
            })?;
        let expected = format!("models/{model}");
        for (i, r) in requests.iter().enumerate() {
            if r.get("model").and_then(Value::as_str) != Some(expected.as_str()) {
                return Err(invalid(format!(
                    "* BatchEmbedContentsRequest.requests[{i}].model: the model must be \
                     {expected}\n"
                )));
            }
        }
        requests.iter().collect()
    } else {
        vec![&v]
    };
    let mut tokens = 0;
    let mut embeddings = Vec::with_capacity(items.len());
    for item in items {
        let (text, dims) = embed_item(item)?;
        tokens += crate::chat::count_words(&text);
        embeddings.push(json!({"values": vector(fnv(FNV_OFFSET, text.as_bytes()), dims)}));
    }
    shared.count_prompt(tokens);
    let body = if batch {
        json!({ "embeddings": embeddings })
    } else {
        json!({ "embedding": embeddings.pop().unwrap_or_default() })
    };
    Ok(axum::Json(body).into_response())
}

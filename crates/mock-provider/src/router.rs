//! Routes; every `/v1` request passes the fault and auth gate (`gate.rs`) first.
//!
//! `/v1/*` speaks OpenAI (Chat Completions, Responses, Embeddings, Models, and the endpoints
//! billed by unit in `unit_routes.rs`), except `/v1/messages*` which speaks Anthropic (`x-api-key` and
//! `anthropic-version` headers, Anthropic error bodies); `/_mock/*` is the runtime control API
//! (options and stats). The control API takes no key: the mock only ever listens where tests and
//! benchmarks reach it.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::chat::{self, Plan};
use crate::embeddings;
use crate::error::{AnthropicError, ApiError};
use crate::faults::header_u64;
use crate::gate::{Dialect, anthropic_gate, gate, gate_as};
use crate::messages;
use crate::messages_answer::{self, Answer};
use crate::messages_stream;
use crate::options::MockOptions;
use crate::state::{Shared, unix_now};
use crate::stream::{self, StreamSpec};

/// Vision requests carry base64 images; OpenAI accepts bodies far above axum's 2 MiB default.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

const MODELS: [&str; 3] = ["mock-1", "mock-2", "mock-embed"];
const MODELS_CREATED: u64 = 1_700_000_000;

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/responses", post(responses))
        .route("/v1/messages", post(anthropic_messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{id}", get(get_model))
        // Azure OpenAI: the deployment in the path, `api-version` required, `api-key` header.
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure_chat_completions),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(azure_embeddings),
        )
        // AWS Bedrock Runtime (SigV4 auth; the model id is URL-encoded and may hold ':').
        .route("/model/{model_id}/converse", post(crate::bedrock::converse))
        .route(
            "/model/{model_id}/converse-stream",
            post(crate::bedrock::converse_stream),
        )
        // Google Gemini: `models/{model}:{action}`, split inside the handler.
        .route("/v1beta/models/{*rest}", post(crate::gemini::handle))
        .merge(crate::unit_routes::routes())
        .route("/_mock/options", get(get_options).put(put_options))
        .route("/_mock/stats", get(get_stats))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            crate::seen::layer,
        ))
        .with_state(shared)
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    chat_as(shared, headers, body, Dialect::OpenAi).await
}

/// The `api-version` query Azure requires on every call.
#[derive(serde::Deserialize)]
struct AzureQuery {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

fn azure_version(q: &AzureQuery) -> Result<(), ApiError> {
    match q.api_version.as_deref() {
        Some(v) if !v.is_empty() => Ok(()),
        _ => Err(ApiError::invalid_request(
            "Missing required query parameter 'api-version'.",
            Some("api-version"),
            Some("missing_api_version"),
        )),
    }
}

async fn azure_chat_completions(
    State(shared): State<Arc<Shared>>,
    Path(_deployment): Path<String>,
    axum::extract::Query(q): axum::extract::Query<AzureQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = azure_version(&q) {
        return e.into_response();
    }
    chat_as(shared, headers, body, Dialect::Azure).await
}

async fn azure_embeddings(
    State(shared): State<Arc<Shared>>,
    Path(_deployment): Path<String>,
    axum::extract::Query(q): axum::extract::Query<AzureQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = azure_version(&q) {
        return e.into_response();
    }
    embeddings_as(shared, headers, body, Dialect::Azure).await
}

async fn chat_as(
    shared: Arc<Shared>,
    headers: HeaderMap,
    body: Bytes,
    dialect: Dialect,
) -> Response {
    shared.count_chat_request();
    let opts = shared.options();
    if let Err(e) = gate_as(&shared, &opts, &headers, dialect).await {
        return e.into_response();
    }
    let req = match chat::parse(&body) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    if let Some(window) = opts.context_window.filter(|w| req.prompt_tokens > *w) {
        return ApiError::invalid_request(
            format!(
                "This model's maximum context length is {window} tokens. However, your messages resulted in {} tokens. Please reduce the length of the messages.",
                req.prompt_tokens
            ),
            Some("messages"),
            Some("context_length_exceeded"),
        )
        .into_response();
    }
    let chunks = header_u64(&headers, "x-mock-chunks").map_or(opts.chunks, |n| n as usize);
    let plan = Plan::new(chunks, req.max_tokens);
    let id = shared.next_id();
    let created = unix_now();
    if let Some(answer) = crate::chat_structured::plan(&body, &id) {
        return structured(&shared, &id, created, &req, &answer);
    }
    let result = if req.stream {
        let spec = StreamSpec {
            plan,
            chunk_delay: opts.chunk_delay,
            disconnect_after: opts.disconnect_after,
        };
        stream::respond(shared.clone(), &id, created, &req, spec)
    } else {
        chat::completion(&format!("chatcmpl-{id}"), created, &req, plan).inspect(|_| {
            shared.count_prompt(req.prompt_tokens);
            shared.count_completion(plan.completion_tokens as u64);
        })
    };
    result.unwrap_or_else(|e| ApiError::internal(&e).into_response())
}

/// A chat answer with JSON or tool calls (`chat_structured`), whole or streamed at once.
fn structured(
    shared: &Shared,
    id: &str,
    created: u64,
    req: &chat::ChatRequest<'_>,
    answer: &crate::chat_structured::Structured,
) -> Response {
    shared.count_prompt(req.prompt_tokens);
    shared.count_completion(answer.completion_tokens());
    if req.stream {
        let body = crate::chat_structured::stream_body(id, created, req, answer);
        (
            [(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")],
            body,
        )
            .into_response()
    } else {
        axum::Json(crate::chat_structured::completion(id, created, req, answer)).into_response()
    }
}

/// `POST /v1/responses`: the Responses API, with the chat endpoint's faults and arithmetic.
async fn responses(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.count_responses_request();
    let opts = shared.options();
    if let Err(e) = gate(&shared, &opts, &headers).await {
        return e.into_response();
    }
    let req = match crate::responses::parse(&body) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    if let Some(window) = opts.context_window.filter(|w| req.input_tokens > *w) {
        return ApiError::invalid_request(
            format!(
                "Your input exceeds the context window of this model ({window} tokens); it has {} tokens.",
                req.input_tokens
            ),
            Some("input"),
            Some("context_length_exceeded"),
        )
        .into_response();
    }
    let chunks = header_u64(&headers, "x-mock-chunks").map_or(opts.chunks, |n| n as usize);
    let id = shared.next_id();
    let created = unix_now();
    let mut answer = crate::responses::Answer::new(chunks, &req, &id);
    // OpenAI's automatic prompt caching: a long prompt seen before is read from the cache.
    if req.input_tokens >= crate::responses::CACHE_MIN_TOKENS
        && shared.prompt_cache_hit(req.prefix_hash)
    {
        answer.cached = crate::responses::cached_tokens(req.input_tokens);
        shared.count_cache(answer.cached, 0);
    }
    shared.count_prompt(req.input_tokens);
    let result = if req.stream {
        // Reasoning comes before the first delta; a stream counts its visible tokens as it
        // sends them.
        shared.count_completion(answer.reasoning);
        let spec = crate::responses_stream::StreamSpec {
            chunk_delay: opts.chunk_delay,
            disconnect_after: opts.disconnect_after,
        };
        crate::responses_stream::respond(shared.clone(), &req, &answer, &id, created, spec)
    } else {
        shared.count_completion(answer.output_tokens());
        Ok(axum::Json(crate::responses::body(&req, &answer, &id, created)).into_response())
    };
    result.unwrap_or_else(|e| ApiError::internal(&e).into_response())
}

async fn anthropic_messages(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.count_messages_request();
    let opts = shared.options();
    if let Err(e) = anthropic_gate(&shared, &opts, &headers).await {
        return e.into_response();
    }
    let req = match messages::parse(&body, true) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    if let Some(window) = opts.context_window.filter(|w| req.tokens.total > *w) {
        return AnthropicError::invalid_request(format!(
            "prompt is too long: {} tokens > {window} maximum",
            req.tokens.total
        ))
        .into_response();
    }
    let chunks = header_u64(&headers, "x-mock-chunks").map_or(opts.chunks, |n| n as usize);
    let suffix = shared.next_id();
    let id = format!("msg_mock_{suffix}");
    let answer = Answer::new(chunks, &req, &suffix);
    let hit = req.tokens.cacheable > 0 && shared.prompt_cache_hit(req.tokens.prefix_hash);
    let usage = messages_answer::Usage::new(req.tokens, hit, answer.output_tokens());
    shared.count_prompt(req.tokens.total);
    shared.count_cache(
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    );
    let result = if req.stream {
        let spec = messages_stream::StreamSpec {
            chunk_delay: opts.chunk_delay,
            disconnect_after: opts.disconnect_after,
        };
        messages_stream::respond(shared.clone(), &id, &req.model, &answer, usage, spec)
    } else {
        shared.count_completion(answer.output_tokens());
        Ok(axum::Json(messages_answer::message_body(
            &id, &req.model, &answer, usage,
        ))
        .into_response())
    };
    result.unwrap_or_else(|e| AnthropicError::internal(&e).into_response())
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}` by the documented rule (no cache
/// split, nothing counted in the stats).
async fn count_tokens(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let opts = shared.options();
    if let Err(e) = anthropic_gate(&shared, &opts, &headers).await {
        return e.into_response();
    }
    match messages::parse(&body, false) {
        Ok(req) => {
            axum::Json(serde_json::json!({"input_tokens": req.tokens.total})).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    embeddings_as(shared, headers, body, Dialect::OpenAi).await
}

async fn embeddings_as(
    shared: Arc<Shared>,
    headers: HeaderMap,
    body: Bytes,
    dialect: Dialect,
) -> Response {
    let opts = shared.options();
    if let Err(e) = gate_as(&shared, &opts, &headers, dialect).await {
        return e.into_response();
    }
    match embeddings::respond(&body) {
        Ok((response, prompt_tokens)) => {
            shared.count_prompt(prompt_tokens);
            response
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Serialize)]
struct Model {
    id: &'static str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

fn model(id: &'static str) -> Model {
    Model {
        id,
        object: "model",
        created: MODELS_CREATED,
        owned_by: "tollgate-mock",
    }
}

#[derive(Serialize)]
struct ModelList {
    object: &'static str,
    data: Vec<Model>,
}

async fn list_models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let opts = shared.options();
    if let Err(e) = gate(&shared, &opts, &headers).await {
        return e.into_response();
    }
    let list = ModelList {
        object: "list",
        data: MODELS.into_iter().map(model).collect(),
    };
    axum::Json(list).into_response()
}

async fn get_model(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let opts = shared.options();
    if let Err(e) = gate(&shared, &opts, &headers).await {
        return e.into_response();
    }
    match MODELS.into_iter().find(|m| *m == id) {
        Some(m) => axum::Json(model(m)).into_response(),
        None => ApiError::injected(404).into_response(),
    }
}

async fn get_options(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(&*shared.options()).into_response()
}

/// Replaces every option (missing fields take their defaults) except the API key, which only
/// the process that started the mock may set.
async fn put_options(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let mut next: MockOptions = match serde_json::from_slice(&body) {
        Ok(opts) => opts,
        Err(e) => return ApiError::from_json(&e).into_response(),
    };
    if let Err(e) = next.validate() {
        return ApiError::invalid_request(e.to_string(), None, None).into_response();
    }
    next.api_key.clone_from(&shared.options().api_key);
    let shown = axum::Json(&next).into_response();
    shared.set_options(next);
    (StatusCode::OK, shown).into_response()
}

async fn get_stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.stats()).into_response()
}

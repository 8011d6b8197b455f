//! The edge's HTTP stack, in one place, outermost layer first.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderName, HeaderValue};
use tollgate_domain::RequestId;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::error::ApiError;
use crate::hardening::{self, Guard};
use crate::request::RequestIdExt;
use crate::state::AppState;
use crate::{
    admin, auth, chat, completions, embeddings, endpoints, health, messages, models, openrouter,
    responses, transcriptions,
};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Which routes a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// Everything on one listener (no `edge.admin_listen`).
    All,
    /// The client API without `/admin` (`edge.listen` when the admin API has its own).
    Clients,
    /// `/admin` with the probes and `/metrics` (`edge.admin_listen`).
    Admin,
}

pub fn router(state: AppState, guard: Arc<Guard>, max_body: usize, surface: Surface) -> Router {
    let probes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    let routes = match surface {
        Surface::All => clients().merge(admin::routes()).merge(probes),
        Surface::Clients => clients().merge(probes),
        Surface::Admin => admin::routes().merge(probes),
    }
    .fallback(not_found)
    .method_not_allowed_fallback(method_not_allowed);
    layers(routes, state, guard, max_body)
}

/// The model API every client format uses.
fn clients() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models::list_models))
        .route("/v1/models/{id}", get(models::get_model))
        .route("/v1/responses", post(responses::responses))
        .route(
            "/v1/responses/{id}",
            get(responses::get_response).delete(responses::delete_response),
        )
        .route(
            "/v1/responses/{id}/input_items",
            get(responses::input_items),
        )
        .route("/v1/completions", post(completions::completions))
        // Billed by unit, passed through to OpenAI-compatible deployments.
        .route("/v1/images/generations", post(endpoints::images))
        .route("/v1/audio/speech", post(endpoints::speech))
        .route(
            "/v1/audio/transcriptions",
            post(transcriptions::transcriptions),
        )
        .route("/v1/moderations", post(endpoints::moderations))
        .route("/v1/rerank", post(endpoints::rerank))
        // Anthropic clients (`anthropic-version`, `x-api-key`), errors in Anthropic's shape.
        .route("/v1/messages", post(messages::messages))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        // OpenRouter clients use the `/api/v1` base URL.
        .route("/api/v1/chat/completions", post(chat::chat_completions))
        .route("/api/v1/embeddings", post(embeddings::embeddings))
        .route("/api/v1/responses", post(responses::responses))
        .route(
            "/api/v1/responses/{id}",
            get(responses::get_response).delete(responses::delete_response),
        )
        .route(
            "/api/v1/responses/{id}/input_items",
            get(responses::input_items),
        )
        .route("/api/v1/completions", post(completions::completions))
        .route("/api/v1/images/generations", post(endpoints::images))
        .route("/api/v1/audio/speech", post(endpoints::speech))
        .route(
            "/api/v1/audio/transcriptions",
            post(transcriptions::transcriptions),
        )
        .route("/api/v1/moderations", post(endpoints::moderations))
        .route("/api/v1/rerank", post(endpoints::rerank))
        .route("/api/v1/models", get(models::list_models))
        .route("/api/v1/models/{id}", get(models::get_model))
        .route("/api/v1/key", get(openrouter::key))
        .route("/api/v1/generation", get(openrouter::generation))
}

/// The one layer stack every listener's routes go through.
fn layers(routes: Router<AppState>, state: AppState, guard: Arc<Guard>, max_body: usize) -> Router {
    routes
        .layer(
            ServiceBuilder::new()
                // 1. A panic anywhere below becomes a plain 500 in the OpenAI shape, no internals.
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::Internal.into_response()
                }))
                // 2. Credentials never reach logs or traces.
                .layer(SetSensitiveRequestHeadersLayer::new([
                    http::header::AUTHORIZATION,
                    HeaderName::from_static("x-api-key"),
                ]))
                // 3. Every request gets a fresh UUIDv7, returned in `x-request-id` on every answer.
                .layer(middleware::from_fn(request_id))
                // 3b. On Anthropic's routes every error (auth, limits, routing) in Anthropic's shape.
                .layer(middleware::from_fn(anthropic_errors))
                // 4. One span per request, continuing the caller's W3C trace if it sent one.
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let span = tracing::info_span!(
                        "http",
                        otel.kind = "server",
                        http.method = %req.method(),
                        http.route = %req.uri().path(),
                        request_id = tracing::field::Empty,
                    );
                    let _ =
                        span.set_parent(tollgate_telemetry::propagation::extract(req.headers()));
                    span
                }))
                // 5. Bodies over the limit are refused before they are read in full (chunked ones
                //    too: the limit counts bytes read, not `content-length`).
                .layer(DefaultBodyLimit::max(max_body))
                // 5b. Headers over `edge.hardening.max_header_bytes`: 431. Load shed: model calls
                //     beyond `edge.hardening.max_in_flight` get 503 and Retry-After before any work.
                //     (Header time and count and the connection cap are enforced below HTTP, in
                //     `hardening/serve.rs`.)
                .layer(middleware::from_fn_with_state(
                    guard.clone(),
                    hardening::shed,
                ))
                // 5c. An address failing authentication too often gets 429 without its credential
                //     being looked at (memory only: a flood costs Redis and Postgres nothing).
                .layer(middleware::from_fn_with_state(
                    guard,
                    hardening::throttle_auth,
                ))
                // 6. Deny by default: a key (or the admin token) on every route but the probes.
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    auth::require_credential,
                )),
        )
        .with_state(state)
}

/// Mint the request id. A client-sent `x-request-id` is never trusted as ours (it keys the
/// ledger); it is kept as `x-client-request-id` on the response.
async fn request_id(mut req: Request, next: Next) -> Response {
    let rid = RequestId::new();
    let client_id = req.headers_mut().remove(&X_REQUEST_ID);
    req.extensions_mut().insert(RequestIdExt(rid));
    tracing::Span::current().record("request_id", tracing::field::display(rid));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&rid.to_string()) {
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    if let Some(c) = client_id {
        resp.headers_mut().insert("x-client-request-id", c);
    }
    resp
}

async fn anthropic_errors(req: Request, next: Next) -> Response {
    let anthropic = messages::is_anthropic_route(req.uri().path());
    let resp = next.run(req).await;
    if anthropic {
        crate::error::to_anthropic(resp)
    } else {
        resp
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "Unknown route {} {}.",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "{} is not supported on {}.",
        req.method(),
        req.uri().path()
    ))
}

/// How long to wait for streams to finish at shutdown before cutting them.
pub fn drain_deadline(d: Duration) -> Duration {
    d.max(Duration::from_millis(100))
}

//! The routes of the endpoints billed by unit, with the chat routes' faults and auth (the
//! router's gate): images, speech, transcriptions, moderations, rerank. Each answer counts what
//! it served in [`crate::MockStats`], in its unit, and each body is kept (`seen.rs`) so tests
//! can see what a gateway sent on.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::gate::gate;
use crate::state::{Served, Shared, unix_now};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/images/generations", post(images))
        .route("/v1/audio/speech", post(speech))
        .route("/v1/audio/transcriptions", post(transcriptions))
        .route("/v1/moderations", post(moderations))
        .route("/v1/rerank", post(rerank))
}

/// The gate's refusal, or `None` to go on; the body is kept for tests either way.
async fn admit(shared: &Shared, path: &str, headers: &HeaderMap, body: &Bytes) -> Option<Response> {
    shared.seen.keep_body(path, body);
    let opts = shared.options();
    gate(shared, &opts, headers)
        .await
        .err()
        .map(IntoResponse::into_response)
}

async fn images(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = admit(&shared, "/v1/images/generations", &headers, &body).await {
        return refused;
    }
    match crate::images::generate(&body, &shared.next_id(), unix_now()) {
        Ok((answer, n)) => {
            shared.count_units(Served::Images(n));
            axum::Json(answer).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn speech(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = admit(&shared, "/v1/audio/speech", &headers, &body).await {
        return refused;
    }
    match crate::speech::parse(&body) {
        Ok(speech) => {
            shared.count_units(Served::SpeechCharacters(speech.characters));
            let opts = shared.options();
            crate::speech::respond(shared.clone(), speech, &opts)
        }
        Err(e) => e.into_response(),
    }
}

async fn transcriptions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = "/v1/audio/transcriptions";
    if let Some(refused) = admit(&shared, path, &headers, &body).await {
        return refused;
    }
    match crate::transcriptions::transcribe(&headers, body).await {
        Ok((resp, seconds)) => {
            shared.count_units(Served::AudioSeconds(seconds));
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn moderations(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = admit(&shared, "/v1/moderations", &headers, &body).await {
        return refused;
    }
    match crate::moderations::moderate(&body, &shared.next_id()) {
        Ok(answer) => {
            shared.count_units(Served::Moderation);
            axum::Json(answer).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn rerank(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = admit(&shared, "/v1/rerank", &headers, &body).await {
        return refused;
    }
    match crate::rerank::rerank(&body, &shared.next_id()) {
        Ok((answer, units)) => {
            shared.count_units(Served::SearchUnits(units));
            axum::Json(answer).into_response()
        }
        Err(e) => e.into_response(),
    }
}

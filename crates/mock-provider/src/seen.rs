//! What the mock was sent and what it says back about a call's identity, as real providers do:
//! the request headers of the last [`KEPT`] requests (so tests can see which client headers a
//! gateway passed on, and that credentials it should not pass never arrive), and the provider's
//! own request id on every answer (`x-request-id` on OpenAI-shaped routes, `request-id` on
//! Anthropic's `/v1/messages`, `x-amzn-requestid` on Bedrock's).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::Shared;

/// Requests whose headers are kept.
pub(crate) const KEPT: usize = 256;

/// Bodies kept (the endpoints billed by unit only: the chat routes' bodies are not copied).
pub(crate) const KEPT_BODIES: usize = 64;

/// The headers of recent requests, newest last, and the bodies of recent requests to the
/// endpoints billed by unit.
#[derive(Default)]
pub(crate) struct Seen {
    headers: Mutex<VecDeque<(String, HeaderMap)>>,
    bodies: Mutex<VecDeque<(String, Bytes)>>,
}

impl Seen {
    /// Keep `body`, sent to `path`.
    pub(crate) fn keep_body(&self, path: &str, body: &Bytes) {
        let mut q = self
            .bodies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if q.len() == KEPT_BODIES {
            q.pop_front();
        }
        q.push_back((path.to_owned(), body.clone()));
    }

    pub(crate) fn bodies(&self) -> Vec<(String, Bytes)> {
        let q = self
            .bodies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        q.iter().cloned().collect()
    }

    fn push(&self, path: String, headers: HeaderMap) {
        let mut q = self
            .headers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if q.len() == KEPT {
            q.pop_front();
        }
        q.push_back((path, headers));
    }

    pub(crate) fn all(&self) -> Vec<(String, HeaderMap)> {
        let q = self
            .headers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        q.iter().cloned().collect()
    }
}

/// Records the request's headers, then stamps the answer with a provider request id.
pub(crate) async fn layer(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    shared.seen.push(path.clone(), req.headers().clone());
    let mut resp = next.run(req).await;
    let name = if path.starts_with("/v1/messages") {
        "request-id"
    } else if path.starts_with("/model/") {
        "x-amzn-requestid"
    } else {
        "x-request-id"
    };
    if let Ok(v) = HeaderValue::from_str(&format!("req_mock_{}", shared.next_id())) {
        resp.headers_mut().insert(name, v);
    }
    resp
}

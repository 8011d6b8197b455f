//! What one model request is, as every step of the shared flow sees it (`call.rs` runs the
//! steps): the request id the request-id layer minted, what a route peeked from the body, and
//! once authenticated, the [`ModelCall`]: who asks, for what, since when. Plain data, so the
//! steps (admission, settlement, the relay, the overrun watch) share it without importing each
//! other.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::HeaderMap;
use tollgate_domain::{RequestId, Units};
use tollgate_proto::routing::v1 as rpc;

use crate::error::ApiError;
use crate::snapshot::KeyEntry;
use crate::state::AppState;

/// The UUIDv7 minted for this request by the request-id layer.
#[derive(Clone, Copy, Debug)]
pub struct RequestIdExt(pub RequestId);

/// What a handler peeked from its request, whatever its wire format: all the shared flow needs.
pub(crate) struct Peeked {
    pub format: rpc::WireFormat,
    pub model: String,
    pub stream: bool,
    pub max_tokens: Option<u64>,
    /// OpenAI's `n` (choices asked for), for the model's cap.
    pub n: Option<u64>,
    pub prompt_tokens_estimate: u64,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
    /// Client headers routing may pass on to the provider ([`forwardable`]).
    pub forward: HashMap<String, String>,
    /// A Responses API answer to store once it has gone out.
    pub keep: Option<crate::stored::Keep>,
    /// The endpoints billed by unit (images, speech, ...): the units the request says it will
    /// be billed by, for the budget reservation.
    pub units: Option<Units>,
    /// The client's `Content-Type` for a body that is not JSON (a multipart upload), passed on
    /// to the provider unchanged; empty for JSON.
    pub content_type: String,
}

/// The longest header value handed on: beta flags are short; anything longer is not one.
const MAX_FORWARDED_VALUE: usize = 1024;

/// The headers of `headers` on the edge's `forward_headers` list, for routing to pass on to
/// providers that take them. Values that are not visible ASCII or are overlong are left out.
pub(crate) fn forwardable(state: &AppState, headers: &HeaderMap) -> HashMap<String, String> {
    state
        .forward_headers
        .iter()
        .filter_map(|name| {
            let joined: Vec<&str> = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let value = joined.join(",");
            (!value.is_empty() && value.len() <= MAX_FORWARDED_VALUE)
                .then(|| (name.as_str().to_owned(), value))
        })
        .collect()
}

/// One model call from an authenticated caller, as every step after the peek sees it.
pub(crate) struct ModelCall {
    pub caller: Arc<KeyEntry>,
    pub request_id: RequestId,
    pub peek: Peeked,
    /// For latencies.
    pub started: Instant,
    /// For prices: a request is billed at the price in effect when it started.
    pub started_at: SystemTime,
}

impl ModelCall {
    pub fn start(caller: Arc<KeyEntry>, request_id: RequestId, peek: Peeked) -> ModelCall {
        ModelCall {
            caller,
            request_id,
            peek,
            started: Instant::now(),
            started_at: SystemTime::now(),
        }
    }
}

/// The request body, or the refusal for one that could not be read.
pub(crate) fn read_body(
    state: &AppState,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge {
                limit: state.max_body,
            }
        } else {
            ApiError::bad_request("The request body could not be read.", None)
        }
    })
}

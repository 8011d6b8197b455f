//! What one model request is, as every step of the shared flow sees it (`call.rs` runs the
//! steps): the request id the request-id layer minted, what a route peeked from the body, and
//! once authenticated, the [`ModelCall`]: who asks, for what, since when. Plain data, so the
//! steps (admission, settlement, the relay, the overrun watch) share it without importing each
//! other.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use tollgate_domain::RequestId;
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

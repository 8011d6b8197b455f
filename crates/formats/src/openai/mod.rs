//! OpenAI Chat Completions and Embeddings: request peeks and rewrite, usage from responses and chunks, errors.

mod completions_peek;
mod embeddings;
mod error;
mod peek;
mod prefs;
mod responses_peek;
mod rewrite;
pub mod usage;

pub use completions_peek::{CompletionsPeek, peek_completions};
pub use embeddings::{EmbeddingsPeek, peek_embeddings};
pub use error::{error_body, format_error_body, stream_error_event};
pub use peek::{ChatPeek, peek_chat};
pub use prefs::{
    DataCollectionPref, MaxPrice, Needs, ProviderPrefs, RoutingPrefs, Sort, peek_routing_prefs,
    strip_router_fields,
};
pub use responses_peek::{ResponsesPeek, peek_responses};
pub use rewrite::{
    encode_chunk_event, put_chunk_event, replace_model, rewrite_chat_request,
    rewrite_chat_response_model,
};
pub use usage::{ChunkInfo, CompletionInfo, OutputMeter, inspect_chunk, inspect_completion};

/// `Content-Type` of a non-streaming response.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// `Content-Type` of a streaming response.
pub const SSE_CONTENT_TYPE: &str = "text/event-stream";

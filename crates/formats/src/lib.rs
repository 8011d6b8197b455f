//! Provider wire formats: what the edge and routing need to read and write on the hot path.
//!
//! Owns: peeking an OpenAI chat request for the few fields admission needs, rewriting a request
//! for a deployment (model, `stream_options`) while keeping every other byte as the client sent
//! it, reading usage out of responses and stream chunks, OpenAI-shaped error bodies and SSE
//! decoding/encoding, the one renderer of the event that ends a stream early
//! ([`stream_error`]), and the endpoints billed by unit ([`endpoints`]: images, speech,
//! transcriptions, moderations, rerank).
//!
//! Must not: do I/O, log, allocate per byte, or round-trip a client body through
//! `serde_json::Value` (that reorders keys and loses number precision). Every function here is
//! pure and total: arbitrary bytes give an error, never a panic.

pub mod anthropic;
pub mod bedrock;
pub mod completions;
pub mod depth;
pub mod endpoints;
mod error;
pub mod gemini;
mod json;
pub mod openai;
pub mod responses;
pub mod sse;
pub mod stream_error;
pub mod translate;

pub use error::FormatError;

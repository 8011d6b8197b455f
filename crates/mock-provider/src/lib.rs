//! Tollgate's mock LLM provider: a real HTTP server that speaks OpenAI's documented wire format
//! (Chat Completions and Responses, streaming included, Embeddings, Models) and Anthropic's (Messages, streaming
//! included, with prompt-cache accounting and tool use; token counting) with deterministic token
//! accounting and injectable faults (latency, slow streams, error statuses, hangs, mid-stream
//! disconnects).
//!
//! It is the only fake in the project: the routing service calls it exactly as it would call
//! OpenAI, and the benchmark uses it as the "straight to the provider" baseline, so the request
//! path is kept lean (no locks, pre-sized buffers, pre-rendered stream chunks).
//!
//! It must not grow business logic of its own (no prices, no keys beyond one bearer check) and
//! must never be pointed at by anything but tests, benchmarks and local demos.

mod bedrock;
mod bedrock_answer;
mod bedrock_stream;
mod chat;
mod chat_structured;
pub mod cli;
mod embeddings;
mod error;
mod faults;
mod gate;
mod gemini;
mod gemini_answer;
mod gemini_error;
mod gemini_request;
mod gemini_stream;
mod images;
mod messages;
mod messages_answer;
mod messages_stream;
mod moderations;
mod options;
mod paced;
mod prompt;
mod rerank;
mod responses;
mod responses_stream;
mod router;
mod schema;
mod seen;
mod server;
mod speech;
mod state;
mod stream;
mod transcriptions;
mod unit_routes;

pub use error::MockError;
pub use options::{MockOptions, MockStats};
pub use server::{MockServer, serve};

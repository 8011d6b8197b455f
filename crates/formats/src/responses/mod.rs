//! OpenAI's Responses API (`POST /v1/responses`, what the Codex CLI and the OpenAI Agents SDK
//! speak) served by deployments that speak only Chat Completions: typed models of the request,
//! its items, the Response object and the stream events, and the translations through the chat
//! pivot ([`crate::translate::ChatRequest`] and friends). Deployments that speak Responses
//! natively are passed through by the gateway; there is no reverse direction here.
//!
//! As in [`crate::translate`], nothing is dropped silently: what a translation cannot carry
//! over is a [`Warning`](crate::translate::Warning) naming the field, and what would change the
//! request's meaning is a [`FormatError`](crate::FormatError) (a 400 for the client): built-in
//! tools (named in the message), `item_reference` items, `background`, `conversation` and
//! stored `prompt`s.
//!
//! Must not: do I/O or keep state between requests. `previous_response_id` is resolved by the
//! caller, which stores each response's items and hands them back as `history`.
//!
//! Documented choices:
//! - `instructions` become the first (system) message;
//! - a Response's ids are the caller's response id and ids derived from it and each item's
//!   output index (`msg_…`, `fc_…`, `rs_…`), so both translations give the same Response;
//! - chat `reasoning_content` becomes a `reasoning` item with one `summary_text` (there is no
//!   encrypted reasoning to return, and reasoning items sent back are dropped);
//! - `finish_reason: length` / `content_filter` make the Response `incomplete` with reason
//!   `max_output_tokens` / `content_filter`.

mod events;
mod items;
mod model;
mod request_to_chat;
mod response_from_chat;
mod stream_from_chat;
mod tools;

pub use events::{EventBody, ResponsesStreamEvent};
pub use items::*;
pub use model::*;
pub use request_to_chat::{DEFAULT_SCHEMA_NAME, responses_to_chat_request};
pub use response_from_chat::{chat_to_responses_response, response_usage, shell};
pub use stream_from_chat::{CUT_SHORT, ChatToResponsesStream};
pub use tools::builtin_tool_refusal;

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

//! Google Gemini (`generativelanguage.googleapis.com/v1beta`): typed models of
//! `generateContent`, `streamGenerateContent` and the embeddings calls, usage in Tollgate's
//! convention, Gemini's error bodies, and the translations to and from OpenAI Chat Completions.
//!
//! As in [`crate::translate`], nothing is dropped silently: what a translation cannot carry
//! over is a [`Warning`](crate::translate::Warning), and what would change the request's
//! meaning is a [`FormatError`](crate::FormatError) (a 400 for the client).
//!
//! Documented choices:
//! - `reasoning_effort` becomes `thinkingConfig.thinkingBudget` ([`thinking_budget`]) with
//!   `includeThoughts`, and thoughts come back as `reasoning_content`;
//! - OpenAI tool schemas go to `parametersJsonSchema` (full JSON Schema) rather than
//!   `parameters` (Gemini's OpenAPI subset, which refuses common JSON Schema keywords);
//! - a tool message becomes a `functionResponse` whose `response` is `{"output": <content>}`
//!   (Google's documented convention), and such a response reads back as its `output` text;
//! - function calls and responses are sent without `id`: Gemini's request side refuses the
//!   field and pairs them by name and order, so OpenAI ids do not survive a trip through
//!   Gemini (Gemini-side calls without ids come back as `call_<n>`);
//! - a function call's `thoughtSignature` (which Gemini 3 requires back in the next turn) rides
//!   in the OpenAI tool call id ([`join_call_id`]), which OpenAI clients echo verbatim.

mod embeddings;
mod error;
mod messages;
mod model;
mod request;
mod request_to_openai;
mod response;
mod stream;
mod usage;

pub use embeddings::{
    gemini_to_openai_embeddings, gemini_to_openai_embeddings_base64, openai_to_gemini_embeddings,
    wants_base64,
};
pub use error::{error_message, is_context_length};
pub use model::*;
pub use request::openai_to_gemini_request;
pub use request_to_openai::gemini_to_openai_request;
pub use response::{gemini_to_openai_response, openai_to_gemini_response};
pub use stream::GeminiToOpenAiStream;

/// The Gemini thinking budget for an OpenAI `reasoning_effort`: `none`/`minimal` 0 (thinking
/// off where the model allows it), `low` 1024, `medium` 8192, `high` 24576 (Gemini 2.5 Flash's
/// maximum); `None` for an unknown effort.
pub fn thinking_budget(effort: &str) -> Option<i64> {
    match effort {
        "none" | "minimal" => Some(0),
        "low" => Some(1_024),
        "medium" => Some(8_192),
        "high" => Some(24_576),
        _ => None,
    }
}

/// The OpenAI `reasoning_effort` for a Gemini thinking budget (the inverse of
/// [`thinking_budget`] on its values; `-1`, "dynamic", reads as `medium`).
pub(crate) fn effort_for_budget(budget: i64) -> &'static str {
    match budget {
        0 => "none",
        b if b < 0 => "medium",
        1..=1_024 => "low",
        1_025..=8_192 => "medium",
        _ => "high",
    }
}

/// Separates a tool call id from the thought signature carried in it.
const SIGNATURE_MARK: &str = "__thought_signature__";

/// The OpenAI tool call id for a Gemini function call: its id, with the call's thought
/// signature appended after [`SIGNATURE_MARK`] when it has one, so the signature comes back
/// (in the assistant message's tool call) when the client continues the conversation.
pub fn join_call_id(id: &str, signature: Option<&str>) -> String {
    match signature {
        Some(s) => format!("{id}{SIGNATURE_MARK}{s}"),
        None => id.to_owned(),
    }
}

/// The inverse of [`join_call_id`]: `(id, signature)`.
pub fn split_call_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(SIGNATURE_MARK) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}

#[cfg(test)]
mod tests;

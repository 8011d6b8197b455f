//! Translations between OpenAI Chat Completions and Anthropic Messages, both directions:
//! requests, responses, stream events (stateful, one translator per stream) and errors.
//!
//! Nothing is dropped silently: every function reports what it could not carry over as
//! [`Warning`]s naming the field, so the caller can count them (a metric) and tests can pin
//! them. What cannot be expressed at all (`n > 1`, structured output together with tools) is a
//! [`FormatError`](crate::FormatError) the client sees as a 400.
//!
//! Translations parse into the typed models (`crate::anthropic`, [`ChatRequest`] and friends):
//! unlike same-format traffic, which keeps the client's bytes (see `crate::openai::rewrite`),
//! a translated body is rebuilt, so key order and number spellings are the serialiser's.
//! Unknown fields are kept in `extra` and either carried over or reported.
//!
//! Documented choices (each a constant or a doc comment where it is made):
//! - `max_tokens` absent in an OpenAI request becomes [`DEFAULT_MAX_TOKENS`];
//! - `reasoning_effort` becomes a thinking budget ([`thinking_budget`]);
//! - `response_format: json_schema | json_object` becomes one forced tool whose input is the
//!   JSON answer, turned back into message content in the response and stream translations;
//! - Anthropic thinking becomes `reasoning_content` in OpenAI messages and deltas.

pub(crate) mod assistant;
mod errors;
mod messages_to_anthropic;
pub(crate) mod openai_chunks;
mod openai_model;
mod parts_to_anthropic;
mod request_to_anthropic;
mod request_to_openai;
mod response;
mod stream_to_anthropic;
mod stream_to_openai;

use std::borrow::Cow;

pub use errors::{anthropic_error_to_openai, openai_error_to_anthropic};
pub use openai_model::*;
pub use request_to_anthropic::{
    DEFAULT_MAX_TOKENS, JSON_OBJECT_TOOL, ToAnthropic, openai_to_anthropic_request, thinking_budget,
};
pub use request_to_openai::{ToOpenAi, anthropic_to_openai_request, strip_cache_control};
pub use response::{anthropic_to_openai_response, openai_to_anthropic_response};
pub use stream_to_anthropic::OpenAiToAnthropicStream;
pub use stream_to_openai::{AnthropicToOpenAiStream, OpenAiStreamEvent};

/// Parses a body into one of the typed models, with the error a client should see.
pub fn from_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, crate::FormatError> {
    let s = crate::json::utf8(body)?;
    crate::json::require_object(s)?;
    serde_json::from_str(s).map_err(|e| crate::FormatError::InvalidJson(e.to_string()))
}

/// Something a translation could not carry over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The field of the source body, dotted (`messages[2].content[1]`, `seed`).
    pub field: Cow<'static, str>,
    pub reason: &'static str,
}

impl Warning {
    pub(crate) fn new(field: impl Into<Cow<'static, str>>, reason: &'static str) -> Self {
        Self {
            field: field.into(),
            reason,
        }
    }
}

/// A translated value and what was lost on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Translated<T> {
    pub value: T,
    pub warnings: Vec<Warning>,
}

/// OpenAI `finish_reason` for an Anthropic `stop_reason`.
pub(crate) fn finish_reason(stop: Option<&crate::anthropic::StopReason>) -> &'static str {
    use crate::anthropic::StopReason as S;
    match stop {
        Some(S::MaxTokens) => "length",
        Some(S::ToolUse) => "tool_calls",
        Some(S::Refusal) => "content_filter",
        // end_turn, stop_sequence, pause_turn (the turn is complete as far as the client can
        // act on it), unknown.
        _ => "stop",
    }
}

/// Anthropic `stop_reason` for an OpenAI `finish_reason`.
pub(crate) fn stop_reason(finish: Option<&str>) -> crate::anthropic::StopReason {
    use crate::anthropic::StopReason as S;
    match finish {
        Some("length") => S::MaxTokens,
        Some("tool_calls" | "function_call") => S::ToolUse,
        Some("content_filter") => S::Refusal,
        _ => S::EndTurn,
    }
}

#[cfg(test)]
mod tests;

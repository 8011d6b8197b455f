//! OpenAI's legacy Completions API (`POST /v1/completions`: one `prompt` in, `text` out) served
//! by deployments that speak only Chat Completions, whatever their kind: a typed model of the
//! request and of the `text_completion` object, and the translations through the chat pivot
//! ([`crate::translate::ChatRequest`] and friends). There is no reverse direction and no
//! passthrough: no provider kind the gateway speaks offers the legacy endpoint for chat models.
//!
//! As in [`crate::translate`], nothing is dropped silently: what a translation cannot carry
//! over is a [`Warning`](crate::translate::Warning) naming the field (`logit_bias`, whose token
//! ids belong to the legacy model's vocabulary), and what chat cannot do honestly is a
//! [`FormatError`](crate::FormatError), a 400 naming the field: `suffix` (insertion), `echo`,
//! `logprobs`, `best_of` > 1, `n` > 1, several prompts (several choices) and token-id prompts.
//!
//! Must not: do I/O or keep state between requests.
//!
//! Documented choices:
//! - the prompt becomes one `user` message, so a chat model answers it rather than continuing
//!   it token by token (the closest honest reading of a completion through chat);
//! - `max_tokens` absent becomes [`DEFAULT_MAX_TOKENS`] (16), as OpenAI documents for this API;
//! - `finish_reason` is `stop`, `length` or `content_filter` (a chat `tool_calls` finish cannot
//!   happen without tools and reads as `stop`);
//! - chat `reasoning_content` and `refusal` have no place in a completion and are reported.

mod model;
mod request_to_chat;
mod response_from_chat;
mod stream_from_chat;

pub use model::{Completion, CompletionChoice, CompletionRequest, TEXT_COMPLETION};
pub use request_to_chat::{DEFAULT_MAX_TOKENS, completions_to_chat_request, prompt_text, refuse};
pub use response_from_chat::{chat_to_completion, finish_reason};
pub use stream_from_chat::{ChatToCompletionsStream, CompletionStreamEvent};

#[cfg(test)]
mod tests;

//! The `chat.completion.chunk`s every translation to an OpenAI stream (from Anthropic, Bedrock
//! and Gemini) is made of, the usage object they end with, and the event that ends a stream
//! the upstream cut short.

use tollgate_domain::Usage;

use super::openai_model::{
    ChatChunk, ChatUsage, ChunkChoice, Delta, Extra, FunctionDelta, PromptTokensDetails,
    ToolCallDelta, function_type,
};
use super::stream_to_openai::OpenAiStreamEvent;

/// A chunk of stream `id` with one choice.
pub(crate) fn chunk(
    id: &str,
    model: &str,
    created: u64,
    index: u32,
    delta: Delta,
    finish: Option<&str>,
) -> OpenAiStreamEvent {
    OpenAiStreamEvent::Chunk(ChatChunk {
        id: id.to_owned(),
        object: "chat.completion.chunk".to_owned(),
        created,
        model: model.to_owned(),
        choices: vec![ChunkChoice {
            index,
            delta,
            finish_reason: finish.map(str::to_owned),
            extra: Extra::new(),
        }],
        usage: None,
        extra: Extra::new(),
    })
}

/// The chunk with no choices that carries the usage, before `[DONE]`, when the client asked
/// for it (`stream_options.include_usage`).
pub(crate) fn usage_chunk(
    id: &str,
    model: &str,
    created: u64,
    usage: ChatUsage,
) -> OpenAiStreamEvent {
    let mut event = chunk(id, model, created, 0, Delta::default(), None);
    if let OpenAiStreamEvent::Chunk(c) = &mut event {
        c.choices.clear();
        c.usage = Some(usage);
    }
    event
}

/// OpenAI's usage object for a usage in Tollgate's convention (`prompt_tokens` counts every
/// prompt token, `cached_tokens` the cache reads), without a reasoning split.
pub(crate) fn chat_usage(u: &Usage) -> ChatUsage {
    ChatUsage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.input_tokens.saturating_add(u.output_tokens),
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: u.cached_input_tokens,
        }),
        completion_tokens_details: None,
    }
}

/// What the client gets when the upstream body ends before the answer was complete: an
/// explicit error rather than a silently truncated answer.
pub(crate) fn cut_short() -> OpenAiStreamEvent {
    OpenAiStreamEvent::Error {
        message: "The upstream provider closed the stream before the answer was complete."
            .to_owned(),
        kind: "server_error",
        code: Some("upstream_error"),
    }
}

impl Delta {
    pub(crate) fn content(text: String) -> Self {
        Self {
            content: Some(text),
            ..Self::default()
        }
    }

    pub(crate) fn reasoning(text: String) -> Self {
        Self {
            reasoning_content: Some(text),
            ..Self::default()
        }
    }

    /// A tool call's opening (with `id` and `name`) or a piece of its arguments (without).
    pub(crate) fn tool_call(
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    ) -> Self {
        Self {
            tool_calls: Some(vec![ToolCallDelta {
                index,
                kind: id.as_ref().map(|_| function_type()),
                id,
                function: Some(FunctionDelta {
                    name,
                    arguments: Some(arguments),
                }),
            }]),
            ..Self::default()
        }
    }
}

//! Gemini's `usageMetadata` in Tollgate's convention and in OpenAI's shape.

use tollgate_domain::Usage;

use super::model::UsageMetadata;
use crate::translate::{ChatUsage, CompletionTokensDetails, openai_chunks};

impl UsageMetadata {
    /// Usage in Tollgate's convention (input includes cached tokens; reasoning is part of
    /// output), from Gemini's counts as Google documents them:
    ///
    /// - `promptTokenCount` is the whole prompt: "when `cachedContent` is set, this is still the
    ///   total effective prompt size meaning this includes the number of tokens in the cached
    ///   content", so the cached tokens are a subset of it already and are not added again;
    /// - `toolUsePromptTokenCount` ("number of tokens present in tool-use prompt(s)": the
    ///   results of built-in tools such as Google Search fed back to the model) is billed as
    ///   input but is *not* part of `promptTokenCount`, so it is added;
    /// - `candidatesTokenCount` is the answer only; `thoughtsTokenCount` (thinking) is reported
    ///   beside it and billed at the output price, so output is their sum and reasoning the
    ///   thoughts. `totalTokenCount` equals the sum of all four, which the tests check.
    ///
    /// Nothing is ever written to a cache by a request (Gemini caches are created separately),
    /// so `cache_write_tokens` is 0.
    pub fn to_usage(&self) -> Usage {
        let thoughts = self.thoughts_token_count.unwrap_or(0);
        Usage {
            units: None,
            input_tokens: self
                .prompt_token_count
                .unwrap_or(0)
                .saturating_add(self.tool_use_prompt_token_count.unwrap_or(0)),
            output_tokens: self
                .candidates_token_count
                .unwrap_or(0)
                .saturating_add(thoughts),
            cached_input_tokens: self.cached_content_token_count.unwrap_or(0),
            cache_write_tokens: 0,
            reasoning_tokens: thoughts,
        }
    }

    /// Gemini counts for a usage in Tollgate's convention (the inverse of [`Self::to_usage`]
    /// with no tool-use prompt).
    pub fn from_usage(u: &Usage) -> Self {
        let reasoning = u.reasoning_tokens.min(u.output_tokens);
        Self {
            prompt_token_count: Some(u.input_tokens),
            candidates_token_count: Some(u.output_tokens - reasoning),
            cached_content_token_count: (u.cached_input_tokens > 0)
                .then_some(u.cached_input_tokens),
            thoughts_token_count: (reasoning > 0).then_some(reasoning),
            tool_use_prompt_token_count: None,
            total_token_count: Some(u.input_tokens.saturating_add(u.output_tokens)),
            extra: Default::default(),
        }
    }
}

/// OpenAI's usage object for a usage in Tollgate's convention.
pub(crate) fn chat_usage(u: &Usage) -> ChatUsage {
    ChatUsage {
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: u.reasoning_tokens,
        }),
        ..openai_chunks::chat_usage(u)
    }
}

/// Tollgate usage for OpenAI's usage object.
pub(crate) fn from_chat_usage(u: &ChatUsage) -> Usage {
    Usage {
        units: None,
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        cached_input_tokens: u
            .prompt_tokens_details
            .as_ref()
            .map_or(0, |d| d.cached_tokens),
        cache_write_tokens: 0,
        reasoning_tokens: u
            .completion_tokens_details
            .as_ref()
            .map_or(0, |d| d.reasoning_tokens),
    }
}

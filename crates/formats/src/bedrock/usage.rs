//! Bedrock usage in Tollgate's convention, and back.

use tollgate_domain::Usage;

use super::model::{ConverseUsage, Extra};
use crate::translate::{ChatUsage, openai_chunks};

impl ConverseUsage {
    /// Usage in Tollgate's convention (`input_tokens` includes cache reads and writes).
    ///
    /// Bedrock, like Anthropic, reports `inputTokens` *beside* the cache counts: the API
    /// reference lists `cacheReadInputTokens`/`cacheWriteInputTokens` as fields of their own,
    /// and Bedrock's answers (as SDK integrations that bill them read them) give `inputTokens`
    /// as the uncached remainder and `totalTokens` as the sum of all four counts. So the
    /// prompt is `inputTokens + cacheRead + cacheWrite`.
    ///
    /// One guard: if `totalTokens` is exactly `inputTokens + outputTokens` while cache counts
    /// are present and fit inside `inputTokens`, this response counted the cache inside
    /// `inputTokens` (the OpenAI way) and adding them again would bill them twice; then
    /// `inputTokens` is taken as the whole prompt. Bedrock does not split reasoning out of
    /// `outputTokens`, so `reasoning_tokens` is 0.
    pub fn to_usage(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_write_input_tokens.unwrap_or(0);
        let cache = read.saturating_add(write);
        let inclusive = cache > 0
            && cache <= self.input_tokens
            && self.total_tokens == self.input_tokens.saturating_add(self.output_tokens);
        let input = if inclusive {
            self.input_tokens
        } else {
            self.input_tokens.saturating_add(cache)
        };
        Usage {
            units: None,
            input_tokens: input,
            output_tokens: self.output_tokens,
            cached_input_tokens: read,
            cache_write_tokens: write,
            reasoning_tokens: 0,
        }
    }

    /// Bedrock usage for Tollgate usage: the cache counts move out of `inputTokens`.
    pub fn from_usage(u: &Usage) -> Self {
        let read = u.cached_input_tokens.min(u.input_tokens);
        let write = u.cache_write_tokens.min(u.input_tokens - read);
        Self {
            input_tokens: u.input_tokens - read - write,
            output_tokens: u.output_tokens,
            total_tokens: u.input_tokens.saturating_add(u.output_tokens),
            cache_read_input_tokens: (read > 0).then_some(read),
            cache_write_input_tokens: (write > 0).then_some(write),
            extra: Extra::new(),
        }
    }
}

/// OpenAI usage for Bedrock usage (`prompt_tokens` counts every prompt token).
pub(crate) fn openai_usage(u: &ConverseUsage) -> ChatUsage {
    openai_chunks::chat_usage(&u.to_usage())
}

/// Bedrock usage for OpenAI usage (cached tokens become `cacheReadInputTokens`).
pub(crate) fn converse_usage(u: &ChatUsage) -> ConverseUsage {
    ConverseUsage::from_usage(&Usage {
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        cached_input_tokens: u
            .prompt_tokens_details
            .as_ref()
            .map_or(0, |d| d.cached_tokens),
        ..Usage::default()
    })
}

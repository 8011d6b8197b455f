//! The answer to a Messages request: its content (thinking, text words, tool uses), why it
//! stops, and Anthropic's usage object with the prompt-cache split.

use serde::Serialize;
use serde_json::{Value, json};

use crate::messages::{MessagesRequest, PromptTokens};

/// Output tokens charged per `tool_use` block.
pub(crate) const TOOL_USE_TOKENS: u64 = 8;

/// The thinking of a request with `thinking` enabled, one word per token.
pub(crate) const THINKING: [&str; 5] = ["Let", " me", " think", " this", " through."];

/// The signature of the mock's thinking blocks.
pub(crate) const SIGNATURE: &str = "bW9jay10aGlua2luZy1zaWduYXR1cmU=";

/// Anthropic's usage object, in its field order.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Usage {
    pub(crate) input_tokens: u64,
    pub(crate) cache_creation_input_tokens: u64,
    pub(crate) cache_read_input_tokens: u64,
    pub(crate) cache_creation: CacheCreation,
    pub(crate) output_tokens: u64,
    pub(crate) service_tier: &'static str,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct CacheCreation {
    pub(crate) ephemeral_5m_input_tokens: u64,
    pub(crate) ephemeral_1h_input_tokens: u64,
}

impl Usage {
    /// `cache_hit`: the prefix was seen before (reads) rather than written now.
    pub(crate) fn new(tokens: PromptTokens, cache_hit: bool, output_tokens: u64) -> Self {
        let (read, write) = if cache_hit {
            (tokens.cacheable, 0)
        } else {
            (0, tokens.cacheable)
        };
        Self {
            input_tokens: tokens.total - tokens.cacheable,
            cache_creation_input_tokens: write,
            cache_read_input_tokens: read,
            cache_creation: CacheCreation {
                ephemeral_5m_input_tokens: if tokens.ttl_1h { 0 } else { write },
                ephemeral_1h_input_tokens: if tokens.ttl_1h { write } else { 0 },
            },
            output_tokens,
            service_tier: "standard",
        }
    }
}

/// How the answer goes: thinking, text words or tool uses, and why it stops.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Answer {
    pub(crate) thinking: bool,
    pub(crate) words: usize,
    pub(crate) tool_uses: Vec<(String, String, Value)>,
    pub(crate) stop_reason: &'static str,
}

impl Answer {
    pub(crate) fn new(chunks: usize, req: &MessagesRequest, id: &str) -> Self {
        if !req.tool_uses.is_empty() {
            return Self {
                thinking: req.thinking,
                words: 0,
                tool_uses: req
                    .tool_uses
                    .iter()
                    .enumerate()
                    .map(|(i, (name, input))| {
                        (format!("toolu_mock_{id}_{i}"), name.clone(), input.clone())
                    })
                    .collect(),
                stop_reason: "tool_use",
            };
        }
        let (words, stop_reason) = if (req.max_tokens as usize) < chunks {
            (req.max_tokens as usize, "max_tokens")
        } else {
            (chunks, "end_turn")
        };
        Self {
            thinking: req.thinking,
            words,
            tool_uses: Vec::new(),
            stop_reason,
        }
    }

    pub(crate) fn output_tokens(&self) -> u64 {
        let thinking = if self.thinking {
            THINKING.len() as u64
        } else {
            0
        };
        thinking + self.words as u64 + self.tool_uses.len() as u64 * TOOL_USE_TOKENS
    }

    pub(crate) fn content(&self) -> Vec<Value> {
        let mut out = Vec::new();
        if self.thinking {
            out.push(
                json!({"type": "thinking", "thinking": THINKING.concat(), "signature": SIGNATURE}),
            );
        }
        if self.words > 0 {
            let mut text = String::new();
            for i in 0..self.words {
                let (sep, word) = crate::chat::chunk_text(i);
                text.push_str(sep);
                text.push_str(word);
            }
            out.push(json!({"type": "text", "text": text}));
        }
        for (id, name, input) in &self.tool_uses {
            out.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
        }
        out
    }
}

/// The non-streaming `message` body.
pub(crate) fn message_body(id: &str, model: &str, answer: &Answer, usage: Usage) -> Value {
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": answer.content(),
        "stop_reason": answer.stop_reason,
        "stop_sequence": null,
        "usage": usage,
    })
}

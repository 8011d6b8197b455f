//! The mock's deterministic answer to a Gemini `generateContent` request (see
//! `gemini_request` for how the request is read and counted).
//!
//! The answer is `min(chunks, maxOutputTokens)` words (`finishReason` `MAX_TOKENS` when cut
//! short, else `STOP`), or one `functionCall` part per planned call, each counted as 8 output
//! tokens, with no id (as Gemini's API sends them). With thinking on, the model "thinks" 5
//! tokens (`thoughtsTokenCount` 5, not capped by `maxOutputTokens`); in JSON mode the answer is
//! one part, an instance of the response schema (one token). The thought text is shown
//! only with `includeThoughts`, and the first function call then carries a
//! `thoughtSignature`, as Gemini 3 does.

use serde_json::{Value, json};

use crate::gemini_request::GeminiRequest;
use crate::messages_answer::{THINKING, TOOL_USE_TOKENS};

/// The signature of the mock's thinking function calls.
pub(crate) const THOUGHT_SIGNATURE: &str = "bW9jay1nZW1pbmktc2lnbmF0dXJl";

/// The answer: its parts in order, and its counts.
pub(crate) struct Answer {
    pub(crate) req: GeminiRequest,
    pub(crate) words: usize,
    pub(crate) finish_reason: &'static str,
    pub(crate) cached_tokens: u64,
}

impl Answer {
    pub(crate) fn new(req: GeminiRequest, chunks: usize, cached_tokens: u64) -> Self {
        let (words, finish_reason) = if !req.calls.is_empty() {
            (0, "STOP")
        } else if req.json.is_some() {
            (1, "STOP")
        } else {
            match req.max_output_tokens {
                Some(max) if (max as usize) < chunks => (max as usize, "MAX_TOKENS"),
                _ => (chunks, "STOP"),
            }
        };
        Self {
            req,
            words,
            finish_reason,
            cached_tokens,
        }
    }

    pub(crate) fn thoughts_tokens(&self) -> u64 {
        if self.req.thinking {
            THINKING.len() as u64
        } else {
            0
        }
    }

    pub(crate) fn candidates_tokens(&self) -> u64 {
        self.words as u64 + self.req.calls.len() as u64 * TOOL_USE_TOKENS
    }

    /// Everything charged as output (candidates and thoughts).
    pub(crate) fn output_tokens(&self) -> u64 {
        self.candidates_tokens() + self.thoughts_tokens()
    }

    /// `usageMetadata` after `candidates` answer tokens and `thoughts` thought tokens.
    pub(crate) fn usage(&self, candidates: u64, thoughts: u64) -> Value {
        let prompt = self.req.prompt_tokens;
        let mut u = json!({
            "promptTokenCount": prompt,
            "candidatesTokenCount": candidates,
            "totalTokenCount": prompt + candidates + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        });
        if let Some(o) = u.as_object_mut() {
            if thoughts > 0 {
                o.insert("thoughtsTokenCount".to_owned(), thoughts.into());
            }
            if self.cached_tokens > 0 {
                o.insert(
                    "cachedContentTokenCount".to_owned(),
                    self.cached_tokens.into(),
                );
            }
        }
        u
    }

    pub(crate) fn thought_parts(&self) -> Vec<Value> {
        if !self.req.show_thoughts {
            return Vec::new();
        }
        THINKING
            .iter()
            .map(|w| json!({"text": w, "thought": true}))
            .collect()
    }

    pub(crate) fn word_parts(&self) -> Vec<Value> {
        if let Some(json) = &self.req.json {
            return vec![json!({ "text": json })];
        }
        (0..self.words)
            .map(|i| {
                let (sep, word) = crate::chat::chunk_text(i);
                json!({ "text": format!("{sep}{word}") })
            })
            .collect()
    }

    pub(crate) fn call_parts(&self) -> Vec<Value> {
        self.req
            .calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| {
                let mut p = json!({"functionCall": {"name": name, "args": args}});
                if i == 0
                    && self.req.thinking
                    && let Some(o) = p.as_object_mut()
                {
                    o.insert("thoughtSignature".to_owned(), THOUGHT_SIGNATURE.into());
                }
                p
            })
            .collect()
    }
}

/// One `GenerateContentResponse` (a whole answer, or one chunk of a stream).
pub(crate) fn response(
    parts: Vec<Value>,
    finish_reason: Option<&str>,
    usage: Value,
    model: &str,
    id: &str,
) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let (Some(reason), Some(o)) = (finish_reason, candidate.as_object_mut()) {
        o.insert("finishReason".to_owned(), reason.into());
    }
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": id})
}

/// The non-streaming answer.
pub(crate) fn body(answer: &Answer, model: &str, id: &str) -> Value {
    let mut parts = answer.thought_parts();
    let words = answer.word_parts();
    if !words.is_empty() {
        // One text part, as Gemini joins a non-streamed answer.
        let text: String = words
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        parts.push(json!({ "text": text }));
    }
    parts.extend(answer.call_parts());
    if parts.is_empty() {
        parts.push(json!({"text": ""}));
    }
    response(
        parts,
        Some(answer.finish_reason),
        answer.usage(answer.candidates_tokens(), answer.thoughts_tokens()),
        model,
        id,
    )
}

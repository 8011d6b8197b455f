//! The Converse answer of the Bedrock mock: the request's tokens, tool choice and the answer
//! (reasoning, words or tool uses).
//!
//! Token rules: each tool spec counts (words of its description + 3); each system text block
//! its words; each message 3 plus the words of its text blocks and of its tool results' text
//! (JSON results count their JSON text's words); plus 3 for the prompt. The prefix up to the
//! last `cachePoint` is the cacheable prefix: the first request with that prefix (same model,
//! same bytes) reports it as `cacheWriteInputTokens`, later ones as `cacheReadInputTokens`, and
//! `inputTokens` is the rest, as Bedrock reports it (without a `cachePoint` both cache fields
//! are absent). The answer is `min(chunks, maxTokens)` words (`stopReason` `max_tokens` when
//! cut), or toolUse blocks exactly as the Anthropic mock decides them (tools present and
//! `toolChoice` `any`/`tool`, or the last user text says "use the tool" / "use all the tools"),
//! 8 output tokens each. With `additionalModelRequestFields.thinking.type = enabled` the answer
//! starts with a 5-word reasoning block and a fixed signature.

use serde_json::{Map, Value, json};

use crate::bedrock::BedrockError;
use crate::chat::count_words;
use crate::messages_answer::{SIGNATURE, THINKING, TOOL_USE_TOKENS};
use crate::prompt::{FNV_OFFSET, call_tools, fnv};

/// What a Converse request asks for, after validation.
pub(crate) struct ConverseRequest {
    pub(crate) max_tokens: Option<u64>,
    pub(crate) thinking: bool,
    pub(crate) total: u64,
    pub(crate) cacheable: Option<(u64, u64)>,
    /// (name, input) of the toolUse blocks to answer with.
    pub(crate) tool_uses: Vec<(String, Value)>,
}

/// The answer: reasoning, words or tool uses, usage.
pub(crate) struct Answer {
    pub(crate) thinking: bool,
    pub(crate) words: usize,
    /// (toolUseId, name, input).
    pub(crate) tool_uses: Vec<(String, String, Value)>,
    pub(crate) stop_reason: &'static str,
    pub(crate) usage: Value,
    pub(crate) output_tokens: u64,
}

fn words_of_block(b: &Value) -> u64 {
    if let Some(t) = b.get("text").and_then(Value::as_str) {
        return count_words(t);
    }
    let Some(results) = b
        .get("toolResult")
        .and_then(|r| r.get("content"))
        .and_then(Value::as_array)
    else {
        return 0;
    };
    results
        .iter()
        .map(|c| match (c.get("text"), c.get("json")) {
            (Some(Value::String(t)), _) => count_words(t),
            (_, Some(j)) => count_words(&j.to_string()),
            _ => 0,
        })
        .sum()
}

pub(crate) fn parse(model_id: &str, body: &[u8]) -> Result<ConverseRequest, BedrockError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| BedrockError::validation(format!("Malformed input request: {e}")))?;
    let Some(obj) = v.as_object() else {
        return Err(BedrockError::validation(
            "Malformed input request: expected an object",
        ));
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        _ => {
            return Err(BedrockError::validation(
                "A conversation must start with a user message. Try again with a conversation \
                 that starts with a user message.",
            ));
        }
    };
    if messages[0].get("role").and_then(Value::as_str) != Some("user") {
        return Err(BedrockError::validation(
            "A conversation must start with a user message. Try again with a conversation that \
             starts with a user message.",
        ));
    }
    let max_tokens = match obj.get("inferenceConfig").and_then(|c| c.get("maxTokens")) {
        None => None,
        Some(n) => match n.as_u64() {
            Some(n) if n >= 1 => Some(n),
            _ => {
                return Err(BedrockError::validation(
                    "1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to \
                     satisfy constraint: Member must have value greater than or equal to 1",
                ));
            }
        },
    };
    let tools: Vec<&Value> = obj
        .get("toolConfig")
        .and_then(|c| c.get("tools"))
        .and_then(Value::as_array)
        .map(|t| t.iter().collect())
        .unwrap_or_default();

    let mut running = 0u64;
    let mut hash = fnv(FNV_OFFSET, model_id.as_bytes());
    let mut cacheable = None;
    let blocks = tools.iter().copied().chain(
        obj.get("system")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    );
    for b in blocks {
        if let Some(spec) = b.get("toolSpec") {
            running += spec
                .get("description")
                .and_then(Value::as_str)
                .map_or(0, count_words)
                + 3;
        } else {
            running += words_of_block(b);
        }
        hash = fnv(hash, b.to_string().as_bytes());
        if b.get("cachePoint").is_some() {
            cacheable = Some((running, hash));
        }
    }
    for m in messages {
        running += 3;
        hash = fnv(
            hash,
            m.get("role")
                .map(Value::to_string)
                .unwrap_or_default()
                .as_bytes(),
        );
        for b in m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            running += words_of_block(b);
            hash = fnv(hash, b.to_string().as_bytes());
            if b.get("cachePoint").is_some() {
                cacheable = Some((running, hash));
            }
        }
    }
    let thinking = obj
        .get("additionalModelRequestFields")
        .and_then(|f| f.get("thinking"))
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        == Some("enabled");
    Ok(ConverseRequest {
        max_tokens,
        thinking,
        total: running + 3,
        cacheable,
        tool_uses: plan_tools(obj, &tools, messages),
    })
}

fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        })
        .unwrap_or_default()
}

fn plan_tools(
    obj: &Map<String, Value>,
    tools: &[&Value],
    messages: &[Value],
) -> Vec<(String, Value)> {
    let specs: Vec<&Value> = tools.iter().filter_map(|t| t.get("toolSpec")).collect();
    if specs.is_empty() {
        return Vec::new();
    }
    let choice = obj.get("toolConfig").and_then(|c| c.get("toolChoice"));
    let named = choice
        .and_then(|c| c.get("tool"))
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str);
    let forced = choice.is_some_and(|c| c.get("any").is_some()) || named.is_some();
    let text = last_user_text(messages);
    if !forced && !text.contains("use the tool") && !text.contains("use all the tools") {
        return Vec::new();
    }
    let all = text.contains("use all the tools");
    call_tools(specs, named, all, "tool", |s| {
        s.get("inputSchema").and_then(|i| i.get("json"))
    })
}

pub(crate) fn plan(chunks: usize, req: &ConverseRequest, id: &str) -> Answer {
    let thinking_tokens = if req.thinking {
        THINKING.len() as u64
    } else {
        0
    };
    if !req.tool_uses.is_empty() {
        let tool_uses: Vec<(String, String, Value)> = req
            .tool_uses
            .iter()
            .enumerate()
            .map(|(i, (name, input))| {
                (
                    format!("tooluse_mock_{id}_{i}"),
                    name.clone(),
                    input.clone(),
                )
            })
            .collect();
        let output_tokens = thinking_tokens + tool_uses.len() as u64 * TOOL_USE_TOKENS;
        return Answer {
            thinking: req.thinking,
            words: 0,
            tool_uses,
            stop_reason: "tool_use",
            usage: Value::Null,
            output_tokens,
        };
    }
    let (words, stop_reason) = match req.max_tokens {
        Some(max) if (max as usize) < chunks => (max as usize, "max_tokens"),
        _ => (chunks, "end_turn"),
    };
    Answer {
        thinking: req.thinking,
        words,
        tool_uses: Vec::new(),
        stop_reason,
        usage: Value::Null,
        output_tokens: thinking_tokens + words as u64,
    }
}

/// The answer text: the chat mock's words.
pub(crate) fn word(i: usize) -> String {
    let (sep, word) = crate::chat::chunk_text(i);
    format!("{sep}{word}")
}

pub(crate) fn response_body(a: &Answer) -> Value {
    let mut content = Vec::new();
    if a.thinking {
        content.push(json!({"reasoningContent": {"reasoningText":
            {"text": THINKING.concat(), "signature": SIGNATURE}}}));
    }
    if a.words > 0 {
        content.push(json!({"text": (0..a.words).map(word).collect::<String>()}));
    }
    for (id, name, input) in &a.tool_uses {
        content.push(json!({"toolUse": {"toolUseId": id, "name": name, "input": input}}));
    }
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": a.stop_reason,
        "usage": a.usage,
        "metrics": {"latencyMs": 1},
    })
}

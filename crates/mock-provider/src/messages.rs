//! `POST /v1/messages` and `POST /v1/messages/count_tokens`: Anthropic's Messages API with the
//! same deterministic arithmetic as the OpenAI path.
//!
//! Token rules (documented so tests elsewhere can predict them). The prompt is read in
//! Anthropic's cache order, tools, then system, then messages, as a running count:
//! each tool counts (words of its description + 3); each system text block its words; each
//! message 3 plus the words of its text (text blocks, and the text of tool results; images and
//! documents count nothing); plus 3 for the whole prompt. The answer is `min(chunks, max_tokens)`
//! words (`stop_reason` `max_tokens` when cut short), or, when the request has tools and either
//! `tool_choice` is `any`/`tool` or the last user text contains "use the tool", one `tool_use`
//! block per tool (only the first, or the named one, unless the text says "use all the tools" and
//! parallel use is not disabled), each counted as `TOOL_USE_TOKENS` (8) output tokens. With
//! `thinking` enabled the answer starts with a thinking block of 5 words (5 more output tokens,
//! not capped by `max_tokens`) and a fixed signature.
//!
//! Prompt caching: the prefix up to and including the last block (tool, system block or content
//! block) marked `cache_control` is the cached prefix. The first request with a given prefix
//! (same model, same bytes) reports its tokens as `cache_creation_input_tokens` (split by the
//! breakpoint's `ttl` in `cache_creation`), every later one as `cache_read_input_tokens`;
//! `input_tokens` is the rest, as Anthropic reports it. There is no minimum cacheable length.

use serde_json::{Map, Value};

use crate::chat::count_words as words;
use crate::error::AnthropicError;
use crate::prompt::{FNV_OFFSET, call_tools, fnv};

/// What a Messages request asks for, after validation.
pub(crate) struct MessagesRequest {
    pub(crate) model: String,
    pub(crate) max_tokens: u64,
    pub(crate) stream: bool,
    /// `thinking.type` is `enabled`: the answer starts with a thinking block.
    pub(crate) thinking: bool,
    pub(crate) tokens: PromptTokens,
    /// `tool_use` blocks to answer with (name, input), empty for a text answer.
    pub(crate) tool_uses: Vec<(String, Value)>,
}

/// The prompt's tokens, all and cacheable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PromptTokens {
    pub(crate) total: u64,
    /// Tokens up to the last `cache_control` breakpoint, 0 without one.
    pub(crate) cacheable: u64,
    pub(crate) ttl_1h: bool,
    /// Identity of the cached prefix (model and bytes).
    pub(crate) prefix_hash: u64,
}

fn invalid(message: impl Into<String>) -> AnthropicError {
    AnthropicError::invalid_request(message.into())
}

pub(crate) fn parse(body: &[u8], need_max_tokens: bool) -> Result<MessagesRequest, AnthropicError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("There was an error parsing the body: {e}")))?;
    let Some(obj) = v.as_object() else {
        return Err(invalid("The request body must be a JSON object."));
    };
    let model = match obj.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => return Err(invalid("model: Field required")),
    };
    let max_tokens = match obj.get("max_tokens") {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if n >= 1 => n,
            _ => {
                return Err(invalid(
                    "max_tokens: Input should be greater than or equal to 1",
                ));
            }
        },
        None if !need_max_tokens => 1,
        None => return Err(invalid("max_tokens: Field required")),
        Some(_) => return Err(invalid("max_tokens: Input should be a valid integer")),
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => return Err(invalid("messages: at least one message is required")),
        Some(_) => return Err(invalid("messages: Input should be a valid list")),
        None => return Err(invalid("messages: Field required")),
    };
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let tools: &[Value] = obj
        .get("tools")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let tokens = prompt_tokens(&model, tools, obj.get("system"), messages);
    let tool_uses = plan_tools(obj, tools, messages);
    let thinking = obj
        .get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        == Some("enabled");
    Ok(MessagesRequest {
        model,
        max_tokens,
        stream,
        thinking,
        tokens,
        tool_uses,
    })
}

/// Words of a block's text: text blocks, and tool results' string or text-block content.
fn block_words(block: &Value) -> u64 {
    match block {
        Value::String(s) => words(s),
        Value::Object(b) => match b.get("type").and_then(Value::as_str) {
            Some("text") => b.get("text").and_then(Value::as_str).map_or(0, words),
            Some("tool_result") => match b.get("content") {
                Some(Value::String(s)) => words(s),
                Some(Value::Array(parts)) => parts.iter().map(block_words).sum(),
                _ => 0,
            },
            _ => 0,
        },
        _ => 0,
    }
}

fn has_breakpoint(v: &Value) -> Option<bool> {
    let cc = v.get("cache_control")?.as_object()?;
    Some(cc.get("ttl").and_then(Value::as_str) == Some("1h"))
}

/// Records a breakpoint at `v` if it has one: the prefix so far is the cached prefix.
fn mark(running: u64, hash: u64, v: &Value, out: &mut PromptTokens) {
    if let Some(ttl_1h) = has_breakpoint(v) {
        out.cacheable = running;
        out.ttl_1h = ttl_1h;
        out.prefix_hash = hash;
    }
}

fn prompt_tokens(
    model: &str,
    tools: &[Value],
    system: Option<&Value>,
    messages: &[Value],
) -> PromptTokens {
    let mut running = 0u64;
    let mut hash = fnv(FNV_OFFSET, model.as_bytes());
    let mut out = PromptTokens::default();
    for t in tools {
        running += t
            .get("description")
            .and_then(Value::as_str)
            .map_or(0, words)
            + 3;
        hash = fnv(hash, t.to_string().as_bytes());
        mark(running, hash, t, &mut out);
    }
    match system {
        Some(Value::String(s)) => {
            running += words(s);
            hash = fnv(hash, s.as_bytes());
        }
        Some(Value::Array(blocks)) => {
            for b in blocks {
                running += block_words(b);
                hash = fnv(hash, b.to_string().as_bytes());
                mark(running, hash, b, &mut out);
            }
        }
        _ => {}
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
        match m.get("content") {
            Some(Value::String(s)) => {
                running += words(s);
                hash = fnv(hash, s.as_bytes());
            }
            Some(Value::Array(blocks)) => {
                for b in blocks {
                    running += block_words(b);
                    hash = fnv(hash, b.to_string().as_bytes());
                    mark(running, hash, b, &mut out);
                }
            }
            _ => {}
        }
    }
    out.total = running + 3;
    out
}

/// Text of the last user message (its string content or text blocks).
fn last_user_text(messages: &[Value]) -> String {
    let Some(last) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    else {
        return String::new();
    };
    match last.get("content") {
        Some(Value::String(s)) => s.to_lowercase(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
        _ => String::new(),
    }
}

fn plan_tools(
    obj: &Map<String, Value>,
    tools: &[Value],
    messages: &[Value],
) -> Vec<(String, Value)> {
    if tools.is_empty() {
        return Vec::new();
    }
    let choice = obj.get("tool_choice");
    let choice_type = choice.and_then(|c| c.get("type")).and_then(Value::as_str);
    if choice_type == Some("none") {
        return Vec::new();
    }
    let text = last_user_text(messages);
    let forced = matches!(choice_type, Some("any" | "tool"));
    if !forced && !text.contains("use the tool") && !text.contains("use all the tools") {
        return Vec::new();
    }
    let parallel_off = choice
        .and_then(|c| c.get("disable_parallel_tool_use"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let named = choice
        .filter(|_| choice_type == Some("tool"))
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str);
    let all = text.contains("use all the tools") && !parallel_off;
    call_tools(tools, named, all, "tool", |t| t.get("input_schema"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn prompt_tokens_follow_the_documented_rule_and_find_the_cached_prefix() {
        let body = br#"{"model":"m","max_tokens":5,
            "tools":[{"name":"get_weather","description":"Get the weather","input_schema":{"type":"object"}}],
            "system":[{"type":"text","text":"be brief"},{"type":"text","text":"a long document here","cache_control":{"type":"ephemeral","ttl":"1h"}}],
            "messages":[{"role":"user","content":"hello there"},
                        {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"get_weather","input":{}}]},
                        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"sunny and warm"},{"type":"text","text":"thanks"}]}]}"#;
        let req = parse(body, true).unwrap();
        // tools 3+3, system 2+4, messages (3+2) + 3 + (3+3+1), priming 3.
        assert_eq!(req.tokens.total, 6 + 6 + 5 + 3 + 7 + 3);
        assert_eq!(req.tokens.cacheable, 12);
        assert!(req.tokens.ttl_1h);
        assert!(req.tool_uses.is_empty(), "no tool unless asked");
    }

    #[test]
    fn tools_are_used_when_asked_and_inputs_fill_required_fields() {
        let body = br#"{"model":"m","max_tokens":5,
            "tools":[{"name":"a","input_schema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}},
                     {"name":"b","input_schema":{"type":"object"}}],
            "messages":[{"role":"user","content":"Please use all the tools"}]}"#;
        let req = parse(body, true).unwrap();
        assert_eq!(
            req.tool_uses,
            vec![
                ("a".to_owned(), json!({"city": "lorem", "days": 1})),
                ("b".to_owned(), json!({}))
            ]
        );
        let one = br#"{"model":"m","max_tokens":5,"tools":[{"name":"a"},{"name":"b"}],
            "tool_choice":{"type":"tool","name":"b"},"messages":[{"role":"user","content":"hi"}]}"#;
        assert_eq!(parse(one, true).unwrap().tool_uses.len(), 1);
        assert_eq!(parse(one, true).unwrap().tool_uses[0].0, "b");
    }

    #[test]
    fn required_fields_are_checked() {
        assert!(
            parse(
                br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#,
                true
            )
            .is_err()
        );
        assert!(
            parse(
                br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#,
                false
            )
            .is_ok()
        );
        assert!(
            parse(
                br#"{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}"#,
                true
            )
            .is_err()
        );
        assert!(parse(br#"{"model":"m","max_tokens":1,"messages":[]}"#, true).is_err());
        assert!(parse(br#"{"model":"m","max_tokens":0,"messages":[{}]}"#, true).is_err());
        assert!(parse(b"nope", true).is_err());
    }
}

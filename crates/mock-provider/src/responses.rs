//! `POST /v1/responses`: OpenAI's Responses API with the same deterministic arithmetic as the
//! chat endpoint, whole (the Response object) or streamed (`responses_stream.rs`).
//!
//! Token rules (documented so tests elsewhere can predict them), counted as the chat endpoint
//! counts the chat request a gateway would translate this one into: `instructions` count as a
//! message; each input message, each `function_call_output`, and each run of assistant output
//! (an assistant message and the function calls after it) count 3 plus the words of their text
//! (reasoning items count nothing); a string `input` is one message; plus 3 for the whole
//! prompt. The answer is, in this order of precedence:
//! - one `function_call` per function tool called (`tool_choice` `required` or a named function,
//!   or the last user text containing "use the tool"; all tools when it says "use all the tools"
//!   and `parallel_tool_calls` is not false), each `TOOL_USE_TOKENS` (8) output tokens;
//! - with `text.format` `json_schema`, a JSON text valid against the schema (one token per 8
//!   bytes); `json_object`, `{"answer": "<words>"}` likewise;
//! - else `min(chunks, max_output_tokens)` words, one token each, as chat answers.
//!
//! An answer cut by `max_output_tokens` is `incomplete` (`max_output_tokens`).
//!
//! Usage details, deterministic so tests can check a gateway carries them:
//! - `output_tokens_details.reasoning_tokens`: with `reasoning.effort` `low`, `medium` or
//!   `high`, [`reasoning_tokens`] (8, 16, 32) tokens spent thinking, counted in `output_tokens`
//!   as OpenAI counts them (no reasoning item is emitted: summaries are off);
//! - `input_tokens_details.cached_tokens`: OpenAI's automatic prompt caching. A prompt of at
//!   least [`CACHE_MIN_TOKENS`] whose instructions and input were seen before reads its tokens
//!   from the cache in whole blocks of [`CACHE_BLOCK`]; the first such request writes it.

use serde_json::{Map, Value, json};

use crate::chat::{chunk_text, count_words as words};
use crate::error::ApiError;
use crate::messages_answer::TOOL_USE_TOKENS;
use crate::prompt::{FNV_OFFSET, call_tools, fnv};

/// Bytes of JSON text per output token.
const JSON_BYTES_PER_TOKEN: usize = 8;
/// Prompts shorter than this are never cached (OpenAI's threshold).
pub(crate) const CACHE_MIN_TOKENS: u64 = 1024;
/// Cached tokens come in whole blocks of this many.
pub(crate) const CACHE_BLOCK: u64 = 128;

/// Reasoning tokens a `reasoning.effort` spends.
pub(crate) fn reasoning_tokens(effort: Option<&str>) -> u64 {
    match effort {
        Some("low") => 8,
        Some("medium") => 16,
        Some("high") => 32,
        _ => 0,
    }
}

/// The cached share of a prompt of `input` tokens read from the cache.
pub(crate) fn cached_tokens(input: u64) -> u64 {
    if input < CACHE_MIN_TOKENS {
        0
    } else {
        input / CACHE_BLOCK * CACHE_BLOCK
    }
}

/// What a Responses request asks for, after validation.
pub(crate) struct ResponsesRequest {
    pub(crate) model: String,
    pub(crate) input_tokens: u64,
    pub(crate) max_output_tokens: Option<u64>,
    pub(crate) stream: bool,
    /// Function calls to answer with (name, arguments), empty for a text answer.
    pub(crate) calls: Vec<(String, Value)>,
    /// `text.format`: the JSON text to answer with.
    pub(crate) json: Option<String>,
    /// The request's settings a Response echoes.
    pub(crate) echo: Map<String, Value>,
    /// Spent thinking, from `reasoning.effort`.
    pub(crate) reasoning_tokens: u64,
    /// Identifies the prompt (instructions and input) for the prompt cache.
    pub(crate) prefix_hash: u64,
}

fn invalid(message: &str, param: &'static str, code: &'static str) -> ApiError {
    ApiError::invalid_request(message.to_owned(), Some(param), Some(code))
}

pub(crate) fn parse(body: &[u8]) -> Result<ResponsesRequest, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::from_json(&e))?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::invalid_request(
            "The request body must be a JSON object.",
            None,
            None,
        ));
    };
    let model = match obj.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => {
            return Err(invalid(
                "Missing required parameter: 'model'.",
                "model",
                "missing_required_parameter",
            ));
        }
    };
    let input = obj.get("input").filter(|i| !i.is_null());
    let (items, last_user) = match input {
        Some(Value::String(s)) => (words(s) + 3, Some(s.clone())),
        Some(Value::Array(items)) => count_items(items),
        Some(_) => {
            return Err(invalid(
                "Invalid type for 'input': expected a string or an array of input items.",
                "input",
                "invalid_type",
            ));
        }
        None => {
            return Err(invalid(
                "Missing required parameter: 'input'.",
                "input",
                "missing_required_parameter",
            ));
        }
    };
    let instructions = obj
        .get("instructions")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map_or(0, |s| words(s) + 3);
    let max_output_tokens = match obj.get("max_output_tokens") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => n.as_u64(),
        Some(_) => {
            return Err(invalid(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 1.",
                "max_output_tokens",
                "integer_below_min_value",
            ));
        }
    };
    let calls = plan_calls(obj, last_user.as_deref().unwrap_or(""));
    let json = match v.pointer("/text/format/type").and_then(Value::as_str) {
        Some("json_schema") => {
            let schema = v.pointer("/text/format/schema").unwrap_or(&Value::Null);
            Some(crate::schema::instance(schema, schema).to_string())
        }
        Some("json_object") => Some(json!({"answer": "lorem ipsum dolor"}).to_string()),
        _ => None,
    };
    let mut echo = Map::new();
    for key in [
        "instructions",
        "tools",
        "tool_choice",
        "text",
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "previous_response_id",
        "store",
        "metadata",
        "reasoning",
        "user",
        "truncation",
    ] {
        if let Some(v) = obj.get(key) {
            echo.insert(key.to_owned(), v.clone());
        }
    }
    let prompt = json!([obj.get("instructions"), input]).to_string();
    Ok(ResponsesRequest {
        model,
        input_tokens: instructions + items + 3,
        max_output_tokens,
        stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
        calls,
        json,
        echo,
        reasoning_tokens: reasoning_tokens(v.pointer("/reasoning/effort").and_then(Value::as_str)),
        prefix_hash: fnv(FNV_OFFSET, prompt.as_bytes()),
    })
}

/// Tokens of the input items, and the text of the last user message.
fn count_items(items: &[Value]) -> (u64, Option<String>) {
    let mut total = 0;
    let mut in_assistant = false;
    let mut last_user = None;
    for item in items {
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        match kind {
            "message" => {
                let text = content_text(item.get("content"));
                let assistant = item.get("role").and_then(Value::as_str) == Some("assistant");
                if item.get("role").and_then(Value::as_str) == Some("user") {
                    last_user = Some(text.clone());
                }
                total += 3 + words(&text);
                in_assistant = assistant;
            }
            // Function calls join the assistant message before them, or start one.
            "function_call" if !in_assistant => {
                total += 3;
                in_assistant = true;
            }
            "function_call_output" => {
                total += 3 + words(&content_text(item.get("output")));
                in_assistant = false;
            }
            _ => {}
        }
    }
    (total, last_user)
}

/// The text of a message's content (a string or parts with `text`) or a call's output.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The function calls the answer makes, as the Messages mock decides its tool uses.
fn plan_calls(obj: &Map<String, Value>, last_user: &str) -> Vec<(String, Value)> {
    let functions: Vec<&Value> = obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("function"))
        .collect();
    // A conversation whose last item is a tool's output is answered with text, as models do
    // (and as the chat mock does after a `tool` message), so a tool round trip ends.
    let after_output = obj
        .get("input")
        .and_then(Value::as_array)
        .and_then(|items| items.last())
        .and_then(|i| i.get("type"))
        .and_then(Value::as_str)
        == Some("function_call_output");
    if functions.is_empty() || after_output {
        return Vec::new();
    }
    let (forced, named) = match obj.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => return Vec::new(),
        Some(Value::String(s)) => (s == "required", None),
        Some(Value::Object(o)) => (true, o.get("name").and_then(Value::as_str)),
        _ => (false, None),
    };
    let text = last_user.to_ascii_lowercase();
    if !forced && !text.contains("use the tool") && !text.contains("use all the tools") {
        return Vec::new();
    }
    let parallel = obj.get("parallel_tool_calls").and_then(Value::as_bool) != Some(false);
    let all = named.is_none() && parallel && text.contains("use all the tools");
    call_tools(functions, named, all, "unnamed", |t| t.get("parameters"))
}

/// How the answer goes: its output pieces (one token each) or calls, and whether it was cut.
pub(crate) struct Answer {
    /// Text deltas; each is one output token.
    pub(crate) pieces: Vec<String>,
    /// (item id, call id, name, arguments JSON).
    pub(crate) calls: Vec<(String, String, String, String)>,
    pub(crate) incomplete: bool,
    /// Spent thinking before the answer (part of the output tokens).
    pub(crate) reasoning: u64,
    /// Of the input tokens, read from the prompt cache (set by the handler, which knows the
    /// cache).
    pub(crate) cached: u64,
}

impl Answer {
    pub(crate) fn new(chunks: usize, req: &ResponsesRequest, id: &str) -> Self {
        if !req.calls.is_empty() {
            let calls = req
                .calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    (
                        format!("fc_mock_{id}_{i}"),
                        format!("call_mock_{id}_{i}"),
                        name.clone(),
                        args.to_string(),
                    )
                })
                .collect();
            return Self {
                pieces: Vec::new(),
                calls,
                incomplete: false,
                reasoning: req.reasoning_tokens,
                cached: 0,
            };
        }
        let mut pieces: Vec<String> = match &req.json {
            Some(text) => json_pieces(text),
            None => (0..chunks)
                .map(|i| {
                    let (sep, word) = chunk_text(i);
                    format!("{sep}{word}")
                })
                .collect(),
        };
        let max = req.max_output_tokens.map_or(usize::MAX, |m| m as usize);
        let incomplete = pieces.len() > max;
        pieces.truncate(max);
        Self {
            pieces,
            calls: Vec::new(),
            incomplete,
            reasoning: req.reasoning_tokens,
            cached: 0,
        }
    }

    /// Every output token: what is shown and what was spent reasoning.
    pub(crate) fn output_tokens(&self) -> u64 {
        self.pieces.len() as u64 + self.calls.len() as u64 * TOOL_USE_TOKENS + self.reasoning
    }

    pub(crate) fn text(&self) -> String {
        self.pieces.concat()
    }
}

/// JSON text in pieces of at most [`JSON_BYTES_PER_TOKEN`] bytes, cut at char boundaries.
fn json_pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut piece = String::new();
    for c in text.chars() {
        if piece.len() + c.len_utf8() > JSON_BYTES_PER_TOKEN {
            out.push(std::mem::take(&mut piece));
        }
        piece.push(c);
    }
    if !piece.is_empty() {
        out.push(piece);
    }
    out
}

/// The answer's output items, in their final state.
pub(crate) fn output(answer: &Answer, id: &str) -> Vec<Value> {
    let status = if answer.incomplete {
        "incomplete"
    } else {
        "completed"
    };
    if answer.calls.is_empty() {
        return vec![message_item(id, status, &answer.text())];
    }
    answer
        .calls
        .iter()
        .map(|(item_id, call_id, name, args)| {
            json!({"id": item_id, "type": "function_call", "status": status,
                   "call_id": call_id, "name": name, "arguments": args})
        })
        .collect()
}

pub(crate) fn message_item(id: &str, status: &str, text: &str) -> Value {
    json!({"id": format!("msg_mock_{id}"), "type": "message", "status": status,
           "role": "assistant", "content": [output_text(text)]})
}

pub(crate) fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A Response's `usage`.
pub(crate) struct TokenUsage {
    pub(crate) input: u64,
    pub(crate) cached: u64,
    pub(crate) output: u64,
    pub(crate) reasoning: u64,
}

/// The Response object with every field OpenAI writes (`usage` null until the end).
pub(crate) fn response(
    req: &ResponsesRequest,
    id: &str,
    created_at: u64,
    status: &str,
    output: Vec<Value>,
    usage: Option<TokenUsage>,
) -> Value {
    let e = |k: &str, default: Value| req.echo.get(k).cloned().unwrap_or(default);
    let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
    json!({
        "id": format!("resp_mock_{id}"),
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": e("instructions", Value::Null),
        "max_output_tokens": req.max_output_tokens,
        "model": req.model,
        "output": output,
        "parallel_tool_calls": e("parallel_tool_calls", json!(true)),
        "previous_response_id": e("previous_response_id", Value::Null),
        "reasoning": e("reasoning", json!({"effort": null, "summary": null})),
        "service_tier": "default",
        "store": e("store", json!(true)),
        "temperature": e("temperature", json!(1.0)),
        "text": e("text", json!({"format": {"type": "text"}})),
        "tool_choice": e("tool_choice", json!("auto")),
        "tools": e("tools", json!([])),
        "top_p": e("top_p", json!(1.0)),
        "truncation": e("truncation", json!("disabled")),
        "usage": usage.map(|u| json!({
            "input_tokens": u.input,
            "input_tokens_details": {"cached_tokens": u.cached},
            "output_tokens": u.output,
            "output_tokens_details": {"reasoning_tokens": u.reasoning},
            "total_tokens": u.input + u.output,
        })),
        "user": e("user", Value::Null),
        "metadata": e("metadata", json!({})),
    })
}

/// The whole Response of a non-streamed answer.
pub(crate) fn body(req: &ResponsesRequest, answer: &Answer, id: &str, created_at: u64) -> Value {
    let status = if answer.incomplete {
        "incomplete"
    } else {
        "completed"
    };
    response(
        req,
        id,
        created_at,
        status,
        output(answer, id),
        Some(TokenUsage {
            input: req.input_tokens,
            cached: answer.cached,
            output: answer.output_tokens(),
            reasoning: answer.reasoning,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_tokens_follow_the_documented_rule() {
        let req = parse(br#"{"model":"m","instructions":"be brief","input":"hello there world"}"#)
            .unwrap();
        assert_eq!(req.input_tokens, (2 + 3) + (3 + 3) + 3);
        let req = parse(
            br#"{"model":"m","input":[
                {"role":"user","content":[{"type":"input_text","text":"weather in Rome"}]},
                {"type":"function_call","call_id":"c1","name":"w","arguments":"{}"},
                {"type":"function_call","call_id":"c2","name":"w","arguments":"{}"},
                {"type":"function_call_output","call_id":"c1","output":"rainy"},
                {"type":"reasoning","id":"rs_1","summary":[]}]}"#,
        )
        .unwrap();
        assert_eq!(req.input_tokens, (3 + 3) + 3 + (1 + 3) + 3);
    }

    #[test]
    fn the_answer_is_words_capped_by_max_output_tokens() {
        let req = parse(br#"{"model":"m","input":"x","max_output_tokens":4}"#).unwrap();
        let a = Answer::new(16, &req, "1");
        assert!(a.incomplete);
        assert_eq!(a.text(), "lorem ipsum dolor sit");
        assert_eq!(a.output_tokens(), 4);
        let v = body(&req, &a, "1", 5);
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(
            v["usage"]["total_tokens"],
            v["usage"]["input_tokens"].as_u64().unwrap() + 4
        );
    }

    #[test]
    fn function_tools_are_called_when_chat_would_call_them() {
        let tools = r#"[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},{"type":"function","name":"get_time"}]"#;
        let req = |extra: &str| {
            parse(format!(r#"{{"model":"m","tools":{tools},{extra}}}"#).as_bytes()).unwrap()
        };
        assert!(req(r#""input":"hi""#).calls.is_empty());
        let r = req(r#""input":"please use the tool""#);
        assert_eq!(
            r.calls,
            [("get_weather".to_owned(), json!({"city": "lorem"}))]
        );
        let r = req(r#""input":"use all the tools""#);
        assert_eq!(r.calls.len(), 2);
        let r = req(r#""input":"hi","tool_choice":{"type":"function","name":"get_time"}"#);
        assert_eq!(r.calls[0].0, "get_time");
        let r = req(r#""input":"use the tool","tool_choice":"none""#);
        assert!(r.calls.is_empty());
        let a = Answer::new(16, &req(r#""input":"hi","tool_choice":"required""#), "7");
        let out = output(&a, "7");
        assert_eq!(out[0]["type"], "function_call");
        assert_eq!(out[0]["arguments"], r#"{"city":"lorem"}"#);
        assert_eq!(a.output_tokens(), TOOL_USE_TOKENS);
    }

    #[test]
    fn a_json_schema_answer_is_json_of_that_shape() {
        let req = parse(br#"{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"r","strict":true,"schema":{"type":"object","properties":{"temperature_c":{"type":"number"},"sky":{"type":"string","enum":["clear","cloudy"]},"tags":{"type":"array","items":{"type":"string"}}},"required":["temperature_c","sky","tags"],"additionalProperties":false}}}}"#).unwrap();
        let a = Answer::new(16, &req, "1");
        let v: Value = serde_json::from_str(&a.text()).unwrap();
        assert!(v["temperature_c"].is_number());
        assert_eq!(v["sky"], "clear");
        assert!(v["tags"].is_array());
        assert_eq!(
            a.output_tokens() as usize,
            a.text().len().div_ceil(JSON_BYTES_PER_TOKEN)
        );
    }

    #[test]
    fn effort_spends_reasoning_tokens_inside_the_output() {
        let req = parse(br#"{"model":"m","input":"x","reasoning":{"effort":"medium"}}"#).unwrap();
        let mut a = Answer::new(4, &req, "1");
        a.cached = 0;
        assert_eq!(a.output_tokens(), 4 + 16);
        let v = body(&req, &a, "1", 5);
        assert_eq!(v["usage"]["output_tokens_details"]["reasoning_tokens"], 16);
        assert_eq!(v["usage"]["output_tokens"], 20);
        let plain = parse(br#"{"model":"m","input":"x"}"#).unwrap();
        assert_eq!(plain.reasoning_tokens, 0);
        assert_eq!(cached_tokens(1023), 0);
        assert_eq!(cached_tokens(1300), 1280);
        // The same prompt hashes the same; another does not.
        let again =
            parse(br#"{"model":"other","input":"x","reasoning":{"effort":"low"}}"#).unwrap();
        assert_eq!(again.prefix_hash, req.prefix_hash);
        let other = parse(br#"{"model":"m","input":"y"}"#).unwrap();
        assert_ne!(other.prefix_hash, req.prefix_hash);
    }

    #[test]
    fn missing_fields_and_bad_json_are_rejected() {
        assert!(parse(b"{not json").is_err());
        assert!(parse(br#"{"input":"x"}"#).is_err());
        assert!(parse(br#"{"model":"m"}"#).is_err());
        assert!(parse(br#"{"model":"m","input":5}"#).is_err());
        assert!(parse(br#"{"model":"m","input":"x","max_output_tokens":0}"#).is_err());
    }
}

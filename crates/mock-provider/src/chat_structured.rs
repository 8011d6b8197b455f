//! Chat answers with structure, as OpenAI gives them: JSON that follows the request's
//! `response_format` (`json_schema`: an instance of the schema; `json_object`: an object), and
//! tool calls when the request has tools and either `tool_choice` is `required` or names a
//! function, or the last user text says "use the tool" ("use all the tools": one call per tool,
//! unless `parallel_tool_calls` is false). A request whose last message is a tool result is
//! answered with text, so a two-turn tool conversation ends.
//!
//! Counting, as the Anthropic mock does: each tool call is [`TOOL_CALL_TOKENS`] output tokens; a
//! JSON answer is its whitespace-separated words (at least 1). The prompt is counted by the
//! plain chat rule. Only requests that mention `response_format` or `tools` are looked at
//! whole (`serde_json::Value`); the rest keep the plain path's cheap parse.

use memchr::memmem;
use serde_json::{Value, json};

use crate::chat::{ChatRequest, FINGERPRINT, Usage, count_words};

/// Output tokens per tool call.
pub(crate) const TOOL_CALL_TOKENS: u64 = 8;

/// What a structured answer holds.
pub(crate) enum Structured {
    Json(String),
    /// (call id, function name, arguments JSON).
    Calls(Vec<(String, String, String)>),
}

impl Structured {
    pub(crate) fn completion_tokens(&self) -> u64 {
        match self {
            Structured::Json(s) => count_words(s).max(1),
            Structured::Calls(c) => TOOL_CALL_TOKENS * c.len() as u64,
        }
    }

    fn finish_reason(&self) -> &'static str {
        match self {
            Structured::Json(_) => "stop",
            Structured::Calls(_) => "tool_calls",
        }
    }
}

/// The structured answer `body` asks for, if any.
pub(crate) fn plan(body: &[u8], id: &str) -> Option<Structured> {
    if memmem::find(body, b"\"response_format\"").is_none()
        && memmem::find(body, b"\"tools\"").is_none()
    {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    let messages = v.get("messages").and_then(Value::as_array)?;
    let after_tool = messages
        .last()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        == Some("tool");
    if let Some(calls) = tool_calls(&v, messages, id).filter(|c| !c.is_empty() && !after_tool) {
        return Some(Structured::Calls(calls));
    }
    let format = v.get("response_format")?;
    match format.get("type").and_then(Value::as_str)? {
        "json_schema" => {
            let schema = format
                .pointer("/json_schema/schema")
                .unwrap_or(&Value::Null);
            let instance = crate::schema::instance(schema, schema);
            Some(Structured::Json(instance.to_string()))
        }
        "json_object" => Some(Structured::Json(json!({"answer": "lorem"}).to_string())),
        _ => None,
    }
}

fn tool_calls(v: &Value, messages: &[Value], id: &str) -> Option<Vec<(String, String, String)>> {
    let tools = v.get("tools").and_then(Value::as_array)?;
    let choice = v.get("tool_choice");
    let named = choice
        .and_then(|c| c.pointer("/function/name"))
        .and_then(Value::as_str);
    let text = last_user_text(messages);
    let forced = named.is_some() || choice.and_then(Value::as_str) == Some("required");
    if choice.and_then(Value::as_str) == Some("none")
        || (!forced && !text.contains("use the tool") && !text.contains("use all the tools"))
    {
        return None;
    }
    let parallel = v.get("parallel_tool_calls").and_then(Value::as_bool) != Some(false);
    let all = parallel && text.contains("use all the tools");
    let functions = tools.iter().filter_map(|t| t.get("function"));
    let calls =
        crate::prompt::call_tools(functions, named, all, "unnamed", |f| f.get("parameters"));
    Some(
        calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, input))| (format!("call_{id}_{i}"), name, input.to_string()))
            .collect(),
    )
}

/// The text of the last user message (a string, or its text parts joined).
fn last_user_text(messages: &[Value]) -> String {
    let Some(m) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    else {
        return String::new();
    };
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn message(s: &Structured) -> Value {
    match s {
        Structured::Json(text) => json!({"role": "assistant", "content": text, "refusal": null}),
        Structured::Calls(calls) => json!({
            "role": "assistant",
            "content": null,
            "refusal": null,
            "tool_calls": calls.iter().map(|(id, name, args)| json!({
                "id": id, "type": "function", "function": {"name": name, "arguments": args}
            })).collect::<Vec<_>>(),
        }),
    }
}

/// The whole `chat.completion`.
pub(crate) fn completion(id: &str, created: u64, req: &ChatRequest<'_>, s: &Structured) -> Value {
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": created,
        "model": &*req.model,
        "choices": [{"index": 0, "message": message(s), "logprobs": null, "finish_reason": s.finish_reason()}],
        "usage": Usage::new(req.prompt_tokens, s.completion_tokens()),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    })
}

/// The stream: the role, the content or the calls in one delta each, the finish reason, the
/// usage chunk when asked for, `[DONE]`.
pub(crate) fn stream_body(id: &str, created: u64, req: &ChatRequest<'_>, s: &Structured) -> String {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": format!("chatcmpl-{id}"),
            "object": "chat.completion.chunk",
            "created": created,
            "model": &*req.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    match s {
        Structured::Json(text) => events.push(chunk(json!({"content": text}), Value::Null)),
        Structured::Calls(calls) => {
            for (i, (cid, name, args)) in calls.iter().enumerate() {
                events.push(chunk(
                    json!({"tool_calls": [{"index": i, "id": cid, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                ));
                events.push(chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": args}}]}),
                    Value::Null,
                ));
            }
        }
    }
    events.push(chunk(json!({}), json!(s.finish_reason())));
    if req.include_usage {
        let mut usage = chunk(json!({}), Value::Null);
        usage["choices"] = json!([]);
        usage["usage"] = json!(Usage::new(req.prompt_tokens, s.completion_tokens()));
        events.push(usage);
    }
    let mut out = String::new();
    for e in events {
        out.push_str("data: ");
        out.push_str(&e.to_string());
        out.push_str("\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_gets_an_instance_and_required_tools_get_calls() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"x"}],
            "response_format":{"type":"json_schema","json_schema":{"name":"w","schema":
            {"type":"object","properties":{"city":{"type":"string"},"t":{"type":"number"}},
            "required":["city","t"]}}}}"#;
        let Some(Structured::Json(text)) = plan(body, "1") else {
            panic!()
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v["city"].is_string() && v["t"].is_number(), "{v}");

        let body =
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required",
            "tools":[{"type":"function","function":{"name":"get_weather","parameters":
            {"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}"#;
        let Some(Structured::Calls(calls)) = plan(body, "1") else {
            panic!()
        };
        assert_eq!(calls[0].1, "get_weather");
        let args: Value = serde_json::from_str(&calls[0].2).unwrap();
        assert!(args["city"].is_string());
    }

    #[test]
    fn a_tool_result_is_answered_with_text_and_plain_requests_are_left_alone() {
        let body = br#"{"model":"m","tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}],
            "messages":[{"role":"user","content":"use the tool"},{"role":"tool","tool_call_id":"c","content":"ok"}]}"#;
        assert!(plan(body, "1").is_none());
        assert!(
            plan(
                br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
                "1"
            )
            .is_none()
        );
    }
}

//! Properties: OpenAI → Anthropic → OpenAI keeps the meaning of a conversation (roles, texts,
//! tool calls and results, tool definitions); Anthropic bodies survive a parse/serialise round
//! trip whole (unknown fields, unknown block types).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::anthropic::{MessagesRequest, MessagesResponse, StreamEvent};

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.?!\"\\\\\n]{1,24}"
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_]{1,12}"
}

#[derive(Clone, Debug)]
enum Turn {
    User(Vec<String>),
    Assistant(String),
    /// Parallel calls (name, argument text), answered by one tool message each, then maybe a
    /// user follow-up.
    Tools(Vec<(String, String)>, Vec<String>, Option<String>),
}

fn turn() -> impl Strategy<Value = Turn> {
    prop_oneof![
        prop::collection::vec(text(), 1..3).prop_map(Turn::User),
        text().prop_map(Turn::Assistant),
        (
            prop::collection::vec((name(), text()), 1..4),
            prop::collection::vec(text(), 4),
            prop::option::of(text()),
        )
            .prop_map(|(calls, results, follow)| Turn::Tools(calls, results, follow)),
    ]
}

fn build(system: Option<String>, turns: &[Turn], tools: &[(String, String)]) -> ChatRequest {
    let mut messages = Vec::new();
    if let Some(s) = system {
        messages.push(json!({"role": "system", "content": s}));
    }
    let mut id = 0;
    for t in turns {
        match t {
            Turn::User(parts) if parts.len() == 1 => {
                messages.push(json!({"role": "user", "content": parts[0]}));
            }
            Turn::User(parts) => messages.push(json!({"role": "user", "content":
                parts.iter().map(|p| json!({"type": "text", "text": p})).collect::<Vec<_>>()})),
            Turn::Assistant(s) => messages.push(json!({"role": "assistant", "content": s})),
            Turn::Tools(calls, results, follow) => {
                let first = id;
                let calls: Vec<Value> = calls
                    .iter()
                    .map(|(n, arg)| {
                        id += 1;
                        json!({"id": format!("call_{id}"), "type": "function", "function":
                            {"name": n, "arguments": json!({"q": arg}).to_string()}})
                    })
                    .collect();
                let n = calls.len();
                messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
                for (k, r) in results.iter().take(n).enumerate() {
                    messages.push(json!({"role": "tool", "tool_call_id":
                        format!("call_{}", first + k + 1), "content": r}));
                }
                if let Some(f) = follow {
                    messages.push(json!({"role": "user", "content": f}));
                }
            }
        }
    }
    let tools: Vec<Value> = tools
        .iter()
        .map(|(n, d)| {
            json!({"type": "function", "function": {"name": n, "description": d,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}})
        })
        .collect();
    let mut body = json!({"model": "gpt-4o", "messages": messages});
    if !tools.is_empty() {
        body["tools"] = json!(tools);
    }
    serde_json::from_value(body).unwrap()
}

/// What a conversation means: per message, role, texts, tool calls (id, name, parsed args) and
/// the tool call answered.
fn meaning(req: &ChatRequest) -> Vec<Value> {
    req.messages
        .iter()
        .map(|m| {
            let texts: Vec<String> = match &m.content {
                None => vec![],
                Some(ChatContent::Text(s)) if s.is_empty() => vec![],
                Some(ChatContent::Text(s)) => vec![s.clone()],
                Some(ChatContent::Parts(ps)) => ps
                    .iter()
                    .map(|p| match p {
                        ContentPart::Text(t) => t.text.clone(),
                        other => format!("{other:?}"),
                    })
                    .collect(),
            };
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .flatten()
                .map(|c| {
                    let args: Value = serde_json::from_str(&c.function.arguments).unwrap();
                    json!([c.id, c.function.name, args])
                })
                .collect();
            json!({"role": m.role, "texts": texts, "calls": calls, "answers": m.tool_call_id})
        })
        .collect()
}

fn tool_meaning(req: &ChatRequest) -> Vec<Value> {
    req.tools
        .iter()
        .flatten()
        .map(|t| {
            json!([
                t.function.name,
                t.function.description,
                t.function.parameters
            ])
        })
        .collect()
}

proptest! {
    #[test]
    fn openai_to_anthropic_and_back_keeps_the_conversation(
        system in prop::option::of(text()),
        turns in prop::collection::vec(turn(), 1..8),
        tools in prop::collection::vec((name(), text()), 0..3),
    ) {
        let original = build(system, &turns, &tools);
        let there = openai_to_anthropic_request(original.clone(), "claude").unwrap();
        prop_assert!(there.warnings.is_empty(), "{:?}", there.warnings);
        // What goes to Anthropic is valid by its model, serialised and read back.
        let wire = serde_json::to_string(&there.request).unwrap();
        let read: MessagesRequest = serde_json::from_str(&wire).unwrap();
        let back = anthropic_to_openai_request(read, "gpt-4o").unwrap();
        prop_assert!(back.warnings.is_empty(), "{:?}", back.warnings);
        prop_assert_eq!(meaning(&back.request), meaning(&original));
        prop_assert_eq!(tool_meaning(&back.request), tool_meaning(&original));
    }
}

#[test]
fn anthropic_bodies_round_trip_whole_with_unknown_fields_and_blocks() {
    let req = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 10, "service_tier": "auto",
        "container": {"id": "c1"},
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi", "citations": [{"type": "char_location"}]},
            {"type": "search_result", "source": "https://x", "title": "t", "content": []},
            {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"},
             "title": "T", "cache_control": {"type": "ephemeral", "ttl": "5m"}}
        ], "future_field": 1}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        "thinking": {"type": "adaptive_future"}
    });
    let typed: MessagesRequest = serde_json::from_value(req.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), req);

    let resp = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                     "input": {"query": "q"}}],
        "stop_reason": "pause_turn", "stop_sequence": null, "container": null,
        "usage": {"input_tokens": 1, "output_tokens": 2, "server_tool_use": {"web_search_requests": 1}}});
    let typed: MessagesResponse = serde_json::from_value(resp.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), resp);

    let ev = json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "citations_delta", "citation": {"type": "char_location"}}});
    let typed: StreamEvent = serde_json::from_value(ev.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), ev);
}

#[test]
fn what_anthropic_cannot_do_is_a_clear_error() {
    let req = |extra: Value| -> ChatRequest {
        let mut body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(body).unwrap()
    };
    let err = |extra| openai_to_anthropic_request(req(extra), "claude").unwrap_err();
    assert_eq!(err(json!({"n": 2})).param(), Some("n"));
    assert_eq!(
        err(json!({"response_format": {"type": "json_object"},
            "tools": [{"type": "function", "function": {"name": "f"}}]}))
        .param(),
        Some("response_format")
    );
    assert_eq!(
        err(json!({"response_format": {"type": "json_object"}, "reasoning_effort": "high"}))
            .param(),
        Some("response_format")
    );
    assert_eq!(
        err(json!({"tool_choice": "sometimes",
        "tools": [{"type": "function", "function": {"name": "f"}}]}))
        .param(),
        Some("tool_choice")
    );
    let bad_args = json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type":
        "function", "function": {"name": "f", "arguments": "[1]"}}]}]});
    assert!(openai_to_anthropic_request(req(bad_args), "claude").is_err());
    // n = 1 and json_object alone are fine.
    let ok = openai_to_anthropic_request(
        req(json!({"n": 1, "response_format": {"type": "json_object"}})),
        "claude",
    )
    .unwrap();
    assert_eq!(ok.json_tool.as_deref(), Some(JSON_OBJECT_TOOL));
}

#[test]
fn a_small_max_tokens_leaves_thinking_off_with_a_warning() {
    let req: ChatRequest = serde_json::from_value(json!({"model": "o3", "max_tokens": 500,
        "reasoning_effort": "high", "messages": [{"role": "user", "content": "x"}]}))
    .unwrap();
    let t = openai_to_anthropic_request(req, "claude").unwrap();
    assert_eq!(t.request.max_tokens, 500);
    assert!(t.request.thinking.is_none());
    assert_eq!(t.warnings[0].field, "reasoning_effort");
    // A budget never reaches max_tokens.
    let req: ChatRequest = serde_json::from_value(json!({"model": "o3", "max_tokens": 2000,
        "reasoning_effort": "high", "messages": [{"role": "user", "content": "x"}]}))
    .unwrap();
    let t = openai_to_anthropic_request(req, "claude").unwrap();
    assert_eq!(
        t.request.thinking,
        Some(crate::anthropic::Thinking::Enabled {
            budget_tokens: 1999
        })
    );
}

#[test]
fn from_json_gives_client_facing_errors() {
    assert!(from_json::<MessagesRequest>(br#"{"model":"m","max_tokens":1,"messages":[]}"#).is_ok());
    assert_eq!(
        from_json::<ChatRequest>(b"[1]").unwrap_err(),
        crate::FormatError::NotAnObject
    );
    assert!(matches!(
        from_json::<MessagesRequest>(br#"{"model":"m"}"#),
        Err(crate::FormatError::InvalidJson(_))
    ));
}

#[test]
fn thinking_is_left_off_where_anthropic_would_refuse_it() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let forced: ChatRequest = serde_json::from_value(json!({"model": "o3",
        "reasoning_effort": "low", "tools": tools, "tool_choice": "required",
        "messages": [{"role": "user", "content": "x"}]}))
    .unwrap();
    let t = openai_to_anthropic_request(forced, "claude").unwrap();
    assert!(t.request.thinking.is_none());
    assert_eq!(t.request.max_tokens, DEFAULT_MAX_TOKENS);
    assert_eq!(t.warnings[0].field, "reasoning_effort");

    let looping: ChatRequest = serde_json::from_value(json!({"model": "o3",
        "reasoning_effort": "low", "tools": tools,
        "messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "done"}]}))
    .unwrap();
    let t = openai_to_anthropic_request(looping, "claude").unwrap();
    assert!(t.request.thinking.is_none());
    assert_eq!(t.warnings.len(), 1);
}

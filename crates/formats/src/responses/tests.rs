//! The Responses request and non-streamed response translations: conversation shape, tools,
//! formats, refusals, echoed settings, usage; and that no request body makes them panic.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::FormatError;
use crate::translate::{ChatCompletion, ChatRequest, from_json};

pub(super) fn req(v: Value) -> ResponsesRequest {
    serde_json::from_value(v).unwrap()
}

fn chat(v: Value) -> (Value, Vec<String>) {
    let t = responses_to_chat_request(req(v), &[]).unwrap();
    let fields = t.warnings.iter().map(|w| w.field.to_string()).collect();
    (serde_json::to_value(&t.value).unwrap(), fields)
}

#[test]
fn a_string_input_becomes_a_user_message_after_the_instructions() {
    let (c, w) = chat(json!({"model": "gpt-4o", "input": "Hi there",
        "instructions": "Be brief.", "store": false, "metadata": {"k": "v"}}));
    assert_eq!(
        c,
        json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi there"}]})
    );
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn a_function_call_round_trip_becomes_tool_calls_and_tool_messages() {
    let history = vec![
        serde_json::from_value::<Item>(
            json!({"role": "user", "content": "Weather in Paris and Rome?"}),
        )
        .unwrap(),
        serde_json::from_value(json!({"type": "reasoning", "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "two cities"}]}))
        .unwrap(),
        serde_json::from_value(
            json!({"type": "message", "id": "msg_1", "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]}),
        )
        .unwrap(),
        serde_json::from_value(
            json!({"type": "function_call", "id": "fc_1", "call_id": "call_a",
            "name": "weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"}),
        )
        .unwrap(),
        serde_json::from_value(
            json!({"type": "function_call", "id": "fc_2", "call_id": "call_b",
            "name": "weather", "arguments": "{\"city\":\"Rome\"}"}),
        )
        .unwrap(),
    ];
    let r = req(
        json!({"model": "gpt-4o", "previous_response_id": "resp_prev", "input": [
            {"type": "function_call_output", "call_id": "call_a", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_b",
                "output": [{"type": "input_text", "text": "21C"}]},
            {"role": "developer", "content": [{"type": "input_text", "text": "Answer in French."}]}
        ]}),
    );
    let t = responses_to_chat_request(r, &history).unwrap();
    assert_eq!(
        serde_json::to_value(&t.value.messages).unwrap(),
        json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_a", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}]},
            {"role": "tool", "content": "18C", "tool_call_id": "call_a"},
            {"role": "tool", "content": "21C", "tool_call_id": "call_b"},
            {"role": "developer", "content": "Answer in French."}
        ])
    );
    let fields: Vec<_> = t.warnings.iter().map(|w| w.field.to_string()).collect();
    assert_eq!(fields, ["history[1]"]);
}

#[test]
fn function_calls_without_a_message_make_a_contentless_assistant_turn() {
    let (c, _) = chat(json!({"model": "m", "input": [
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": "thanks"}]}));
    let roles: Vec<_> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "user"]);
    assert_eq!(c["messages"][1]["content"], Value::Null);
    assert_eq!(c["messages"][3]["content"], "done");
}

#[test]
fn images_become_image_url_parts_and_file_ids_are_reported() {
    let (c, w) = chat(json!({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
        {"type": "input_image", "file_id": "file-123", "detail": "auto"}]}]}));
    assert_eq!(
        c["messages"][0]["content"],
        json!([{"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}])
    );
    assert_eq!(w, ["input[0].content[2].file_id"]);
}

#[test]
fn a_json_schema_format_becomes_response_format() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}},
        "required": ["a"], "additionalProperties": false});
    let (c, w) = chat(json!({"model": "m", "input": "x", "text": {"format": {
        "type": "json_schema", "name": "answer", "schema": schema, "strict": true}}}));
    assert_eq!(
        c["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema,
            "strict": true}})
    );
    assert!(w.is_empty());
    let (c, _) = chat(json!({"model": "m", "input": "x",
        "text": {"format": {"type": "json_schema", "schema": {}}}}));
    assert_eq!(
        c["response_format"]["json_schema"]["name"],
        DEFAULT_SCHEMA_NAME
    );
    let (c, _) =
        chat(json!({"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}}));
    assert_eq!(c["response_format"], json!({"type": "json_object"}));
    let (c, _) = chat(json!({"model": "m", "input": "x", "text": {"format": {"type": "text"}}}));
    assert_eq!(c.get("response_format"), None);
}

#[test]
fn built_in_tools_are_refused_by_name() {
    let r = req(json!({"model": "m", "input": "news?", "tools": [
        {"type": "function", "name": "f", "parameters": {"type": "object"}},
        {"type": "web_search_preview"}]}));
    let e = responses_to_chat_request(r, &[]).unwrap_err();
    assert!(e.to_string().contains("web_search_preview"), "{e}");
    assert_eq!(e.param(), Some("tools"));
    assert_eq!(e.code(), Some("invalid_value"));
    for kind in [
        "file_search",
        "code_interpreter",
        "mcp",
        "image_generation",
        "computer_use_preview",
    ] {
        let r = req(json!({"model": "m", "input": "x", "tools": [{"type": kind}]}));
        let e = responses_to_chat_request(r, &[]).unwrap_err();
        assert!(e.to_string().contains(kind), "{e}");
    }
    let r = req(json!({"model": "m", "input": "x", "tools": [{"type": "brand_new_tool"}]}));
    assert!(responses_to_chat_request(r, &[]).is_err());
}

#[test]
fn function_tools_and_tool_choice_are_carried() {
    let (c, w) = chat(
        json!({"model": "m", "input": "x", "parallel_tool_calls": false,
        "tools": [{"type": "function", "name": "get", "description": "d",
            "parameters": {"type": "object", "properties": {}}, "strict": true}],
        "tool_choice": {"type": "function", "name": "get"}}),
    );
    assert_eq!(
        c["tools"],
        json!([{"type": "function", "function": {"name": "get", "description": "d",
            "parameters": {"type": "object", "properties": {}}, "strict": true}}])
    );
    assert_eq!(
        c["tool_choice"],
        json!({"type": "function", "function": {"name": "get"}})
    );
    assert_eq!(c["parallel_tool_calls"], false);
    assert!(w.is_empty());
    // Without tools, chat servers refuse `tool_choice` and `parallel_tool_calls`.
    let (c, w) = chat(json!({"model": "m", "input": "x", "tool_choice": "auto",
        "parallel_tool_calls": true}));
    assert_eq!(c.get("tool_choice"), None);
    assert_eq!(c.get("parallel_tool_calls"), None);
    assert!(w.is_empty());
}

#[test]
fn reasoning_effort_limits_and_streaming_are_carried() {
    let (c, w) = chat(json!({"model": "o4-mini", "input": "x", "stream": true,
        "reasoning": {"effort": "high", "summary": "auto"}, "max_output_tokens": 300,
        "temperature": 0.5, "top_p": 0.9, "user": "u1", "store": false,
        "include": ["reasoning.encrypted_content"], "truncation": "disabled",
        "prompt_cache_key": "k", "seed": 3}));
    assert_eq!(c["reasoning_effort"], "high");
    assert_eq!(c["max_completion_tokens"], 300);
    assert_eq!(c["temperature"], 0.5);
    assert_eq!(c["top_p"], 0.9);
    assert_eq!(c["user"], "u1");
    assert_eq!(c["stream"], true);
    assert_eq!(c["stream_options"], json!({"include_usage": true}));
    assert_eq!(c["prompt_cache_key"], "k");
    for gone in [
        "store",
        "include",
        "truncation",
        "reasoning",
        "seed",
        "metadata",
    ] {
        assert_eq!(c.get(gone), None, "{gone}");
    }
    assert_eq!(w, ["include[0]", "seed"]);
}

#[test]
fn what_needs_server_state_is_refused() {
    for (body, param) in [
        (
            json!({"model": "m", "input": "x", "background": true}),
            "background",
        ),
        (
            json!({"model": "m", "input": "x", "conversation": "conv_1"}),
            "conversation",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input",
        ),
        (json!({"model": "m", "input": []}), "input"),
        (json!({"model": "", "input": "x"}), "model"),
    ] {
        let e = responses_to_chat_request(req(body), &[]).unwrap_err();
        assert_eq!(e.param(), Some(param), "{e}");
    }
}

#[test]
fn malformed_bodies_are_client_errors() {
    assert!(matches!(
        from_json::<ResponsesRequest>(br#"{"model":"m","input":[{"role":"user"}]}"#),
        Err(FormatError::InvalidJson(_))
    ));
    assert!(from_json::<ResponsesRequest>(br#"{"model":"m","input":7}"#).is_err());
    assert!(from_json::<ResponsesRequest>(br#"{"model":"m","input":[{"type":3}]}"#).is_err());
    let ok = from_json::<ResponsesRequest>(
        br#"{"model":"m","input":[{"type":"web_search_call","id":"ws"}]}"#,
    )
    .unwrap();
    let t = responses_to_chat_request(ok, &[]);
    // Only an unknown item: nothing left to send.
    assert!(t.is_err());
}

pub(super) fn completion(message: Value, finish: &str) -> ChatCompletion {
    serde_json::from_value(json!({"id": "chatcmpl-1", "object": "chat.completion",
        "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2}}}))
    .unwrap()
}

#[test]
fn a_completion_becomes_a_response_with_items_and_usage() {
    let r = req(
        json!({"model": "gpt-4o-mini", "input": "x", "instructions": "i",
        "metadata": {"team": "a"}, "temperature": 0.2}),
    );
    let c = completion(
        json!({"role": "assistant", "content": "Let me check.", "reasoning_content": "hmm",
            "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\":1}"}}]}),
        "tool_calls",
    );
    let t = chat_to_responses_response(c, &r, "resp_abc", 1_700_000_000).unwrap();
    assert!(t.warnings.is_empty());
    let v = serde_json::to_value(&t.value).unwrap();
    assert_eq!(v["id"], "resp_abc");
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["instructions"], "i");
    assert_eq!(v["metadata"], json!({"team": "a"}));
    assert_eq!(v["temperature"], 0.2);
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["incomplete_details"], Value::Null);
    assert_eq!(
        v["output"],
        json!([
            {"type": "reasoning", "id": "rs_abc_0",
                "summary": [{"type": "summary_text", "text": "hmm"}]},
            {"type": "message", "id": "msg_abc_1", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}]},
            {"type": "function_call", "id": "fc_abc_2", "call_id": "call_1", "name": "f",
                "arguments": "{\"a\":1}", "status": "completed"}
        ])
    );
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2},
            "total_tokens": 17})
    );
}

#[test]
fn length_and_content_filter_make_an_incomplete_response() {
    let r = req(json!({"model": "m", "input": "x", "max_output_tokens": 5}));
    for (finish, reason) in [
        ("length", "max_output_tokens"),
        ("content_filter", "content_filter"),
    ] {
        let c = completion(json!({"role": "assistant", "content": "partial"}), finish);
        let v = serde_json::to_value(
            chat_to_responses_response(c, &r, "resp_1", 0)
                .unwrap()
                .value,
        )
        .unwrap();
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"], json!({"reason": reason}));
        assert_eq!(v["output"][0]["status"], "incomplete");
        assert_eq!(v["max_output_tokens"], 5);
    }
}

#[test]
fn response_output_items_parse_back_as_history() {
    let r = req(json!({"model": "m", "input": "x"}));
    let c = completion(
        json!({"role": "assistant", "content": "a", "tool_calls": [{"id": "call_1",
            "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
        "tool_calls",
    );
    let resp = chat_to_responses_response(c, &r, "resp_1", 0)
        .unwrap()
        .value;
    let text = serde_json::to_string(&resp).unwrap();
    let back: Response = serde_json::from_str(&text).unwrap();
    assert_eq!(back, resp);
    let next = req(json!({"model": "m", "input": [
        {"type": "function_call_output", "call_id": "call_1", "output": "r"}]}));
    let t = responses_to_chat_request(next, &resp.output).unwrap();
    let roles: Vec<_> = t
        .value
        .messages
        .iter()
        .map(|m| format!("{:?}", m.role))
        .collect();
    assert_eq!(roles, ["Assistant", "Tool"]);
    assert!(t.warnings.is_empty());
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z_]{0,8}".prop_map(Value::String),
        prop::sample::select(vec![
            "message",
            "function_call",
            "function_call_output",
            "reasoning",
            "input_text",
            "input_image",
            "output_text",
            "function",
            "web_search",
            "json_schema",
            "user",
            "assistant",
            "developer",
            "system",
            "auto",
            "item_reference",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "type",
                    "role",
                    "content",
                    "text",
                    "call_id",
                    "name",
                    "arguments",
                    "output",
                    "image_url",
                    "summary",
                    "format",
                    "schema",
                    "tools",
                    "input",
                    "model",
                ]),
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_bytes_into_the_request_parser_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(r) = from_json::<ResponsesRequest>(&bytes) {
            let _ = responses_to_chat_request(r, &[]);
        }
    }

    #[test]
    fn any_shaped_request_translates_or_is_refused(input in arb_json(), tools in arb_json(), text in arb_json()) {
        let body = json!({"model": "m", "input": input, "tools": tools, "text": {"format": text}});
        if let Ok(r) = from_json::<ResponsesRequest>(body.to_string().as_bytes()) {
            let history = match &r.input { Input::Items(items) => items.clone(), Input::Text(_) => vec![] };
            if let Ok(t) = responses_to_chat_request(r, &history) {
                let v = serde_json::to_value(&t.value).unwrap();
                let back: ChatRequest = serde_json::from_value(v).unwrap();
                prop_assert_eq!(back.messages.len(), t.value.messages.len());
            }
        }
    }

}

#[test]
fn a_function_tool_without_a_name_is_a_missing_parameter_not_a_built_in_tool() {
    let r = from_json::<ResponsesRequest>(
        br#"{"model":"m","input":"x","tools":[{"type":"function","name":"ok"},{"type":"function"}]}"#,
    )
    .unwrap();
    let e = responses_to_chat_request(r, &[]).unwrap_err();
    assert_eq!(e.param(), Some("tools[1].name"));
}

//! The Responses translations: requests into chat requests (conversation shape, tools, formats,
//! refusals), chat completions into Responses, and chat streams into the documented event
//! sequence, ending with the same Response the non-streamed translation gives.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::FormatError;
use crate::translate::{ChatChunk, ChatCompletion, ChatRequest, from_json};

fn req(v: Value) -> ResponsesRequest {
    serde_json::from_value(v).unwrap()
}

fn chat(v: Value) -> (Value, Vec<String>) {
    let t = responses_to_chat_request(req(v), &[]).unwrap();
    let fields = t.warnings.iter().map(|w| w.field.to_string()).collect();
    (serde_json::to_value(&t.value).unwrap(), fields)
}

fn chunk(v: Value) -> ChatChunk {
    let mut v = v;
    v["id"] = json!("chatcmpl-1");
    v["object"] = json!("chat.completion.chunk");
    v["created"] = json!(1);
    v["model"] = json!("gpt-4o-mini");
    serde_json::from_value(v).unwrap()
}

fn delta(d: Value) -> ChatChunk {
    chunk(json!({"choices": [{"index": 0, "delta": d, "finish_reason": null}]}))
}

fn finish(reason: &str) -> ChatChunk {
    chunk(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}))
}

fn usage() -> ChatChunk {
    chunk(
        json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5,
        "total_tokens": 17, "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2}}}),
    )
}

fn run(r: &ResponsesRequest, chunks: Vec<ChatChunk>) -> Vec<ResponsesStreamEvent> {
    let mut s = ChatToResponsesStream::new(r, "resp_abc", 1_700_000_000);
    let mut out = Vec::new();
    for c in chunks {
        s.push(c, &mut out);
    }
    s.finish(&mut out);
    out
}

fn kinds(events: &[ResponsesStreamEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.body.kind()).collect()
}

/// Sequence numbers are 0, 1, 2, ... and exactly the last event ends the stream.
fn check_framing(events: &[ResponsesStreamEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.sequence_number, i as u64);
        assert_eq!(e.body.final_response().is_some(), i + 1 == events.len());
    }
    assert_eq!(events[0].body.kind(), "response.created");
    assert_eq!(events[1].body.kind(), "response.in_progress");
}

fn last_response(events: &[ResponsesStreamEvent]) -> Response {
    events
        .last()
        .unwrap()
        .body
        .final_response()
        .unwrap()
        .clone()
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

fn completion(message: Value, finish: &str) -> ChatCompletion {
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
fn a_streamed_answer_follows_the_documented_sequence_and_ends_with_the_same_response() {
    let r = req(json!({"model": "gpt-4o-mini", "input": "x", "stream": true}));
    let events = run(
        &r,
        vec![
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"reasoning_content": "hm"})),
            delta(json!({"reasoning_content": "m"})),
            delta(json!({"content": "Let me "})),
            delta(json!({"content": "check."})),
            finish("stop"),
            usage(),
        ],
    );
    check_framing(&events);
    assert_eq!(
        kinds(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let created = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(created["response"]["status"], "in_progress");
    assert_eq!(created["response"]["output"], json!([]));
    let added = serde_json::to_value(&events[9]).unwrap();
    assert_eq!(
        added["item"],
        json!({"type": "message", "id": "msg_abc_1", "role": "assistant",
            "status": "in_progress", "content": []})
    );
    let text_done = serde_json::to_value(&events[13]).unwrap();
    assert_eq!(text_done["text"], "Let me check.");
    assert_eq!(text_done["item_id"], "msg_abc_1");
    assert_eq!(text_done["output_index"], 1);
    assert_eq!(text_done["content_index"], 0);

    let c = completion(
        json!({"role": "assistant", "content": "Let me check.", "reasoning_content": "hmm"}),
        "stop",
    );
    let expected = chat_to_responses_response(c, &r, "resp_abc", 1_700_000_000)
        .unwrap()
        .value;
    assert_eq!(last_response(&events), expected);
}

#[test]
fn parallel_tool_calls_stream_as_separate_items_even_interleaved() {
    let r = req(json!({"model": "gpt-4o-mini", "input": "x"}));
    let call = |i: u32, id: Option<&str>, name: Option<&str>, args: &str| {
        let mut f = json!({"arguments": args});
        if let Some(n) = name {
            f["name"] = json!(n);
        }
        let mut tc = json!({"index": i, "function": f});
        if let Some(id) = id {
            tc["id"] = json!(id);
            tc["type"] = json!("function");
        }
        delta(json!({"tool_calls": [tc]}))
    };
    let events = run(
        &r,
        vec![
            call(0, Some("call_a"), Some("weather"), ""),
            call(1, Some("call_b"), Some("time"), "{\"tz\":"),
            call(0, None, None, "{\"city\":"),
            call(1, None, None, "\"CET\"}"),
            call(0, None, None, "\"Paris\"}"),
            finish("tool_calls"),
            usage(),
        ],
    );
    check_framing(&events);
    assert_eq!(
        kinds(&events)[2..],
        [
            "response.output_item.added",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let done = serde_json::to_value(&events[8]).unwrap();
    assert_eq!(done["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(done["item_id"], "fc_abc_0");
    let done = serde_json::to_value(&events[10]).unwrap();
    assert_eq!(done["arguments"], "{\"tz\":\"CET\"}");
    let c = completion(
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function",
                "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_b", "type": "function",
                "function": {"name": "time", "arguments": "{\"tz\":\"CET\"}"}}]}),
        "tool_calls",
    );
    let expected = chat_to_responses_response(c, &r, "resp_abc", 1_700_000_000)
        .unwrap()
        .value;
    assert_eq!(last_response(&events), expected);
}

#[test]
fn a_length_cut_stream_ends_with_response_incomplete() {
    let r = req(json!({"model": "m", "input": "x", "max_output_tokens": 16}));
    let events = run(
        &r,
        vec![
            delta(json!({"content": "Once upon"})),
            finish("length"),
            usage(),
        ],
    );
    check_framing(&events);
    assert_eq!(events.last().unwrap().body.kind(), "response.incomplete");
    let last = last_response(&events);
    assert_eq!(last.status, ResponseStatus::Incomplete);
    assert_eq!(
        last.incomplete_details,
        Some(IncompleteDetails {
            reason: "max_output_tokens".to_owned()
        })
    );
    let item_done = serde_json::to_value(&events[events.len() - 2]).unwrap();
    assert_eq!(item_done["item"]["status"], "incomplete");
}

#[test]
fn a_stream_without_usage_ends_at_done() {
    let r = req(json!({"model": "m", "input": "x"}));
    let mut s = ChatToResponsesStream::new(&r, "resp_1", 0);
    let mut out = Vec::new();
    let content = serde_json::to_string(&delta(json!({"content": "hi"}))).unwrap();
    s.push_data(&content, &mut out).unwrap();
    let stop = serde_json::to_string(&finish("stop")).unwrap();
    s.push_data(&stop, &mut out).unwrap();
    assert!(!s.is_done());
    s.push_data("[DONE]", &mut out).unwrap();
    check_framing(&out);
    assert_eq!(last_response(&out).status, ResponseStatus::Completed);
    assert_eq!(last_response(&out).usage, None);
}

#[test]
fn failures_end_with_response_failed() {
    let r = req(json!({"model": "m", "input": "x"}));
    // Cut mid-answer: the open message is marked incomplete.
    let events = run(&r, vec![delta(json!({"content": "Once"}))]);
    check_framing(&events);
    let v = serde_json::to_value(events.last().unwrap()).unwrap();
    assert_eq!(v["type"], "response.failed");
    assert_eq!(v["response"]["status"], "failed");
    assert_eq!(
        v["response"]["error"],
        json!({"code": "server_error", "message": CUT_SHORT})
    );
    assert_eq!(v["response"]["output"][0]["status"], "incomplete");

    // An upstream error object before any chunk.
    let mut s = ChatToResponsesStream::new(&r, "resp_1", 0);
    let mut out = Vec::new();
    s.push_data(
        r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        &mut out,
    )
    .unwrap();
    check_framing(&out);
    let v = serde_json::to_value(out.last().unwrap()).unwrap();
    assert_eq!(v["response"]["error"]["code"], "rate_limit_exceeded");
    assert_eq!(v["response"]["error"]["message"], "slow down");

    // The gateway's own cut, after the end: nothing more.
    let n = out.len();
    s.fail("server_error", "budget", &mut out);
    s.push(delta(json!({"content": "late"})), &mut out);
    assert_eq!(out.len(), n);
    assert!(s.push_data("not json", &mut out).is_err());
}

#[test]
fn refusals_stream_as_a_refusal_part() {
    let r = req(json!({"model": "m", "input": "x"}));
    let events = run(
        &r,
        vec![
            delta(json!({"refusal": "I can't"})),
            delta(json!({"refusal": " help."})),
            finish("stop"),
            usage(),
        ],
    );
    check_framing(&events);
    let last = serde_json::to_value(last_response(&events)).unwrap();
    assert_eq!(
        last["output"][0]["content"],
        json!([{"type": "refusal", "refusal": "I can't help."}])
    );
    assert!(kinds(&events).contains(&"response.refusal.done"));
    let c = completion(
        json!({"role": "assistant", "content": null, "refusal": "I can't help."}),
        "stop",
    );
    assert_eq!(
        last_response(&events),
        chat_to_responses_response(c, &r, "resp_abc", 1_700_000_000)
            .unwrap()
            .value
    );
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

    #[test]
    fn any_chunk_sequence_gives_a_well_framed_stream(
        steps in prop::collection::vec((0u8..9, 0u32..3, "[a-z\"{}:]{0,6}"), 0..24),
        end_with_done in any::<bool>(),
    ) {
        let r = req(json!({"model": "m", "input": "x"}));
        let mut s = ChatToResponsesStream::new(&r, "resp_p", 0);
        let mut out = Vec::new();
        for (kind, index, text) in steps {
            let c = match kind {
                0 => delta(json!({"content": text})),
                1 => delta(json!({"reasoning_content": text})),
                2 => delta(json!({"refusal": text})),
                3 => delta(json!({"tool_calls": [{"index": index, "id": format!("c{index}"),
                    "function": {"name": "f", "arguments": text}}]})),
                4 => delta(json!({"tool_calls": [{"index": index, "function": {"arguments": text}}]})),
                5 => finish(["stop", "length", "tool_calls"][index as usize]),
                6 => usage(),
                7 => chunk(json!({"choices": [{"index": 1, "delta": {"content": text}}]})),
                _ => {
                    let _ = s.push_data(&text, &mut out);
                    continue;
                }
            };
            s.push(c, &mut out);
        }
        if end_with_done { s.finish(&mut out) } else { s.fail("server_error", "cut", &mut out) }
        check_framing(&out);
        for e in &out {
            let bytes = e.encode();
            let head = format!("event: {}\ndata: ", e.body.kind());
            prop_assert!(bytes.starts_with(head.as_bytes()));
            prop_assert!(bytes.ends_with(b"\n\n"));
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

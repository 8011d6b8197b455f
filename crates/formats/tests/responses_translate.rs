//! The Responses translation as a client sees it: a Codex-shaped request becomes the chat
//! request a provider gets, and a chat SSE stream read off the wire becomes the Responses SSE
//! stream the client reads (`event:` names agreeing with each payload's `type`). Both pinned
//! with `insta`, as public JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use tollgate_formats::responses::{
    ChatToResponsesStream, ResponsesRequest, ResponsesStreamEvent, chat_to_responses_response,
    responses_to_chat_request,
};
use tollgate_formats::sse::SseDecoder;
use tollgate_formats::translate::{ChatCompletion, from_json};

/// The shape the Codex CLI sends to `/v1/responses` (trimmed instructions and tool schema).
fn codex_request() -> Value {
    json!({
        "model": "gpt-5-codex",
        "instructions": "You are Codex, a coding agent.",
        "input": [
            {"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "List the files."}]}
        ],
        "tools": [{"type": "function", "name": "shell", "description": "Runs a command.",
            "strict": false, "parameters": {"type": "object",
                "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                "required": ["command"], "additionalProperties": false}}],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199-session"
    })
}

#[test]
fn a_codex_request_becomes_a_chat_request() {
    let req: ResponsesRequest = from_json(codex_request().to_string().as_bytes()).unwrap();
    let t = responses_to_chat_request(req, &[]).unwrap();
    let warnings: Vec<String> = t.warnings.iter().map(|w| w.field.to_string()).collect();
    assert_eq!(warnings, ["include[0]"]);
    insta::assert_json_snapshot!(serde_json::to_value(&t.value).unwrap());
}

/// Chat SSE bytes, cut at awkward places, through the translator; the Responses events as the
/// client decodes them: `{"event": name, "data": json}`.
fn translate_wire(chat_sse: &str, cut: usize) -> Vec<Value> {
    let req: ResponsesRequest = from_json(codex_request().to_string().as_bytes()).unwrap();
    let mut s = ChatToResponsesStream::new(&req, "resp_0199", 1_760_000_000);
    let mut upstream = SseDecoder::new();
    let mut events: Vec<ResponsesStreamEvent> = Vec::new();
    for piece in chat_sse.as_bytes().chunks(cut) {
        upstream.push(piece);
        while let Some(ev) = upstream.next_event() {
            s.push_data(&ev.data, &mut events).unwrap();
        }
    }
    s.finish(&mut events);
    let mut client = SseDecoder::new();
    for e in &events {
        client.push(&e.encode());
    }
    let mut out = Vec::new();
    while let Some(ev) = client.next_event() {
        let data: Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(Some(data["type"].as_str().unwrap()), ev.event.as_deref());
        out.push(json!({"event": ev.event, "data": data}));
    }
    out
}

fn chat_sse(chunks: &[Value]) -> String {
    let mut s = String::new();
    for c in chunks {
        let mut c = c.clone();
        c["id"] = json!("chatcmpl-9");
        c["object"] = json!("chat.completion.chunk");
        c["created"] = json!(1_760_000_000);
        c["model"] = json!("qwen3-coder");
        s.push_str(&format!("data: {c}\n\n"));
    }
    s.push_str("data: [DONE]\n\n");
    s
}

#[test]
fn a_streamed_tool_call_reads_as_codex_expects() {
    let sse = chat_sse(&[
        json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Listing."}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_7",
            "type": "function", "function": {"name": "shell", "arguments": ""}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
            "function": {"arguments": "{\"command\":[\"ls\"]}"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        json!({"choices": [], "usage": {"prompt_tokens": 900, "completion_tokens": 20,
            "total_tokens": 920, "prompt_tokens_details": {"cached_tokens": 800}}}),
    ]);
    let whole = translate_wire(&sse, usize::MAX);
    for cut in [1, 7, 64] {
        assert_eq!(translate_wire(&sse, cut), whole, "cut every {cut} bytes");
    }
    for (i, e) in whole.iter().enumerate() {
        assert_eq!(e["data"]["sequence_number"], i);
    }
    insta::assert_json_snapshot!(whole);

    // The final Response is what the non-streamed translation gives for the same answer.
    let completion: ChatCompletion = serde_json::from_value(json!({
        "id": "chatcmpl-9", "object": "chat.completion", "created": 1_760_000_000,
        "model": "qwen3-coder",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Listing.", "tool_calls": [{"id": "call_7",
                "type": "function",
                "function": {"name": "shell", "arguments": "{\"command\":[\"ls\"]}"}}]}}],
        "usage": {"prompt_tokens": 900, "completion_tokens": 20, "total_tokens": 920,
            "prompt_tokens_details": {"cached_tokens": 800}}
    }))
    .unwrap();
    let req: ResponsesRequest = from_json(codex_request().to_string().as_bytes()).unwrap();
    let expected = chat_to_responses_response(completion, &req, "resp_0199", 1_760_000_000)
        .unwrap()
        .value;
    let last = whole.last().unwrap();
    assert_eq!(last["event"], "response.completed");
    assert_eq!(
        last["data"]["response"],
        serde_json::to_value(expected).unwrap()
    );
}

#[test]
fn an_upstream_error_mid_stream_reads_as_response_failed() {
    let sse = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Li\"}}]}\n\n\
               data: {\"error\":{\"message\":\"upstream overloaded\",\"type\":\"server_error\"}}\n\n";
    let events = translate_wire(sse, 5);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.failed",
        ]
    );
    let failed = &events[5]["data"]["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"],
        json!({"code": "server_error", "message": "upstream overloaded"})
    );
}

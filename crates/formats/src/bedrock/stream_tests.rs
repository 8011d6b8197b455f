//! Responses, stream translation and errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::tests::body_of;
use super::*;
use crate::translate::{ChatCompletion, ChatContent, OpenAiStreamEvent};

// ---- responses ----

fn converse_response(v: Value) -> ConverseResponse {
    serde_json::from_value(v).unwrap()
}

#[test]
fn bedrock_response_to_openai_maps_content_stop_and_usage() {
    let resp = converse_response(json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "think", "signature": "sig"}}},
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "t1", "name": "w", "input": {"city": "Paris"}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 130, "cacheReadInputTokens": 100},
        "metrics": {"latencyMs": 321}
    }));
    let t = converse_to_openai_response(resp, "claude", "chatcmpl-1", 7, None);
    let v = serde_json::to_value(&t.value).unwrap();
    assert_eq!(v["id"], "chatcmpl-1");
    assert_eq!(v["created"], 7);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["choices"][0]["message"]["content"], "Let me check.");
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "think");
    assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["id"], "t1");
    assert_eq!(v["usage"]["prompt_tokens"], 110);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 100);
    assert_eq!(v["usage"]["total_tokens"], 130);

    let json_answer = converse_response(json!({
        "output": {"message": {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "person", "input": {"name": "Ada"}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
    }));
    let t = converse_to_openai_response(json_answer, "m", "i", 0, Some("person"));
    assert_eq!(t.value.choices[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        t.value.choices[0].message.content,
        Some(ChatContent::Text("{\"name\":\"Ada\"}".to_owned()))
    );
    assert!(t.value.choices[0].message.tool_calls.is_none());

    for (stop, finish) in [
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("stop_sequence", "stop"),
    ] {
        let r = converse_response(
            json!({"output": {"message": {"role": "assistant", "content": []}}, "stopReason": stop, "usage": {}}),
        );
        assert_eq!(
            converse_to_openai_response(r, "m", "i", 0, None)
                .value
                .choices[0]
                .finish_reason
                .as_deref(),
            Some(finish)
        );
    }
}

#[test]
fn bedrock_openai_response_to_converse() {
    let c: ChatCompletion = serde_json::from_value(json!({
        "id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Checking.",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"a\":1}"}}]}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55, "prompt_tokens_details": {"cached_tokens": 40}}
    }))
    .unwrap();
    let v = serde_json::to_value(openai_to_converse_response(c).unwrap().value).unwrap();
    assert_eq!(v["stopReason"], "tool_use");
    assert_eq!(
        v["output"]["message"]["content"],
        json!([{"text": "Checking."}, {"toolUse": {"toolUseId": "c1", "name": "w", "input": {"a": 1}}}])
    );
    assert_eq!(
        v["usage"],
        json!({"inputTokens": 10, "outputTokens": 5, "totalTokens": 55, "cacheReadInputTokens": 40})
    );
}

// ---- streams ----

fn translate(
    body: &[u8],
    include_usage: bool,
    json_tool: Option<&str>,
    finish: bool,
) -> (Vec<OpenAiStreamEvent>, ConverseToOpenAiStream) {
    let mut d = EventStreamDecoder::new();
    d.push(body);
    let mut s = ConverseToOpenAiStream::new(
        "id".into(),
        "m".into(),
        1,
        include_usage,
        json_tool.map(str::to_owned),
    );
    let mut out = Vec::new();
    while let Some(f) = d.next_frame().unwrap() {
        s.push_frame(&f, &mut out).unwrap();
    }
    if finish {
        s.finish(&mut out);
    }
    (out, s)
}

fn chunks(events: &[OpenAiStreamEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|e| match e {
            OpenAiStreamEvent::Chunk(c) => serde_json::to_value(c).unwrap(),
            OpenAiStreamEvent::Done => json!("[DONE]"),
            OpenAiStreamEvent::Error {
                message,
                kind,
                code,
            } => json!({"error": message, "type": kind, "code": code}),
        })
        .collect()
}

fn parallel_tools_body() -> Vec<u8> {
    body_of(&[
        ("event", "messageStart", json!({"role": "assistant"})),
        (
            "event",
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Checking"}}),
        ),
        ("event", "contentBlockStop", json!({"contentBlockIndex": 0})),
        (
            "event",
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "a", "name": "w"}}}),
        ),
        (
            "event",
            "contentBlockStart",
            json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "b", "name": "w"}}}),
        ),
        (
            "event",
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\":\"Rome\"}"}}}),
        ),
        (
            "event",
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\":"}}}),
        ),
        (
            "event",
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
        ),
        ("event", "contentBlockStop", json!({"contentBlockIndex": 1})),
        ("event", "contentBlockStop", json!({"contentBlockIndex": 2})),
        ("event", "messageStop", json!({"stopReason": "tool_use"})),
        (
            "event",
            "metadata",
            json!({"usage": {"inputTokens": 5, "outputTokens": 9, "totalTokens": 14}, "metrics": {"latencyMs": 3}}),
        ),
    ])
}

#[test]
fn bedrock_stream_parallel_tool_calls_keep_their_indexes() {
    let (events, s) = translate(&parallel_tools_body(), true, None, true);
    let v = chunks(&events);
    assert_eq!(v[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(v[1]["choices"][0]["delta"]["content"], "Checking");
    let mut args = [String::new(), String::new()];
    for c in &v {
        for call in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = call["index"].as_u64().unwrap() as usize;
            args[i].push_str(call["function"]["arguments"].as_str().unwrap_or(""));
            if let Some(id) = call["id"].as_str() {
                assert_eq!(id, ["a", "b"][i]);
            }
        }
    }
    assert_eq!(args, ["{\"city\":\"Paris\"}", "{\"city\":\"Rome\"}"]);
    let n = v.len();
    assert_eq!(v[n - 3]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v[n - 2]["usage"]["prompt_tokens"], 5);
    assert_eq!(v[n - 2]["usage"]["completion_tokens"], 9);
    assert_eq!(v[n - 1], "[DONE]");
    assert_eq!(s.usage().unwrap().output_tokens, 9);
    assert!(s.output_bytes() > 0);
}

#[test]
fn bedrock_stream_without_metadata_ends_in_finish_and_a_cut_stream_is_an_error() {
    let stopped = body_of(&[
        ("event", "messageStart", json!({"role": "assistant"})),
        (
            "event",
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ),
        ("event", "messageStop", json!({"stopReason": "end_turn"})),
    ]);
    let (events, s) = translate(&stopped, false, None, false);
    assert!(!events.contains(&OpenAiStreamEvent::Done));
    let (events, _) = translate(&stopped, false, None, true);
    assert_eq!(events.last(), Some(&OpenAiStreamEvent::Done));
    assert!(s.usage().is_none());

    let cut = body_of(&[
        ("event", "messageStart", json!({"role": "assistant"})),
        (
            "event",
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ),
    ]);
    let (events, _) = translate(&cut, true, None, true);
    assert!(matches!(
        events.last(),
        Some(OpenAiStreamEvent::Error {
            code: Some("upstream_error"),
            ..
        })
    ));
    assert!(!events.contains(&OpenAiStreamEvent::Done));
}

#[test]
fn bedrock_stream_exceptions_become_error_events() {
    let body = body_of(&[
        ("event", "messageStart", json!({"role": "assistant"})),
        (
            "exception",
            "throttlingException",
            json!({"message": "Too many tokens"}),
        ),
    ]);
    let (events, _) = translate(&body, false, None, true);
    assert_eq!(
        events.last(),
        Some(&OpenAiStreamEvent::Error {
            message: "Too many tokens".to_owned(),
            kind: "rate_limit_error",
            code: Some("rate_limit_exceeded")
        })
    );
    assert_eq!(
        events.len(),
        2,
        "nothing after the error, not even finish()'s"
    );
}

#[test]
fn bedrock_stream_reasoning_and_json_tool() {
    let body = body_of(&[
        ("event", "messageStart", json!({"role": "assistant"})),
        (
            "event",
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}),
        ),
        (
            "event",
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
        ),
        (
            "event",
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "json_response"}}}),
        ),
        (
            "event",
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"a\":1}"}}}),
        ),
        ("event", "messageStop", json!({"stopReason": "tool_use"})),
        (
            "event",
            "metadata",
            json!({"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}}),
        ),
    ]);
    let (events, s) = translate(&body, false, Some("json_response"), true);
    let v = chunks(&events);
    assert_eq!(v[1]["choices"][0]["delta"]["reasoning_content"], "hmm");
    assert_eq!(v[2]["choices"][0]["delta"]["content"], "{\"a\":1}");
    assert_eq!(v[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(v[4], "[DONE]");
    assert_eq!(s.warnings().len(), 1);
}

// ---- errors ----

#[test]
fn bedrock_errors_read_the_message_and_spot_context_length() {
    assert_eq!(
        error_message(br#"{"message":"Input is too long for requested model."}"#).as_deref(),
        Some("Input is too long for requested model.")
    );
    assert_eq!(error_message(b"<html>"), None);
    assert_eq!(
        error_type("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        "ValidationException"
    );
    assert!(is_context_length("Input is too long for requested model."));
    assert!(is_context_length(
        "prompt is too long: 210000 tokens > 200000 maximum"
    ));
    assert!(is_context_length(
        "The model returned the following errors: too many input tokens"
    ));
    assert!(!is_context_length(
        "Too many requests, please wait before trying again."
    ));
    assert_eq!(
        openai_error_kind("ThrottlingException").0,
        "rate_limit_error"
    );
    assert_eq!(
        openai_error_kind("serviceUnavailableException").1,
        Some("service_unavailable")
    );
}

//! The chat stream → Responses stream translation: the documented event sequence, sequence
//! numbers, parallel tool calls, incomplete and failed endings, and a final Response equal to
//! the non-streamed translation of the same answer.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::tests::{completion, req};
use super::*;
use crate::translate::ChatChunk;

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

proptest! {
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

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::translate::{ChatCompletion, ChatContent, ChatRole};

fn request(v: Value) -> CompletionRequest {
    serde_json::from_value(v).unwrap()
}

fn chat_json(t: &crate::translate::Translated<crate::translate::ChatRequest>) -> Value {
    serde_json::to_value(&t.value).unwrap()
}

#[test]
fn a_prompt_becomes_one_user_message_with_the_settings_carried() {
    let t = completions_to_chat_request(request(json!({
        "model": "m", "prompt": "Say this is a test", "max_tokens": 7, "temperature": 0.5,
        "top_p": 0.25, "stop": ["\n"], "user": "u1", "seed": 42, "presence_penalty": 0.5,
        "frequency_penalty": -0.5, "n": 1, "best_of": 1, "echo": false, "suffix": null,
        "logprobs": null
    })))
    .unwrap();
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    assert_eq!(t.value.messages.len(), 1);
    assert_eq!(t.value.messages[0].role, ChatRole::User);
    assert_eq!(
        t.value.messages[0].content,
        Some(ChatContent::Text("Say this is a test".into()))
    );
    let v = chat_json(&t);
    assert_eq!(v["max_completion_tokens"], 7);
    assert_eq!(v["temperature"], 0.5);
    assert_eq!(v["top_p"], 0.25);
    assert_eq!(v["stop"], json!(["\n"]));
    assert_eq!(v["user"], "u1");
    assert_eq!(v["seed"], 42);
    assert_eq!(v["presence_penalty"], 0.5);
    assert_eq!(v["frequency_penalty"], -0.5);
    assert!(v.get("n").is_none());
}

#[test]
fn max_tokens_defaults_to_the_legacy_sixteen() {
    let t = completions_to_chat_request(request(json!({"model": "m", "prompt": ["hi"]}))).unwrap();
    assert_eq!(t.value.max_completion_tokens, Some(DEFAULT_MAX_TOKENS));
    assert_eq!(DEFAULT_MAX_TOKENS, 16);
}

#[test]
fn a_stream_keeps_its_usage_option() {
    let t = completions_to_chat_request(request(json!({
        "model": "m", "prompt": "hi", "stream": true, "stream_options": {"include_usage": true}
    })))
    .unwrap();
    let v = chat_json(&t);
    assert_eq!(v["stream"], true);
    assert_eq!(v["stream_options"]["include_usage"], true);
}

#[test]
fn logit_bias_and_unknown_fields_are_dropped_by_name() {
    let t = completions_to_chat_request(request(json!({
        "model": "m", "prompt": "hi", "logit_bias": {"50256": -100}, "zzz": 1, "service_tier": "auto"
    })))
    .unwrap();
    let fields: Vec<_> = t.warnings.iter().map(|w| w.field.as_ref()).collect();
    assert_eq!(fields, ["logit_bias", "zzz"]);
    assert_eq!(chat_json(&t)["service_tier"], "auto");
    // An empty bias changes nothing and is not reported.
    let t = completions_to_chat_request(request(
        json!({"model": "m", "prompt": "hi", "logit_bias": {}}),
    ))
    .unwrap();
    assert!(t.warnings.is_empty());
}

#[test]
fn what_chat_cannot_do_is_a_400_naming_the_field() {
    for (extra, field) in [
        (json!({"echo": true}), "echo"),
        (json!({"suffix": "}"}), "suffix"),
        (json!({"logprobs": 0}), "logprobs"),
        (json!({"best_of": 2}), "best_of"),
        (json!({"n": 3}), "n"),
        (json!({"n": "two"}), "n"),
        (json!({"prompt": ["a", "b"]}), "prompt"),
        (json!({"prompt": [1, 2, 3]}), "prompt"),
        (json!({"prompt": [[1], [2]]}), "prompt"),
        (json!({"prompt": []}), "prompt"),
        (json!({"prompt": ""}), "prompt"),
        (json!({"prompt": null}), "prompt"),
        (json!({"prompt": {"text": "x"}}), "prompt"),
        (json!({"model": ""}), "model"),
    ] {
        let mut body = json!({"model": "m", "prompt": "hi"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let e = completions_to_chat_request(request(body.clone())).unwrap_err();
        assert_eq!(e.param(), Some(field), "{body}: {e}");
    }
    let e = completions_to_chat_request(request(json!({"model": "m", "prompt": ["a", "b"]})))
        .unwrap_err();
    assert!(e.to_string().contains("several prompts"), "{e}");
    let e =
        completions_to_chat_request(request(json!({"model": "m", "prompt": "x", "echo": true})))
            .unwrap_err();
    assert!(e.to_string().starts_with("Invalid 'echo'"), "{e}");
}

fn chat_completion(v: Value) -> ChatCompletion {
    serde_json::from_value(v).unwrap()
}

#[test]
fn a_chat_answer_reads_as_a_text_completion() {
    let resp = chat_completion(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "up",
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "This is a test."},
                     "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    }));
    let t = chat_to_completion(resp, "cmpl-abc", 99).unwrap();
    assert!(t.warnings.is_empty());
    let v = serde_json::to_value(&t.value).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "cmpl-abc", "object": "text_completion", "created": 99, "model": "up",
            "choices": [{"text": "This is a test.", "index": 0, "logprobs": null,
                         "finish_reason": "length"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            "system_fingerprint": "fp_1"
        })
    );
}

#[test]
fn chat_only_parts_of_an_answer_are_reported() {
    let resp = chat_completion(json!({
        "id": "c", "model": "up",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "refusal": "no", "reasoning_content": "hmm"}, "finish_reason": "stop"}]
    }));
    let t = chat_to_completion(resp, "cmpl-x", 1).unwrap();
    assert_eq!(t.value.choices[0].text, "");
    assert_eq!(
        t.value.choices[0].finish_reason.as_deref(),
        Some("content_filter")
    );
    assert_eq!(t.warnings.len(), 2);
    let none = chat_completion(json!({"id": "c", "model": "up", "choices": []}));
    assert!(chat_to_completion(none, "cmpl-x", 1).is_err());
    assert_eq!(finish_reason("tool_calls"), "stop");
}

fn run(t: &mut ChatToCompletionsStream, data: &[&str]) -> Vec<CompletionStreamEvent> {
    let mut out = Vec::new();
    for d in data {
        t.push_data(d, &mut out).unwrap();
    }
    out
}

fn text(events: &[CompletionStreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            CompletionStreamEvent::Chunk(c) => c.choices.first().map(|ch| ch.text.clone()),
            _ => None,
        })
        .collect()
}

const CHUNKS: &[&str] = &[
    r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
    r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}"#,
    r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}"#,
    r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
    "[DONE]",
];

#[test]
fn a_stream_reads_as_completion_chunks_with_usage_then_done() {
    let mut t = ChatToCompletionsStream::new("cmpl-1", "m", 7, true);
    let out = run(&mut t, CHUNKS);
    assert_eq!(text(&out), "Hello world");
    assert!(t.is_done());
    let encoded: Vec<String> = out
        .iter()
        .map(|e| String::from_utf8(e.encode().to_vec()).unwrap())
        .collect();
    assert_eq!(encoded.len(), 5, "{encoded:?}");
    assert_eq!(
        encoded[0],
        "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":7,\"model\":\"up\",\"choices\":[{\"text\":\"Hello\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    );
    assert!(encoded[2].contains(r#""text":"","index":0,"logprobs":null,"finish_reason":"stop""#));
    assert!(encoded[3].contains(
        r#""choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}"#
    ));
    assert_eq!(encoded[4], "data: [DONE]\n\n");
    assert_eq!(t.usage().map(|u| u.completion_tokens), Some(2));
}

#[test]
fn without_include_usage_there_is_no_usage_chunk() {
    let mut t = ChatToCompletionsStream::new("cmpl-1", "m", 7, false);
    let out = run(&mut t, CHUNKS);
    assert!(out.iter().all(|e| match e {
        CompletionStreamEvent::Chunk(c) => c.usage.is_none() && !c.choices.is_empty(),
        _ => true,
    }));
    assert_eq!(out.last(), Some(&CompletionStreamEvent::Done));
    // The provider's usage is still known to the caller, for billing.
    assert_eq!(t.usage().map(|u| u.total_tokens), Some(5));
}

#[test]
fn a_cut_stream_ends_with_an_error_event() {
    let mut t = ChatToCompletionsStream::new("cmpl-1", "m", 7, true);
    let mut out = run(&mut t, &CHUNKS[..2]);
    t.finish(&mut out);
    let last = out.last().unwrap().encode();
    let s = std::str::from_utf8(&last).unwrap();
    assert!(s.starts_with("data: {\"error\":"), "{s}");
    assert!(t.is_done());
    // An upstream error event is passed on as one.
    let mut t = ChatToCompletionsStream::new("cmpl-1", "m", 7, true);
    let out = run(
        &mut t,
        &[r#"{"error":{"message":"overloaded","type":"server_error","code":"x"}}"#],
    );
    assert!(
        matches!(&out[..], [CompletionStreamEvent::Error { message, .. }] if message == "overloaded")
    );
    assert!(t.is_done());
}

#[test]
fn the_streamed_text_equals_the_whole_answer() {
    let mut t = ChatToCompletionsStream::new("cmpl-1", "m", 7, true);
    let out = run(&mut t, CHUNKS);
    let whole = chat_to_completion(
        chat_completion(json!({"id": "c", "model": "up", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "Hello world"}, "finish_reason": "stop"}]})),
        "cmpl-1",
        7,
    )
    .unwrap();
    assert_eq!(text(&out), whole.value.choices[0].text);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = crate::openai::peek_completions(&bytes);
        if let Ok(req) = crate::translate::from_json::<CompletionRequest>(&bytes) {
            let _ = completions_to_chat_request(req);
        }
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let mut t = ChatToCompletionsStream::new("cmpl-1", "m", 0, true);
            let mut out = Vec::new();
            let _ = t.push_data(s, &mut out);
            t.finish(&mut out);
            prop_assert!(t.is_done());
        }
    }

    #[test]
    fn any_prompt_text_survives(prompt in "\\PC{1,64}", json_like in "[{}\\[\\]\":,a-z0-9 ]{0,64}") {
        let body = json!({"model": "m", "prompt": prompt.clone()});
        let t = completions_to_chat_request(request(body.clone())).unwrap();
        prop_assert_eq!(&t.value.messages[0].content, &Some(ChatContent::Text(prompt)));
        let p = crate::openai::peek_completions(body.to_string().as_bytes()).unwrap();
        prop_assert!(p.prompt_tokens_estimate >= 1);
        let _ = crate::openai::peek_completions(json_like.as_bytes());
    }
}

use proptest::prelude::*;

use super::*;

const COMPLETION: &str = r#"{
  "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop"}],
  "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 8, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0}}
}"#;

#[test]
fn usage_from_a_completion() {
    let info = inspect_completion(COMPLETION.as_bytes()).unwrap();
    assert_eq!(
        info.usage,
        Some(Usage {
            units: None,
            input_tokens: 19,
            output_tokens: 10,
            cached_input_tokens: 8,
            cache_write_tokens: 0,
            reasoning_tokens: 3,
        })
    );
    assert_eq!(&COMPLETION[info.model.unwrap()], "\"gpt-4o-2024-08-06\"");
    assert_eq!(info.output_bytes, 12);
}

#[test]
fn a_completion_without_usage_still_reports_its_output_size() {
    let info = inspect_completion(
        br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"1"}]}}]}"#,
    )
    .unwrap();
    assert_eq!(info.usage, None);
    assert_eq!(info.model, None);
    assert_eq!(info.output_bytes, "{\"id\":\"1\"}".len() as u64);
}

#[test]
fn content_chunks_count_as_output() {
    let c = inspect_chunk(
        r#"{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#,
    )
    .unwrap();
    assert_eq!(c.output_deltas, 1);
    assert_eq!(c.output_bytes, 3);
    assert!(!c.usage_only);
    assert_eq!(c.usage, None);
    assert!(!c.error);
}

#[test]
fn role_and_finish_chunks_carry_no_output() {
    for data in [
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#,
    ] {
        let c = inspect_chunk(data).unwrap();
        assert_eq!(c.output_deltas, 0, "{data}");
        assert_eq!(c.usage, None);
    }
}

#[test]
fn tool_call_and_reasoning_deltas_count_as_output() {
    let c = inspect_chunk(
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}},{"delta":{"reasoning_content":"hm"}}]}"#,
    )
    .unwrap();
    assert_eq!(c.output_deltas, 2);
}

#[test]
fn the_usage_only_chunk_is_recognised() {
    let c = inspect_chunk(
        r#"{"id":"c","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
    )
    .unwrap();
    assert!(c.usage_only);
    assert_eq!(c.usage.unwrap().input_tokens, 5);
    assert_eq!(c.usage.unwrap().output_tokens, 7);
    // Usage attached to a content chunk (some compatible servers) is usage, but not usage-only.
    let c = inspect_chunk(
        r#"{"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":5,"completion_tokens":7}}"#,
    )
    .unwrap();
    assert!(!c.usage_only);
    assert!(c.usage.is_some());
}

#[test]
fn lenient_counts_from_compatible_servers() {
    let c = inspect_chunk(
        r#"{"choices":[],"usage":{"prompt_tokens":5.0,"completion_tokens":null,"prompt_cache_hit_tokens":4,"completion_tokens_details":null}}"#,
    )
    .unwrap();
    let u = c.usage.unwrap();
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.cached_input_tokens),
        (5, 0, 4)
    );
}

#[test]
fn a_mid_stream_error_object_is_flagged() {
    let c = inspect_chunk(r#"{"error":{"message":"overloaded","type":"server_error"}}"#).unwrap();
    assert!(c.error);
}

#[test]
fn the_meter_counts_deltas_unless_the_provider_batches_tokens() {
    let mut m = OutputMeter::default();
    let one_token = inspect_chunk(r#"{"choices":[{"delta":{"content":" a"}}]}"#).unwrap();
    m.add_chunk(&one_token);
    m.add_chunk(&one_token);
    assert_eq!(m.tokens(), 2);
    // Long words are still one delta each: the count stands.
    let word = inspect_chunk(r#"{"choices":[{"delta":{"content":" incididunt"}}]}"#).unwrap();
    m.add_chunk(&word);
    assert_eq!(m.tokens(), 3);
    // A provider batching many tokens per delta: bytes / 4 takes over.
    let text = "0123456789".repeat(8);
    let batched = inspect_chunk(&format!(
        r#"{{"choices":[{{"delta":{{"content":"{text}"}}}}]}}"#
    ))
    .unwrap();
    m.add_chunk(&batched);
    assert_eq!(m.tokens(), 24); // (2 + 2 + 11 + 80) bytes / 4, rounded up
    let mut body = OutputMeter::default();
    body.add_bytes(10);
    assert_eq!(body.tokens(), 3);
}

proptest! {
    #[test]
    fn inspect_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = inspect_completion(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = inspect_chunk(s);
        }
    }
}

use proptest::prelude::*;

use super::*;

fn peek(s: &str) -> Result<ChatPeek, FormatError> {
    peek_chat(s.as_bytes())
}

fn err(s: &str) -> String {
    peek(s).unwrap_err().to_string()
}

#[test]
fn reads_what_the_edge_needs() {
    let p = peek(
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}],
            "stream":true,"stream_options":{"include_usage":true},"max_tokens":50,
            "temperature":0.2,"tools":[{"type":"function","function":{"name":"f"}}]}"#,
    )
    .unwrap();
    assert_eq!(p.model, "gpt-4o-mini");
    assert!(p.stream);
    assert!(p.include_usage);
    assert_eq!(p.max_tokens, Some(50));
    assert_eq!(p.message_count, 1);
    // "hello there" + "function" + "f" = 20 bytes -> 5 tokens, + 4 framing (role included).
    assert_eq!(p.prompt_tokens_estimate, 9);
}

#[test]
fn defaults_when_optional_fields_are_absent_or_null() {
    let p = peek(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":null,"max_tokens":null}"#)
        .unwrap();
    assert!(!p.stream);
    assert!(!p.include_usage);
    assert_eq!(p.max_tokens, None);
}

#[test]
fn include_usage_only_counts_when_streaming() {
    let p = peek(
        r#"{"model":"m","messages":[{"role":"user"}],"stream_options":{"include_usage":true}}"#,
    )
    .unwrap();
    assert!(!p.include_usage);
}

#[test]
fn max_completion_tokens_wins_over_max_tokens() {
    let p = peek(
        r#"{"model":"m","messages":[{"role":"user"}],"max_tokens":9,"max_completion_tokens":7}"#,
    )
    .unwrap();
    assert_eq!(p.max_tokens, Some(7));
}

#[test]
fn model_errors_read_like_openai() {
    let want = "you must provide a model parameter";
    assert_eq!(err(r#"{"messages":[{"role":"user"}]}"#), want);
    assert_eq!(err(r#"{"model":"","messages":[{"role":"user"}]}"#), want);
    assert_eq!(err(r#"{"model":null,"messages":[{"role":"user"}]}"#), want);
    let e = peek(r#"{"model":5,"messages":[]}"#).unwrap_err();
    assert_eq!(e.param(), Some("model"));
    assert_eq!(
        e.to_string(),
        "Invalid type for 'model': expected a string, but got an integer instead."
    );
}

#[test]
fn messages_errors_name_the_param() {
    let e = peek(r#"{"model":"m"}"#).unwrap_err();
    assert_eq!(e.to_string(), "Missing required parameter: 'messages'.");
    assert_eq!(e.param(), Some("messages"));
    assert_eq!(e.code(), Some("missing_required_parameter"));

    let e = peek(r#"{"model":"m","messages":[]}"#).unwrap_err();
    assert_eq!(e, FormatError::EmptyArray("messages"));
    assert_eq!(e.code(), Some("empty_array"));

    let e = peek(r#"{"model":"m","messages":"hi"}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid type for 'messages': expected an array, but got a string instead."
    );
    let e = peek(r#"{"model":"m","messages":{"role":"user"}}"#).unwrap_err();
    assert!(e.to_string().contains("got an object"), "{e}");
}

#[test]
fn a_bad_message_is_named_by_its_index() {
    let e = peek(r#"{"model":"m","messages":[{"role":"user"},{"content":"x"}]}"#).unwrap_err();
    assert_eq!(e.param(), Some("messages[1].role"));
    assert_eq!(
        e.to_string(),
        "Missing required parameter: 'messages[1].role'."
    );

    let e = peek(r#"{"model":"m","messages":["hi"]}"#).unwrap_err();
    assert_eq!(e.param(), Some("messages[0]"));
    let e = peek(r#"{"model":"m","messages":[{"role":1}]}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid type for 'messages[0].role': expected a string, but got an integer instead."
    );
}

#[test]
fn type_errors_for_flags_and_counts() {
    let base = r#""model":"m","messages":[{"role":"user"}]"#;
    let e = peek(&format!(r#"{{{base},"stream":"yes"}}"#)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid type for 'stream': expected a boolean, but got a string instead."
    );
    let e = peek(&format!(
        r#"{{{base},"stream":true,"stream_options":{{"include_usage":1}}}}"#
    ))
    .unwrap_err();
    assert_eq!(e.param(), Some("stream_options.include_usage"));
    let e = peek(&format!(r#"{{{base},"stream_options":[]}}"#)).unwrap_err();
    assert_eq!(e.param(), Some("stream_options"));
    let e = peek(&format!(r#"{{{base},"max_tokens":1.5}}"#)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid type for 'max_tokens': expected an integer, but got a decimal instead."
    );
    for bad in ["-1", "0", "99999999999999999999999"] {
        let e = peek(&format!(r#"{{{base},"max_completion_tokens":{bad}}}"#)).unwrap_err();
        assert_eq!(e.param(), Some("max_completion_tokens"), "{bad}");
        assert_eq!(e.code(), Some("invalid_value"));
    }
}

#[test]
fn not_json_and_not_an_object_are_distinguished() {
    assert!(matches!(
        peek("{\"model\":"),
        Err(FormatError::InvalidJson(_))
    ));
    assert!(matches!(peek(""), Err(FormatError::InvalidJson(_))));
    assert!(matches!(
        peek_chat(b"\xff\xfe"),
        Err(FormatError::InvalidJson(_))
    ));
    assert_eq!(peek("[1,2]"), Err(FormatError::NotAnObject));
    assert_eq!(peek("\"x\""), Err(FormatError::NotAnObject));
    // Trailing bytes after the object are not JSON.
    assert!(matches!(
        peek(r#"{"model":"m","messages":[{"role":"user"}]} {}"#),
        Err(FormatError::InvalidJson(_))
    ));
}

#[test]
fn escaped_keys_and_values_are_understood() {
    let p = peek(r#"{"mod\u0065l":"gpt\u002d4","messages":[{"r\u006fle":"user"}]}"#).unwrap();
    assert_eq!(p.model, "gpt-4");
}

#[test]
fn inline_images_count_as_images_not_as_base64_bytes() {
    let b64 = "A".repeat(400_000);
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"text","text":"what is this"}},
        {{"type":"image_url","image_url":{{"url":"data:image/png;base64,{b64}"}}}}]}}]}}"#
    );
    let p = peek(&body).unwrap();
    assert!(
        p.prompt_tokens_estimate < 1_000,
        "{}",
        p.prompt_tokens_estimate
    );
    assert!(p.prompt_tokens_estimate > 765);
}

#[test]
fn the_estimate_grows_with_the_prompt() {
    let text = "word ".repeat(2_000);
    let body = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{text}"}}]}}"#);
    let p = peek(&body).unwrap();
    // 10,000 bytes / 4 + 4 framing
    assert_eq!(p.prompt_tokens_estimate, 2_504);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":{}{}}}]}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(matches!(peek(&deep), Err(FormatError::InvalidJson(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = peek_chat(&bytes);
    }

    #[test]
    fn never_panics_on_json_like_text(s in r#"[\{\}\[\]":,a-z0-9 \\.\-]{0,128}"#) {
        let _ = peek_chat(s.as_bytes());
        let _ = peek_chat(format!(r#"{{"model":"m","messages":{s}}}"#).as_bytes());
    }
}

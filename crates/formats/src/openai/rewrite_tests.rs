use proptest::prelude::*;
use serde_json::Value;

use super::*;

fn rw(s: &str, model: &str, force: bool) -> String {
    String::from_utf8(
        rewrite_chat_request(s.as_bytes(), model, force)
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

#[test]
fn replaces_only_the_model_bytes() {
    let body = "{ \"model\" : \"alias\",\n  \"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\n  \"temperature\": 1.10, \"seed\": 12345678901234567890 }";
    let out = rw(body, "gpt-4o-2024-08-06", true);
    assert_eq!(out, body.replace("\"alias\"", "\"gpt-4o-2024-08-06\""));
}

#[test]
fn streaming_requests_get_include_usage_added() {
    let out = rw(r#"{"model":"a","stream":true,"messages":[]}"#, "b", true);
    assert_eq!(
        out,
        r#"{"model":"b","stream":true,"messages":[],"stream_options":{"include_usage":true}}"#
    );
}

#[test]
fn existing_stream_options_keep_their_other_fields() {
    let out = rw(
        r#"{"model":"a","stream":true,"stream_options":{"continuous_usage_stats":false}}"#,
        "b",
        true,
    );
    assert_eq!(
        out,
        r#"{"model":"b","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":false}}"#
    );
    let out = rw(
        r#"{"model":"a","stream":true,"stream_options":{"include_usage":false,"x":1}}"#,
        "b",
        true,
    );
    assert_eq!(
        out,
        r#"{"model":"b","stream":true,"stream_options":{"include_usage":true,"x":1}}"#
    );
    let out = rw(
        r#"{"model":"a","stream":true,"stream_options":{ }}"#,
        "b",
        true,
    );
    assert_eq!(
        out,
        r#"{"model":"b","stream":true,"stream_options":{"include_usage":true }}"#
    );
    let out = rw(
        r#"{"model":"a","stream":true,"stream_options":null}"#,
        "b",
        true,
    );
    assert_eq!(
        out,
        r#"{"model":"b","stream":true,"stream_options":{"include_usage":true}}"#
    );
}

#[test]
fn non_streaming_or_unforced_requests_leave_stream_options_alone() {
    let body = r#"{"model":"a","stream":false,"stream_options":{"include_usage":false}}"#;
    assert_eq!(rw(body, "b", true), body.replace("\"a\"", "\"b\""));
    let body = r#"{"model":"a","stream":true}"#;
    assert_eq!(rw(body, "b", false), r#"{"model":"b","stream":true}"#);
}

#[test]
fn duplicate_models_are_all_replaced_and_names_are_escaped() {
    let out = rw(r#"{"model":"a","x":1,"model":"c"}"#, "we\"ird", false);
    assert_eq!(out, r#"{"model":"we\"ird","x":1,"model":"we\"ird"}"#);
}

#[test]
fn bad_bodies_are_refused() {
    assert_eq!(
        rewrite_chat_request(br#"{"messages":[]}"#, "m", true),
        Err(FormatError::MissingModel)
    );
    assert!(rewrite_chat_request(b"nope", "m", true).is_err());
    let e = rewrite_chat_request(
        br#"{"model":"a","stream":true,"stream_options":3}"#,
        "m",
        true,
    )
    .unwrap_err();
    assert_eq!(e.param(), Some("stream_options"));
}

#[test]
fn response_model_is_replaced_in_place() {
    let body = br#"{"id":"x","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[]}"#;
    let out = rewrite_chat_response_model(body, "gpt-4o").unwrap();
    assert_eq!(
        &out[..],
        br#"{"id":"x","object":"chat.completion","model":"gpt-4o","choices":[]}"#
    );
    // Nested `model` keys (e.g. inside a tool call's arguments) are not the response's model.
    let body = br#"{"choices":[{"message":{"model":"keep"}}]}"#;
    assert_eq!(&rewrite_chat_response_model(body, "x").unwrap()[..], body);
}

#[test]
fn chunk_events_are_encoded_with_the_public_model() {
    let chunk = br#"{"id":"c","model":"up-1","choices":[{"delta":{"content":"hi"}}]}"#;
    let info = crate::openai::inspect_chunk(std::str::from_utf8(chunk).unwrap()).unwrap();
    let ev = encode_chunk_event(chunk, info.model.clone(), "public");
    assert_eq!(
        &ev[..],
        b"data: {\"id\":\"c\",\"model\":\"public\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
    );
    assert_eq!(&replace_model(chunk, None, "public")[..], chunk);
    // A bogus range is ignored rather than trusted.
    assert_eq!(&replace_model(chunk, Some(5..500), "public")[..], chunk);
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[^\"]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(("[a-z_]{1,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every key other than `model` (and `stream_options` when streaming) keeps its exact value
    /// text and its position.
    #[test]
    fn rewrite_keeps_every_other_key_value_and_order(
        fields in proptest::collection::vec(("[a-z_]{1,10}", json_value()), 0..8),
        model_at in 0usize..8,
        stream in any::<bool>(),
        force in any::<bool>(),
        spacing in prop_oneof![Just(""), Just(" "), Just("\n  ")],
    ) {
        let mut entries: Vec<(String, String)> = fields
            .into_iter()
            .filter(|(k, _)| k != "model" && k != "stream" && k != "stream_options")
            .map(|(k, v)| (k, serde_json::to_string_pretty(&v).unwrap()))
            .collect();
        entries.insert(model_at.min(entries.len()), ("model".into(), "\"alias\"".into()));
        entries.push(("stream".into(), stream.to_string()));
        let body = format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{spacing}\"{k}\"{spacing}:{spacing}{v}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let out = rw(&body, "upstream-1", force);

        let mut got = Vec::new();
        crate::json::for_each_entry(&out, |k, v| {
            got.push((k.to_string(), v.get().to_string()));
            Ok(())
        })
        .unwrap();
        let mut want: Vec<(String, String)> = entries
            .into_iter()
            .map(|(k, v)| if k == "model" { (k, "\"upstream-1\"".into()) } else { (k, v) })
            .collect();
        if stream && force {
            want.push(("stream_options".into(), r#"{"include_usage":true}"#.into()));
        }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn rewrite_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = rewrite_chat_request(&bytes, "m", true);
        let _ = rewrite_chat_response_model(&bytes, "m");
    }
}

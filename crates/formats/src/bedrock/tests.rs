//! Event-stream framing, usage and request translation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate_domain::Usage;

use super::*;
use crate::FormatError;
use crate::translate::{
    ChatContent, ChatMessage, ChatRequest, ChatRole, FunctionCall, ToolCall, from_json,
};

fn chat(v: Value) -> ChatRequest {
    from_json(v.to_string().as_bytes()).unwrap()
}

fn to_converse(v: Value) -> (Value, Vec<String>, ToConverse) {
    let t = openai_to_converse_request(chat(v)).unwrap();
    let fields = t.warnings.iter().map(|w| w.field.to_string()).collect();
    (serde_json::to_value(&t.request).unwrap(), fields, t)
}

// ---- event stream ----

pub(super) fn body_of(frames: &[(&str, &str, Value)]) -> Vec<u8> {
    frames
        .iter()
        .flat_map(|(m, e, p)| encode_frame(m, e, p.to_string().as_bytes()))
        .collect()
}

fn decode_all(chunks: &[&[u8]]) -> Result<Vec<Frame>, FormatError> {
    let mut d = EventStreamDecoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.push(c);
        while let Some(f) = d.next_frame()? {
            out.push(f);
        }
    }
    assert!(!d.has_partial_frame());
    Ok(out)
}

#[test]
fn bedrock_frames_round_trip_with_their_type_headers() {
    let body = body_of(&[
        ("event", "messageStart", json!({"role": "assistant"})),
        (
            "exception",
            "throttlingException",
            json!({"message": "slow down"}),
        ),
    ]);
    let frames = decode_all(&[&body]).unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].message_type, "event");
    assert_eq!(frames[0].event_type, "messageStart");
    assert_eq!(&frames[0].payload[..], br#"{"role":"assistant"}"#);
    assert_eq!(frames[1].message_type, "exception");
    assert_eq!(frames[1].event_type, "throttlingException");
}

#[test]
fn bedrock_corrupted_crc_is_an_error_that_sticks() {
    let mut body = body_of(&[("event", "messageStart", json!({"role": "assistant"}))]);
    let last = body.len() - 1;
    body[last] ^= 0xff;
    let mut d = EventStreamDecoder::new();
    // Only the prelude so far: nothing to return, but a frame is under way.
    d.push(&body[..12]);
    assert_eq!(d.next_frame(), Ok(None));
    assert!(d.has_partial_frame());
    d.push(&body[12..]);
    assert!(d.next_frame().is_err());
    // A broken stream stays broken, even with a good frame after it.
    d.push(&body_of(&[(
        "event",
        "messageStart",
        json!({"role": "assistant"}),
    )]));
    assert!(d.next_frame().is_err());

    // A flipped payload byte is caught by the message CRC too.
    let mut body = body_of(&[("event", "messageStart", json!({"role": "assistant"}))]);
    let mid = body.len() - 8;
    body[mid] ^= 0x01;
    assert!(decode_all(&[&body]).is_err());
}

proptest! {
    #[test]
    fn bedrock_frames_decode_the_same_under_any_chunking(
        texts in proptest::collection::vec(".{0,40}", 1..6),
        cuts in proptest::collection::vec(0usize..2000, 0..12),
    ) {
        let frames: Vec<(&str, &str, Value)> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| ("event", "contentBlockDelta", json!({"contentBlockIndex": i, "delta": {"text": t}})))
            .collect();
        let body = body_of(&frames);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut at = 0;
        for c in cuts {
            chunks.push(&body[at..c]);
            at = c;
        }
        chunks.push(&body[at..]);
        let decoded = decode_all(&chunks).unwrap();
        prop_assert_eq!(decoded.len(), texts.len());
        for (i, f) in decoded.iter().enumerate() {
            let v: Value = serde_json::from_slice(&f.payload).unwrap();
            prop_assert_eq!(&v["delta"]["text"], &json!(texts[i]));
        }
    }
}

// ---- usage ----

#[test]
fn bedrock_usage_adds_cache_tokens_to_input() {
    let u: ConverseUsage = serde_json::from_value(json!({
        "inputTokens": 10, "outputTokens": 5, "totalTokens": 1515,
        "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 500
    }))
    .unwrap();
    assert_eq!(
        u.to_usage(),
        Usage {
            units: None,
            input_tokens: 1510,
            output_tokens: 5,
            cached_input_tokens: 1000,
            cache_write_tokens: 500,
            reasoning_tokens: 0
        }
    );
    // Without cache fields input is input.
    let plain: ConverseUsage =
        serde_json::from_value(json!({"inputTokens": 7, "outputTokens": 3, "totalTokens": 10}))
            .unwrap();
    assert_eq!(plain.to_usage().input_tokens, 7);
    // A total that shows the cache counted inside inputTokens is not counted twice.
    let inclusive: ConverseUsage = serde_json::from_value(json!({
        "inputTokens": 1510, "outputTokens": 5, "totalTokens": 1515, "cacheReadInputTokens": 1000
    }))
    .unwrap();
    assert_eq!(inclusive.to_usage().input_tokens, 1510);
    assert_eq!(inclusive.to_usage().cached_input_tokens, 1000);
    // And back.
    let back = ConverseUsage::from_usage(&u.to_usage());
    assert_eq!(back.to_usage(), u.to_usage());
    assert_eq!(back.input_tokens, 10);
}

// ---- requests ----

#[test]
fn bedrock_request_hoists_system_maps_config_and_reports_the_rest() {
    let (body, warnings, t) = to_converse(json!({
        "model": "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "No jokes.", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": "Hi"}
        ],
        "max_completion_tokens": 100, "temperature": 0.5, "top_p": 0.9, "stop": "END",
        "stream": true, "stream_options": {"include_usage": true}, "seed": 1
    }));
    assert_eq!(
        body,
        json!({
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "system": [{"text": "Be brief."}, {"text": "No jokes."}, {"cachePoint": {"type": "default"}}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]}
        })
    );
    assert_eq!(warnings, vec!["seed"]);
    assert!(t.include_usage && t.stream);
    assert!(body.get("model").is_none(), "the model goes in the URL");
}

#[test]
fn bedrock_request_tool_turns_alternate_and_merge_results() {
    let (body, _, _) = to_converse(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "b", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "a", "content": "sunny"},
            {"role": "tool", "tool_call_id": "b", "content": "rain"},
            {"role": "user", "content": "Thanks"}
        ],
        "tools": [{"type": "function", "function": {"name": "w", "description": "Weather", "parameters": {"type": "object"}}}],
        "tool_choice": "required"
    }));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]},
            {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "a", "name": "w", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "b", "name": "w", "input": {"city": "Rome"}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "a", "content": [{"text": "sunny"}]}},
                {"toolResult": {"toolUseId": "b", "content": [{"text": "rain"}]}},
                {"text": "Thanks"}
            ]}
        ])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "w", "description": "Weather", "inputSchema": {"json": {"type": "object"}}}}],
               "toolChoice": {"any": {}}})
    );
}

#[test]
fn bedrock_request_tool_choice_none_and_named() {
    let tools = json!([{"type": "function", "function": {"name": "w"}}]);
    let (body, warnings, _) = to_converse(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "tools": tools, "tool_choice": "none"}),
    );
    assert!(body.get("toolConfig").is_none());
    assert_eq!(warnings, vec!["tools"]);
    let (body, _, _) = to_converse(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "tools": tools, "tool_choice": {"type": "function", "function": {"name": "w"}}}),
    );
    assert_eq!(
        body["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "w"}})
    );
    // With tool calls in the history the tools must stay (Bedrock refuses toolUse without them).
    let (body, warnings, _) = to_converse(
        json!({"model": "m", "tools": tools, "tool_choice": "none",
        "messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "ok"}]}),
    );
    assert!(body["toolConfig"]["toolChoice"].is_null());
    assert_eq!(body["toolConfig"]["tools"].as_array().unwrap().len(), 1);
    assert_eq!(warnings, vec!["tool_choice"]);
}

#[test]
fn bedrock_request_images_need_data_urls() {
    let (body, _, _) = to_converse(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}}
        ]}]}),
    );
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"image": {"format": "jpeg", "source": {"bytes": "QUJD"}}})
    );
    let err = openai_to_converse_request(chat(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
    ))
    .unwrap_err();
    assert_eq!(err.code(), Some("invalid_value"));
    assert!(err.to_string().contains("data: URLs"));
}

#[test]
fn bedrock_request_structured_output_becomes_a_forced_tool() {
    let (body, _, t) = to_converse(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}}),
    );
    assert_eq!(t.json_tool.as_deref(), Some("person"));
    assert_eq!(
        body["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "person"}})
    );
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["properties"]["name"]["type"],
        "string"
    );
    let err = openai_to_converse_request(chat(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "w"}}],
        "response_format": {"type": "json_object"}}),
    ))
    .unwrap_err();
    assert_eq!(err.param(), Some("response_format"));
}

#[test]
fn bedrock_request_reasoning_effort_is_thinking_for_anthropic_models_only() {
    let (body, warnings, _) = to_converse(
        json!({"model": "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "medium", "temperature": 0.3}),
    );
    assert_eq!(
        body["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 4096}})
    );
    assert_eq!(body["inferenceConfig"]["maxTokens"], 4096 + 4096);
    assert!(body["inferenceConfig"].get("temperature").is_none());
    assert_eq!(warnings, vec!["temperature"]);
    let (body, warnings, _) = to_converse(json!({"model": "amazon.nova-pro-v1:0",
        "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high"}));
    assert!(body.get("additionalModelRequestFields").is_none());
    assert_eq!(warnings, vec!["reasoning_effort"]);
}

#[test]
fn bedrock_request_refuses_what_it_cannot_express() {
    let n = openai_to_converse_request(chat(
        json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]}),
    ));
    assert_eq!(n.unwrap_err().param(), Some("n"));
    let args = openai_to_converse_request(chat(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "w", "arguments": "[1]"}}]}]}),
    ));
    assert!(args.is_err());
}

#[test]
fn bedrock_converse_request_to_openai() {
    let req: ConverseRequest = serde_json::from_value(json!({
        "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
        "messages": [
            {"role": "user", "content": [{"text": "Weather?"}, {"image": {"format": "png", "source": {"bytes": "QUJD"}}}]},
            {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}},
                {"toolUse": {"toolUseId": "t1", "name": "w", "input": {"city": "Paris"}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 20}}], "status": "success"}}, {"text": "ok?"}]}
        ],
        "inferenceConfig": {"maxTokens": 50, "stopSequences": ["x"]},
        "toolConfig": {"tools": [{"toolSpec": {"name": "w", "inputSchema": {"json": {"type": "object"}}}}], "toolChoice": {"auto": {}}},
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2000}, "top_k": 5}
    }))
    .unwrap();
    let t = converse_to_openai_request(req, "gpt-4o").unwrap();
    let v = serde_json::to_value(&t.value).unwrap();
    assert_eq!(v["model"], "gpt-4o");
    assert_eq!(
        v["messages"][0],
        json!({"role": "system", "content": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]})
    );
    assert_eq!(
        v["messages"][1]["content"][1]["image_url"]["url"],
        "data:image/png;base64,QUJD"
    );
    assert_eq!(
        v["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(v["messages"][2]["reasoning_content"], "hmm");
    assert_eq!(
        v["messages"][3],
        json!({"role": "tool", "content": "{\"temp\":20}", "tool_call_id": "t1"})
    );
    assert_eq!(v["messages"][4], json!({"role": "user", "content": "ok?"}));
    assert_eq!(v["max_tokens"], 50);
    assert_eq!(v["stop"], json!(["x"]));
    assert_eq!(v["tool_choice"], "auto");
    assert_eq!(v["reasoning_effort"], "low");
    let fields: Vec<String> = t.warnings.iter().map(|w| w.field.to_string()).collect();
    assert!(
        fields.contains(&"additionalModelRequestFields.top_k".to_owned()),
        "{fields:?}"
    );
}

/// A conversation an OpenAI client could send: user turns, assistant turns with text or tool
/// calls, and one tool message per call.
fn conversation() -> impl Strategy<Value = Vec<ChatMessage>> {
    let text = "[a-zA-Z0-9 ]{1,12}";
    let turn = (
        text,
        proptest::option::of(proptest::collection::vec(("[a-z]{1,6}", 0u32..100), 1..3)),
        text,
    );
    proptest::collection::vec(turn, 1..4).prop_map(|turns| {
        let mut out = Vec::new();
        for (k, (user, calls, answer)) in turns.into_iter().enumerate() {
            out.push(ChatMessage::new(
                ChatRole::User,
                Some(ChatContent::Text(user)),
            ));
            match calls {
                Some(calls) => {
                    let mut m = ChatMessage::new(ChatRole::Assistant, None);
                    let calls: Vec<ToolCall> = calls
                        .into_iter()
                        .enumerate()
                        .map(|(j, (name, n))| ToolCall {
                            id: format!("call_{k}_{j}"),
                            kind: "function".to_owned(),
                            function: FunctionCall {
                                name,
                                arguments: json!({"n": n}).to_string(),
                            },
                        })
                        .collect();
                    for c in &calls {
                        let mut r = ChatMessage::new(
                            ChatRole::Tool,
                            Some(ChatContent::Text(format!("result {}", c.id))),
                        );
                        r.tool_call_id = Some(c.id.clone());
                        out.push(r);
                    }
                    let at = out.len() - calls.len();
                    m.tool_calls = Some(calls);
                    out.insert(at, m);
                }
                None => out.push(ChatMessage::new(
                    ChatRole::Assistant,
                    Some(ChatContent::Text(answer)),
                )),
            }
        }
        out
    })
}

proptest! {
    #[test]
    fn bedrock_openai_to_converse_to_openai_keeps_the_conversation(msgs in conversation()) {
        let req = ChatRequest { model: "m".to_owned(), messages: msgs.clone(), ..ChatRequest::default() };
        let converse = openai_to_converse_request(req).unwrap();
        prop_assert!(converse.warnings.is_empty());
        // Roles alternate, starting with the user.
        for (i, m) in converse.request.messages.iter().enumerate() {
            prop_assert_eq!(m.role, if i % 2 == 0 { Role::User } else { Role::Assistant });
        }
        let back = converse_to_openai_request(converse.request, "m").unwrap();
        prop_assert_eq!(back.value.messages, msgs);
    }
}

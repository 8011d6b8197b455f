#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate_domain::Usage;

use super::*;
use crate::sse::SseDecoder;
use crate::translate::{
    ChatContent, ChatMessage, ChatRequest, ChatRole, FunctionCall as Call, OpenAiStreamEvent,
    ToolCall, from_json,
};

fn openai(v: Value) -> ChatRequest {
    from_json(v.to_string().as_bytes()).unwrap()
}

fn gemini(req: ChatRequest) -> (Value, Vec<String>) {
    let t = openai_to_gemini_request(req).unwrap();
    (
        serde_json::to_value(&t.value).unwrap(),
        t.warnings.iter().map(|w| w.field.to_string()).collect(),
    )
}

#[test]
fn usage_adds_tool_prompt_and_thoughts_but_not_cached_tokens() {
    let u: UsageMetadata = serde_json::from_value(json!({
        "promptTokenCount": 1000, "cachedContentTokenCount": 600,
        "toolUsePromptTokenCount": 50, "candidatesTokenCount": 200,
        "thoughtsTokenCount": 300, "totalTokenCount": 1550
    }))
    .unwrap();
    let usage = u.to_usage();
    assert_eq!(
        usage,
        Usage {
            units: None,
            input_tokens: 1050,
            output_tokens: 500,
            cached_input_tokens: 600,
            cache_write_tokens: 0,
            reasoning_tokens: 300,
        }
    );
    // Google's total is prompt + tool prompt + candidates + thoughts: nothing double counted.
    assert_eq!(
        usage.input_tokens + usage.output_tokens,
        u.total_token_count.unwrap()
    );
    let back = UsageMetadata::from_usage(&Usage {
        units: None,
        input_tokens: 1000,
        output_tokens: 500,
        cached_input_tokens: 600,
        cache_write_tokens: 0,
        reasoning_tokens: 300,
    });
    assert_eq!(back.candidates_token_count, Some(200));
    assert_eq!(back.thoughts_token_count, Some(300));
    assert_eq!(back.total_token_count, Some(1500));
    assert_eq!(UsageMetadata::default().to_usage(), Usage::default());
}

#[test]
fn tool_results_take_the_name_of_the_call_they_answer() {
    let (g, warnings) = gemini(openai(json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "forecast", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_b", "content": "rain"},
            {"role": "tool", "tool_call_id": "call_a", "content": "sun"},
            {"role": "user", "content": "thanks"}
        ]
    })));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        g["systemInstruction"],
        json!({"parts": [{"text": "be brief"}]})
    );
    assert_eq!(g["contents"][1]["role"], "model");
    assert_eq!(
        g["contents"][1]["parts"][1]["functionCall"],
        json!({"name": "forecast", "args": {"city": "Rome"}})
    );
    // Both results in one user turn, in order, each with its function's name.
    assert_eq!(
        g["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "forecast", "response": {"output": "rain"}}},
            {"functionResponse": {"name": "weather", "response": {"output": "sun"}}}
        ]})
    );
    assert_eq!(
        g["contents"][3],
        json!({"role": "user", "parts": [{"text": "thanks"}]})
    );
}

#[test]
fn a_tool_result_for_an_unknown_call_is_refused() {
    let err = openai_to_gemini_request(openai(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"},
                     {"role": "tool", "tool_call_id": "nope", "content": "x"}]
    })))
    .unwrap_err();
    assert_eq!(err.param(), Some("messages"));
}

#[test]
fn empty_messages_are_left_out_and_reported() {
    let (g, warnings) = gemini(openai(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""},
                     {"role": "user", "content": "again"}]
    })));
    assert_eq!(g["contents"].as_array().unwrap().len(), 2);
    assert_eq!(warnings, ["messages[1]"]);
}

#[test]
fn non_object_tool_arguments_are_refused() {
    let err = openai_to_gemini_request(openai(json!({
        "model": "m",
        "messages": [{"role": "assistant", "content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]
    })))
    .unwrap_err();
    assert_eq!(err.code(), Some("invalid_value"));
}

#[test]
fn sampling_tools_and_formats_map_to_generation_config() {
    let (g, warnings) = gemini(openai(json!({
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?x=1", "detail": "high"}}
        ]}],
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up",
                   "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "additionalProperties": false}}}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "parallel_tool_calls": false,
        "max_tokens": 100, "max_completion_tokens": 50, "temperature": 0.3, "top_p": 0.9,
        "stop": "END", "seed": 7, "n": 2, "presence_penalty": 0.5, "frequency_penalty": 0.25,
        "logprobs": true, "top_logprobs": 3, "reasoning_effort": "low",
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        "user": "u1", "metadata": {"a": "b"}
    })));
    let (_, stray) = gemini(openai(json!({
        "model": "m", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2
    })));
    assert_eq!(stray, ["top_logprobs"]);
    assert_eq!(
        g["contents"][0]["parts"],
        json!([
            {"text": "what is this?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.JPG?x=1"}}
        ])
    );
    assert_eq!(
        g["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["additionalProperties"],
        false
    );
    assert_eq!(
        g["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}})
    );
    assert_eq!(
        g["generationConfig"],
        json!({
            "temperature": 0.3, "topP": 0.9, "maxOutputTokens": 50, "stopSequences": ["END"],
            "candidateCount": 2, "seed": 7, "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"}, "presencePenalty": 0.5,
            "frequencyPenalty": 0.25, "responseLogprobs": true, "logprobs": 3,
            "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}
        })
    );
    let mut w = warnings;
    w.sort();
    assert_eq!(
        w,
        [
            "messages[0].content[2].image_url.detail",
            "metadata",
            "parallel_tool_calls",
            "user"
        ]
    );
}

#[test]
fn tool_choice_modes_map_to_calling_modes() {
    for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
        let (g, _) = gemini(openai(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": choice
        })));
        assert_eq!(g["toolConfig"]["functionCallingConfig"]["mode"], mode);
    }
    let err = openai_to_gemini_request(openai(json!({
        "model": "m", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "sometimes"
    })))
    .unwrap_err();
    assert_eq!(err.param(), Some("tool_choice"));
}

#[test]
fn json_object_sets_only_the_mime_type() {
    let (g, _) = gemini(openai(json!({
        "model": "m", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_object"}
    })));
    assert_eq!(
        g["generationConfig"],
        json!({"responseMimeType": "application/json"})
    );
}

fn response(v: Value) -> GenerateContentResponse {
    serde_json::from_value(v).unwrap()
}

#[test]
fn function_calls_get_ids_and_finish_with_tool_calls() {
    let t = gemini_to_openai_response(
        response(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "thinking...", "thought": true},
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"name": "weather", "args": {"city": "Rome"}}}
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 20,
                              "thoughtsTokenCount": 5, "cachedContentTokenCount": 4, "totalTokenCount": 35},
            "modelVersion": "gemini-2.5-flash", "responseId": "r1"
        })),
        "gemini-2.5-flash",
        "chatcmpl-1",
        1_700_000_000,
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    let c = serde_json::to_value(&t.value).unwrap();
    let m = &c["choices"][0]["message"];
    assert_eq!(m["content"], Value::Null);
    assert_eq!(m["reasoning_content"], "thinking...");
    assert_eq!(m["tool_calls"][0]["id"], "call_0__thought_signature__c2ln");
    assert_eq!(m["tool_calls"][1]["id"], "call_1");
    assert_eq!(
        m["tool_calls"][1]["function"],
        json!({"name": "weather", "arguments": "{\"city\":\"Rome\"}"})
    );
    assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        c["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 25, "total_tokens": 35,
               "prompt_tokens_details": {"cached_tokens": 4},
               "completion_tokens_details": {"reasoning_tokens": 5}})
    );

    // The signature goes back to Gemini on the call when the client continues.
    let mut assistant = ChatMessage::new(ChatRole::Assistant, None);
    assistant.tool_calls = t.value.choices[0].message.tool_calls.clone();
    let mut tool = ChatMessage::new(ChatRole::Tool, Some(ChatContent::Text("sunny".into())));
    tool.tool_call_id = Some("call_0__thought_signature__c2ln".into());
    let req = ChatRequest {
        model: "m".into(),
        messages: vec![
            ChatMessage::new(ChatRole::User, Some(ChatContent::Text("hi".into()))),
            assistant,
            tool,
        ],
        ..ChatRequest::default()
    };
    let (g, _) = gemini(req);
    assert_eq!(g["contents"][1]["parts"][0]["thoughtSignature"], "c2ln");
    assert_eq!(
        g["contents"][1]["parts"][0]["functionCall"],
        json!({"name": "weather", "args": {"city": "Paris"}})
    );
    assert_eq!(
        g["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "weather", "response": {"output": "sunny"}})
    );
}

#[test]
fn finish_reasons_map_to_openai() {
    for (gemini, openai) in [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("OTHER", "stop"),
    ] {
        let t = gemini_to_openai_response(
            response(
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]},
                                             "finishReason": gemini}]}),
            ),
            "m",
            "id",
            0,
        );
        assert_eq!(t.value.choices[0].finish_reason.as_deref(), Some(openai));
    }
    let blocked = gemini_to_openai_response(
        response(json!({"promptFeedback": {"blockReason": "SAFETY"}})),
        "m",
        "id",
        0,
    );
    assert_eq!(
        blocked.value.choices[0].finish_reason.as_deref(),
        Some("content_filter")
    );
}

#[test]
fn openai_responses_become_gemini_candidates() {
    let c = from_json(
        json!({"id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "gpt-4o",
               "choices": [{"index": 0, "finish_reason": "length",
                            "message": {"role": "assistant", "content": "Hello", "reasoning_content": "hmm",
                                        "tool_calls": [{"id": "c1", "type": "function",
                                                        "function": {"name": "f", "arguments": "not json"}}]}}],
               "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21,
                         "completion_tokens_details": {"reasoning_tokens": 2}}})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let t = openai_to_gemini_response(c).unwrap();
    let g = serde_json::to_value(&t.value).unwrap();
    assert_eq!(
        g["candidates"][0]["content"]["parts"],
        json!([{"text": "hmm", "thought": true}, {"text": "Hello"},
               {"functionCall": {"id": "c1", "name": "f", "args": {"arguments": "not json"}}}])
    );
    assert_eq!(g["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(
        g["usageMetadata"],
        json!({"promptTokenCount": 9, "candidatesTokenCount": 10, "thoughtsTokenCount": 2, "totalTokenCount": 21})
    );
    assert_eq!(t.warnings.len(), 1);
}

/// A recorded-style Gemini SSE body: text in two chunks, then two parallel calls, then the
/// finish with usage. Lines end in `\r\n` as Google's do.
const SSE_BODY: &str = concat!(
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Let me \"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"totalTokenCount\": 8},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"check \u{e9}t\u{e9}.\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"totalTokenCount\": 8},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"weather\",\"args\": {\"city\": \"Paris\"}}},{\"functionCall\": {\"name\": \"weather\",\"args\": {\"city\": \"Rome\"}}}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"candidatesTokenCount\": 20,\"thoughtsTokenCount\": 4,\"totalTokenCount\": 32},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}\r\n\r\n",
);

fn translate_stream(chunks: &[&[u8]], include_usage: bool) -> (Vec<Value>, GeminiToOpenAiStream) {
    let mut dec = SseDecoder::new();
    let mut t = GeminiToOpenAiStream::new("chatcmpl-x".into(), 7, include_usage);
    let mut events = Vec::new();
    for c in chunks {
        dec.push(c);
        while let Some(ev) = dec.next_event() {
            t.push_data(&ev.data, &mut events).unwrap();
        }
    }
    t.finish(&mut events);
    let out = events
        .iter()
        .map(|e| match e {
            OpenAiStreamEvent::Chunk(c) => serde_json::to_value(c).unwrap(),
            OpenAiStreamEvent::Done => json!("[DONE]"),
            OpenAiStreamEvent::Error {
                message,
                kind,
                code,
            } => {
                json!({"error": {"message": message, "type": kind, "code": code}})
            }
        })
        .collect();
    (out, t)
}

#[test]
fn a_stream_becomes_openai_chunks_with_distinct_tool_indexes() {
    let (events, t) = translate_stream(&[SSE_BODY.as_bytes()], true);
    let deltas: Vec<&Value> = events
        .iter()
        .filter_map(|e| e.get("choices").and_then(|c| c.get(0)))
        .map(|c| &c["delta"])
        .collect();
    assert_eq!(deltas[0], &json!({"role": "assistant", "content": ""}));
    assert_eq!(deltas[1], &json!({"content": "Let me "}));
    assert_eq!(deltas[2], &json!({"content": "check été."}));
    assert_eq!(
        deltas[3]["tool_calls"],
        json!([{"index": 0, "id": "call_0", "type": "function",
                "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    assert_eq!(deltas[4]["tool_calls"][0]["index"], 1);
    assert_eq!(deltas[4]["tool_calls"][0]["id"], "call_1");
    let n = events.len();
    assert_eq!(events[n - 3]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(events[n - 2]["choices"], json!([]));
    assert_eq!(events[n - 2]["usage"]["completion_tokens"], 24);
    assert_eq!(
        events[n - 2]["usage"]["completion_tokens_details"]["reasoning_tokens"],
        4
    );
    assert_eq!(events[n - 1], json!("[DONE]"));
    assert_eq!(events[1]["model"], "gemini-2.5-flash");
    assert_eq!(t.usage().unwrap().input_tokens, 8);
    assert_eq!(t.usage().unwrap().output_tokens, 24);
    assert!(t.output_bytes() > 0);
}

#[test]
fn a_stream_cut_before_the_finish_ends_in_an_error() {
    let cut = &SSE_BODY[..SSE_BODY.rfind("data:").unwrap()];
    let (events, _) = translate_stream(&[cut.as_bytes()], true);
    let last = events.last().unwrap();
    assert_eq!(last["error"]["code"], "upstream_error");
    assert!(!events.contains(&json!("[DONE]")));
}

#[test]
fn an_error_inside_the_stream_becomes_an_error_event() {
    let body = "data: {\"error\": {\"code\": 429, \"message\": \"Resource has been exhausted (e.g. check quota).\", \"status\": \"RESOURCE_EXHAUSTED\"}}\r\n\r\n";
    let (events, _) = translate_stream(&[body.as_bytes()], false);
    assert_eq!(
        events,
        vec![
            json!({"error": {"message": "Resource has been exhausted (e.g. check quota).",
                              "type": "rate_limit_error", "code": "rate_limit_exceeded"}})
        ]
    );
}

proptest! {
    #[test]
    fn the_stream_translation_ignores_how_the_body_is_split(
        cuts in proptest::collection::vec(0usize..SSE_BODY.len(), 0..12),
        include_usage in any::<bool>(),
    ) {
        let bytes = SSE_BODY.as_bytes();
        let mut cuts = cuts;
        cuts.sort_unstable();
        cuts.dedup();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for c in cuts {
            chunks.push(&bytes[prev..c]);
            prev = c;
        }
        chunks.push(&bytes[prev..]);
        let (whole, _) = translate_stream(&[bytes], include_usage);
        let (split, _) = translate_stream(&chunks, include_usage);
        prop_assert_eq!(whole, split);
    }
}

#[test]
fn errors_are_read_and_context_length_is_recognised() {
    let body = br#"{"error": {"code": 400, "message": "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}"#;
    let (code, status, message) = error_message(body).unwrap();
    assert_eq!((code, status.as_str()), (400, "INVALID_ARGUMENT"));
    assert!(is_context_length(&status, &message));
    let wrapped = br#"[{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]"#;
    assert_eq!(error_message(wrapped).unwrap().0, 503);
    assert!(!is_context_length("INVALID_ARGUMENT", "API key not valid."));
    assert!(!is_context_length("RESOURCE_EXHAUSTED", &message));
    assert!(error_message(b"<html>").is_none());
    assert!(error_message(br#"{"candidates": []}"#).is_none());
}

#[test]
fn embeddings_map_both_ways() {
    let req = openai_to_gemini_embeddings(
        br#"{"model": "text-embedding-3-small", "input": ["a b", "c"], "dimensions": 256}"#,
        "gemini-embedding-001",
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&req).unwrap(),
        json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a b"}]}, "outputDimensionality": 256},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "c"}]}, "outputDimensionality": 256}
        ]})
    );
    for bad in [
        &br#"{"input": [1, 2, 3]}"#[..],
        br#"{"input": "x", "encoding_format": "int8"}"#,
        br#"{"input": []}"#,
        br#"{"model": "m"}"#,
        b"[]",
        b"{nope",
    ] {
        assert!(openai_to_gemini_embeddings(bad, "m").is_err());
    }
    let resp: BatchEmbedContentsResponse = serde_json::from_value(
        json!({"embeddings": [{"values": [0.5, -0.25]}, {"values": [1.0]}]}),
    )
    .unwrap();
    assert_eq!(
        gemini_to_openai_embeddings(resp, "gemini-embedding-001", 3),
        json!({"object": "list", "model": "gemini-embedding-001",
               "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
                        {"object": "embedding", "index": 1, "embedding": [1.0]}],
               "usage": {"prompt_tokens": 3, "total_tokens": 3}})
    );
}

#[test]
fn base64_embeddings_are_little_endian_f32_bytes() {
    let body = br#"{"input": "x", "encoding_format": "base64"}"#;
    assert!(openai_to_gemini_embeddings(body, "m").is_ok());
    assert!(wants_base64(body));
    assert!(!wants_base64(br#"{"input": "x"}"#));
    let resp: BatchEmbedContentsResponse =
        serde_json::from_value(json!({"embeddings": [{"values": [1.0, -2.0]}, {"values": [0.5]}]}))
            .unwrap();
    let v = gemini_to_openai_embeddings_base64(resp, "m", 1);
    // 1.0f32 = 00 00 80 3f, -2.0f32 = 00 00 00 c0; 0.5f32 = 00 00 00 3f.
    assert_eq!(v["data"][0]["embedding"], "AACAPwAAAMA=");
    assert_eq!(v["data"][1]["embedding"], "AAAAPw==");
    assert_eq!(v["usage"]["prompt_tokens"], 1);
}

#[test]
fn snake_case_fields_from_googles_curl_examples_are_read() {
    let r: GenerateContentRequest = serde_json::from_value(json!({
        "system_instruction": {"parts": [{"text": "You are a cat."}]},
        "contents": [{"parts": [{"inline_data": {"mime_type": "image/jpeg", "data": "AA=="}}]}],
        "generation_config": {"max_output_tokens": 5}
    }))
    .unwrap();
    assert!(r.system_instruction.is_some());
    assert_eq!(
        r.contents[0].parts[0]
            .inline_data
            .as_ref()
            .unwrap()
            .mime_type,
        "image/jpeg"
    );
    assert_eq!(r.generation_config.unwrap().max_output_tokens, Some(5));
    assert!(r.extra.is_empty());
}

// --- Round trip: OpenAI → Gemini → OpenAI keeps the conversation. ---

#[derive(Clone, Debug)]
enum Turn {
    User(String),
    /// Text, and calls (name, argument value).
    Assistant(Option<String>, Vec<(String, i64)>),
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 é.,!?\"\\\\]{1,16}"
}

fn turn() -> impl Strategy<Value = Turn> {
    prop_oneof![
        word().prop_map(Turn::User),
        (
            proptest::option::of(word()),
            proptest::collection::vec(("[a-z_]{1,8}", any::<i64>()), 0..3)
        )
            .prop_filter("an assistant turn says or calls something", |(t, c)| {
                t.is_some() || !c.is_empty()
            })
            .prop_map(|(t, c)| Turn::Assistant(t, c)),
    ]
}

/// OpenAI messages for the turns: every call is answered by a tool message right after.
fn messages(system: Option<String>, turns: &[Turn]) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    if let Some(s) = system {
        out.push(ChatMessage::new(
            ChatRole::System,
            Some(ChatContent::Text(s)),
        ));
    }
    let mut n = 0;
    for t in turns {
        match t {
            Turn::User(s) => out.push(ChatMessage::new(
                ChatRole::User,
                Some(ChatContent::Text(s.clone())),
            )),
            Turn::Assistant(text, calls) => {
                let mut m =
                    ChatMessage::new(ChatRole::Assistant, text.clone().map(ChatContent::Text));
                let mut results = Vec::new();
                let mut tool_calls = Vec::new();
                for (name, arg) in calls {
                    let id = format!("call_rt{n}");
                    n += 1;
                    tool_calls.push(ToolCall {
                        id: id.clone(),
                        kind: "function".into(),
                        function: Call {
                            name: name.clone(),
                            arguments: json!({"x": arg}).to_string(),
                        },
                    });
                    let mut r = ChatMessage::new(
                        ChatRole::Tool,
                        Some(ChatContent::Text(format!("result {arg}"))),
                    );
                    r.tool_call_id = Some(id);
                    results.push(r);
                }
                m.tool_calls = (!tool_calls.is_empty()).then_some(tool_calls);
                out.push(m);
                out.extend(results);
            }
        }
    }
    out
}

proptest! {
    #[test]
    fn openai_to_gemini_and_back_keeps_the_conversation(
        system in proptest::option::of(word()),
        turns in proptest::collection::vec(turn(), 1..8),
    ) {
        let original = messages(system, &turns);
        let req = ChatRequest { model: "m".into(), messages: original.clone(), ..ChatRequest::default() };
        let there = openai_to_gemini_request(req).unwrap();
        prop_assert!(there.warnings.is_empty());
        // Through JSON, as it travels.
        let wire = serde_json::to_vec(&there.value).unwrap();
        let parsed: GenerateContentRequest = serde_json::from_slice(&wire).unwrap();
        let back = gemini_to_openai_request(parsed, "m").unwrap();
        prop_assert!(back.warnings.is_empty());
        let got = back.value.messages;
        prop_assert_eq!(got.len(), original.len());
        // Ids do not travel through Gemini; each result must still answer the same call.
        let mut id_map = std::collections::HashMap::new();
        for (a, b) in original.iter().zip(&got) {
            prop_assert_eq!(&a.role, &b.role);
            prop_assert_eq!(&a.content, &b.content);
            let calls = |m: &ChatMessage| -> Vec<(String, Value)> {
                m.tool_calls.iter().flatten().map(|c| (
                    c.function.name.clone(),
                    serde_json::from_str(&c.function.arguments).unwrap(),
                )).collect()
            };
            prop_assert_eq!(calls(a), calls(b));
            for (ca, cb) in a.tool_calls.iter().flatten().zip(b.tool_calls.iter().flatten()) {
                id_map.insert(ca.id.clone(), cb.id.clone());
            }
            if let Some(id) = &a.tool_call_id {
                prop_assert_eq!(id_map.get(id), b.tool_call_id.as_ref());
            }
        }
    }
}

//! The mock's real streams through Tollgate's translators, both directions: what an OpenAI SDK
//! would read from an Anthropic deployment, and what an Anthropic SDK would read from an
//! OpenAI-compatible one.

use serde_json::{Value, json};
use tollgate_formats::anthropic::StreamEvent;
use tollgate_formats::sse::SseDecoder;
use tollgate_formats::translate::{
    AnthropicToOpenAiStream, OpenAiStreamEvent, OpenAiToAnthropicStream,
};
use tollgate_mock_provider::MockOptions;

use crate::{PROMPT_TOKENS, chat_body, client, start, start_with_chunks};

async fn sse(response: reqwest::Response) -> Vec<String> {
    let mut dec = SseDecoder::new();
    dec.push(&response.bytes().await.unwrap());
    let mut out = Vec::new();
    while let Some(ev) = dec.next_event() {
        out.push(ev.data);
    }
    out
}

#[tokio::test]
async fn an_anthropic_stream_with_thinking_and_parallel_tools_reaches_openai_clients_whole() {
    let mock = start(MockOptions::default()).await;
    let body = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 100, "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [
            {"name": "a", "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}},
            {"name": "b", "input_schema": {"type": "object", "properties": {"y": {"type": "integer"}}, "required": ["y"]}}
        ],
        "messages": [{"role": "user", "content": "use all the tools"}]
    });
    let response = client()
        .post(format!("{}/messages", mock.base_url()))
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut t = AnthropicToOpenAiStream::new(1, true, None);
    let mut out = Vec::new();
    for data in sse(response).await {
        t.push_data(&data, &mut out).unwrap();
    }
    t.finish(&mut out);
    assert_eq!(out.last(), Some(&OpenAiStreamEvent::Done));
    let chunks: Vec<Value> = out
        .iter()
        .filter_map(|e| match e {
            OpenAiStreamEvent::Chunk(c) => Some(serde_json::to_value(c).unwrap()),
            _ => None,
        })
        .collect();
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, "Let me think this through.");
    // Rebuild the tool calls the way the OpenAI SDKs do: by index.
    let mut calls: Vec<(String, String)> = Vec::new();
    for c in &chunks {
        for tc in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = tc["index"].as_u64().unwrap() as usize;
            if calls.len() <= i {
                calls.resize(i + 1, (String::new(), String::new()));
            }
            if let Some(name) = tc["function"]["name"].as_str() {
                calls[i].0.push_str(name);
            }
            if let Some(args) = tc["function"]["arguments"].as_str() {
                calls[i].1.push_str(args);
            }
        }
    }
    let calls: Vec<(String, Value)> = calls
        .into_iter()
        .map(|(n, a)| (n, serde_json::from_str(&a).unwrap()))
        .collect();
    assert_eq!(
        calls,
        [
            ("a".to_owned(), json!({"x": "lorem"})),
            ("b".to_owned(), json!({"y": 1}))
        ]
    );
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str())
        .unwrap();
    assert_eq!(finish, "tool_calls");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 5 + 2 * 8);
    assert_eq!(t.usage().unwrap().output_tokens, 21);
}

#[tokio::test]
async fn an_openai_stream_reaches_anthropic_clients_with_framing_and_usage() {
    let mock = start_with_chunks(4).await;
    let mut body = chat_body(json!({"stream_options": {"include_usage": true}}));
    body["stream"] = json!(true);
    let response = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut t = OpenAiToAnthropicStream::new();
    let mut out = Vec::new();
    for data in sse(response).await {
        t.push_data(&data, &mut out).unwrap();
    }
    t.finish(&mut out);
    let kinds: Vec<&str> = out.iter().map(StreamEvent::kind).collect();
    assert_eq!(
        kinds,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let Some(StreamEvent::MessageDelta { usage, delta }) = out.get(7) else {
        panic!("message_delta expected");
    };
    assert_eq!(usage.input_tokens, Some(PROMPT_TOKENS));
    assert_eq!(usage.output_tokens, 4);
    assert_eq!(
        delta.stop_reason,
        Some(tollgate_formats::anthropic::StopReason::EndTurn)
    );
}

//! Bedrock Converse on the mock, over real HTTP: SigV4 header check, Bedrock's JSON and
//! event-stream shapes (read back with the gateway's own decoder), usage arithmetic and prompt
//! caching, tool use, and the faults mapped to Bedrock errors.

use serde_json::{Value, json};
use tollgate_formats::bedrock::{
    ConverseResponse, ConverseToOpenAiStream, EventStreamDecoder, Frame, error_message,
    is_context_length,
};
use tollgate_formats::translate::OpenAiStreamEvent;
use tollgate_mock_provider::{MockOptions, MockServer};

use crate::{client, start, start_with_chunks, with};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1%3A0";
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDMOCK/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00";

/// System "be terse" (2 words), user "what is the answer" (3 + 4): 2 + 7 + 3 = 12 tokens.
fn body(extra: Value) -> Value {
    with(
        json!({
            "system": [{"text": "be terse"}],
            "messages": [{"role": "user", "content": [{"text": "what is  the answer"}]}]
        }),
        extra,
    )
}

const PROMPT: u64 = 12;

fn post(mock: &MockServer, path: &str, b: &Value) -> reqwest::RequestBuilder {
    client()
        .post(format!("http://{}/model/{MODEL}/{path}", mock.addr()))
        .header("authorization", AUTH)
        .header("x-amz-date", "20260101T000000Z")
        .json(b)
}

async fn read_frames(response: reqwest::Response) -> (Vec<Frame>, bool) {
    let mut response = response;
    let mut decoder = EventStreamDecoder::new();
    let mut out = Vec::new();
    let cut = loop {
        match response.chunk().await {
            Ok(Some(b)) => {
                decoder.push(&b);
                while let Some(f) = decoder.next_frame().unwrap() {
                    out.push(f);
                }
            }
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    (out, cut)
}

fn payload(f: &Frame) -> Value {
    serde_json::from_slice(&f.payload).unwrap()
}

#[tokio::test]
async fn bedrock_converse_answers_in_bedrocks_shape_with_the_documented_usage() {
    let mock = start_with_chunks(4).await;
    let r = post(&mock, "converse", &body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["output"]["message"]["role"], "assistant");
    assert_eq!(
        v["output"]["message"]["content"],
        json!([{"text": "lorem ipsum dolor sit"}])
    );
    assert_eq!(v["stopReason"], "end_turn");
    assert_eq!(
        v["usage"],
        json!({"inputTokens": PROMPT, "outputTokens": 4, "totalTokens": PROMPT + 4})
    );
    // The gateway's model reads it.
    let typed: ConverseResponse = serde_json::from_value(v).unwrap();
    assert_eq!(typed.usage.to_usage().input_tokens, PROMPT);
    let stats = mock.stats();
    assert_eq!(stats.requests, 1);
    assert_eq!(stats.prompt_tokens, PROMPT);
    assert_eq!(stats.completion_tokens, 4);

    let capped = post(
        &mock,
        "converse",
        &body(json!({"inferenceConfig": {"maxTokens": 2}})),
    )
    .send()
    .await
    .unwrap();
    let v: Value = capped.json().await.unwrap();
    assert_eq!(v["stopReason"], "max_tokens");
    assert_eq!(v["usage"]["outputTokens"], 2);
}

#[tokio::test]
async fn bedrock_requests_without_sigv4_headers_are_refused() {
    let mock = start(MockOptions::default()).await;
    let url = format!("http://{}/model/{MODEL}/converse", mock.addr());
    let r = client()
        .post(&url)
        .header("authorization", "Bearer sk-test")
        .header("x-amz-date", "20260101T000000Z")
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
    let text = r.bytes().await.unwrap();
    assert!(error_message(&text).is_some());
    let no_date = client()
        .post(&url)
        .header("authorization", AUTH)
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(no_date.status(), 403);

    // With a key configured, the credential's access key id must be it.
    let keyed = start(MockOptions {
        api_key: Some("AKIDMOCK".to_owned()),
        ..MockOptions::default()
    })
    .await;
    let ok = post(&keyed, "converse", &body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = client()
        .post(format!("http://{}/model/{MODEL}/converse", keyed.addr()))
        .header("authorization", AUTH.replace("AKIDMOCK", "AKIDOTHER"))
        .header("x-amz-date", "20260101T000000Z")
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
}

#[tokio::test]
async fn bedrock_converse_stream_sends_event_stream_frames_in_bedrocks_order() {
    let mock = start_with_chunks(3).await;
    let r = post(&mock, "converse-stream", &body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let (frames, cut) = read_frames(r).await;
    assert!(!cut);
    let names: Vec<&str> = frames.iter().map(|f| f.event_type.as_str()).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert!(frames.iter().all(|f| f.message_type == "event"));
    // Payloads are the events' own objects, padded like Bedrock's.
    let delta = payload(&frames[1]);
    assert_eq!(delta["contentBlockIndex"], 0);
    assert_eq!(delta["delta"], json!({"text": "lorem"}));
    assert!(delta["p"].is_string());
    assert_eq!(payload(&frames[5])["stopReason"], "end_turn");
    assert_eq!(
        payload(&frames[6])["usage"],
        json!({"inputTokens": PROMPT, "outputTokens": 3, "totalTokens": PROMPT + 3})
    );

    // The gateway's translator turns it into a complete OpenAI stream.
    let mut s = ConverseToOpenAiStream::new("c".into(), "m".into(), 0, true, None);
    let mut events = Vec::new();
    for f in &frames {
        s.push_frame(f, &mut events).unwrap();
    }
    s.finish(&mut events);
    assert_eq!(events.last(), Some(&OpenAiStreamEvent::Done));
    assert_eq!(s.usage().unwrap().output_tokens, 3);
    assert_eq!(mock.stats().completion_tokens, 3);
}

#[tokio::test]
async fn bedrock_tools_are_used_in_parallel_when_asked() {
    let mock = start(MockOptions::default()).await;
    let tools = json!({"toolConfig": {"tools": [
        {"toolSpec": {"name": "weather", "description": "Get the weather",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}},
        {"toolSpec": {"name": "time", "inputSchema": {"json": {"type": "object"}}}}
    ]}});
    let mut b = body(tools.clone());
    b["messages"][0]["content"][0]["text"] = json!("please use all the tools");
    let v: Value = post(&mock, "converse", &b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["stopReason"], "tool_use");
    let content = v["output"]["message"]["content"].as_array().unwrap();
    assert_eq!(content.len(), 2);
    assert_eq!(content[0]["toolUse"]["name"], "weather");
    assert_eq!(content[0]["toolUse"]["input"], json!({"city": "lorem"}));
    assert_eq!(content[1]["toolUse"]["name"], "time");
    assert_eq!(v["usage"]["outputTokens"], 16);

    let r = post(&mock, "converse-stream", &b).send().await.unwrap();
    let (frames, _) = read_frames(r).await;
    let mut s = ConverseToOpenAiStream::new("c".into(), "m".into(), 0, false, None);
    let mut events = Vec::new();
    for f in &frames {
        s.push_frame(f, &mut events).unwrap();
    }
    let mut args = [String::new(), String::new()];
    for e in &events {
        if let OpenAiStreamEvent::Chunk(c) = e {
            for call in c.choices[0].delta.tool_calls.iter().flatten() {
                let a = call.function.as_ref().and_then(|f| f.arguments.as_deref());
                args[call.index as usize].push_str(a.unwrap_or(""));
            }
        }
    }
    assert_eq!(args, ["{\"city\":\"lorem\"}", "{}"]);
}

#[tokio::test]
async fn bedrock_cache_points_write_then_read_the_prefix() {
    let mock = start_with_chunks(1).await;
    let b = body(
        json!({"system": [{"text": "a long shared document here"}, {"cachePoint": {"type": "default"}}]}),
    );
    let first: Value = post(&mock, "converse", &b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // System 5 words cacheable; message 7 and priming 3 are not.
    assert_eq!(
        first["usage"],
        json!({"inputTokens": 10, "outputTokens": 1, "totalTokens": 16,
               "cacheReadInputTokens": 0, "cacheWriteInputTokens": 5})
    );
    let second: Value = post(&mock, "converse", &b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["usage"]["cacheReadInputTokens"], 5);
    assert_eq!(second["usage"]["cacheWriteInputTokens"], 0);
    let typed: ConverseResponse = serde_json::from_value(second).unwrap();
    assert_eq!(typed.usage.to_usage().input_tokens, 15);
    assert_eq!(typed.usage.to_usage().cached_input_tokens, 5);
    let stats = mock.stats();
    assert_eq!((stats.cache_read_tokens, stats.cache_write_tokens), (5, 5));
}

#[tokio::test]
async fn bedrock_faults_are_bedrock_errors() {
    let mock = start(MockOptions::default()).await;
    for (status, kind) in [
        (429, "ThrottlingException"),
        (503, "ServiceUnavailableException"),
        (500, "InternalServerException"),
        (400, "ValidationException"),
    ] {
        let r = post(&mock, "converse", &body(json!({})))
            .header("x-mock-error-status", status.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
        assert_eq!(r.headers()["x-amzn-errortype"], kind);
        assert!(error_message(&r.bytes().await.unwrap()).is_some());
    }

    let small = start(MockOptions {
        context_window: Some(5),
        ..MockOptions::default()
    })
    .await;
    let r = post(&small, "converse", &body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-amzn-errortype"], "ValidationException");
    let message = error_message(&r.bytes().await.unwrap()).unwrap();
    assert!(is_context_length(&message), "{message}");
}

#[tokio::test]
async fn bedrock_stream_faults_cut_the_connection_or_send_an_exception_frame() {
    let mock = start(MockOptions {
        chunks: 5,
        disconnect_after: Some(2),
        ..MockOptions::default()
    })
    .await;
    let r = post(&mock, "converse-stream", &body(json!({})))
        .send()
        .await
        .unwrap();
    let (frames, cut) = read_frames(r).await;
    assert!(cut, "the connection is reset");
    let names: Vec<&str> = frames.iter().map(|f| f.event_type.as_str()).collect();
    assert_eq!(
        names,
        ["messageStart", "contentBlockDelta", "contentBlockDelta"]
    );
    let mut s = ConverseToOpenAiStream::new("c".into(), "m".into(), 0, true, None);
    let mut events = Vec::new();
    for f in &frames {
        s.push_frame(f, &mut events).unwrap();
    }
    s.finish(&mut events);
    assert!(matches!(
        events.last(),
        Some(OpenAiStreamEvent::Error { .. })
    ));
    assert_eq!(mock.stats().completion_tokens, 2);

    let mock = start(MockOptions::default()).await;
    let r = post(&mock, "converse-stream", &body(json!({})))
        .header("x-mock-stream-exception", "ModelStreamErrorException")
        .send()
        .await
        .unwrap();
    let (frames, cut) = read_frames(r).await;
    assert!(!cut);
    let last = frames.last().unwrap();
    assert_eq!(last.message_type, "exception");
    assert_eq!(last.event_type, "modelStreamErrorException");
    assert_eq!(frames.len(), 3);
}

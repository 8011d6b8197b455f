//! Gemini on the mock, over real HTTP: shapes, usage arithmetic, function calls, thoughts,
//! streaming (read back through the gateway's own translator), embeddings, keys and faults.

use serde_json::{Value, json};
use tollgate_formats::gemini::{GeminiToOpenAiStream, GenerateContentResponse, error_message};
use tollgate_formats::sse::SseDecoder;
use tollgate_formats::translate::OpenAiStreamEvent;
use tollgate_mock_provider::{MockOptions, MockServer};

use crate::{client, start, start_with_chunks, with};

fn url(mock: &MockServer, action: &str) -> String {
    format!(
        "http://{}/v1beta/models/gemini-2.5-flash:{action}",
        mock.addr()
    )
}

/// System "be terse" (2 words), user "what is the answer" (4): 2 + (3 + 4) + 3 = 12 tokens.
fn body(extra: Value) -> Value {
    with(
        json!({
            "systemInstruction": {"parts": [{"text": "be terse"}]},
            "contents": [{"role": "user", "parts": [{"text": "what is  the answer"}]}]
        }),
        extra,
    )
}

const PROMPT: u64 = 12;

async fn post(mock: &MockServer, action: &str, b: &Value) -> reqwest::Response {
    client()
        .post(url(mock, action))
        .header("x-goog-api-key", "test-key")
        .json(b)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn generate_content_answers_in_geminis_shape_with_the_documented_usage() {
    let mock = start_with_chunks(5).await;
    let r = post(&mock, "generateContent", &body(json!({}))).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["candidates"][0]["content"],
        json!({"parts": [{"text": "lorem ipsum dolor sit amet"}], "role": "model"})
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    let resp: GenerateContentResponse = serde_json::from_value(v).unwrap();
    let usage = resp.usage_metadata.unwrap().to_usage();
    assert_eq!((usage.input_tokens, usage.output_tokens), (PROMPT, 5));
    let stats = mock.stats();
    assert_eq!(
        (stats.requests, stats.prompt_tokens, stats.completion_tokens),
        (1, PROMPT, 5)
    );

    let cut = post(
        &mock,
        "generateContent",
        &body(json!({"generationConfig": {"maxOutputTokens": 2}})),
    )
    .await;
    let v: Value = cut.json().await.unwrap();
    assert_eq!(v["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 2);
}

#[tokio::test]
async fn functions_are_called_in_parallel_with_thoughts_and_a_signature() {
    let mock = start(MockOptions::default()).await;
    let b = json!({
        "contents": [{"role": "user", "parts": [{"text": "Use all the tools please"}]}],
        "tools": [{"functionDeclarations": [
            {"name": "weather", "description": "Get weather",
             "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "time"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": true, "thinkingBudget": 1024}}
    });
    let v: Value = post(&mock, "generateContent", &b)
        .await
        .json()
        .await
        .unwrap();
    let parts = v["candidates"][0]["content"]["parts"].as_array().unwrap();
    assert_eq!(parts[0]["thought"], true);
    let calls: Vec<&Value> = parts
        .iter()
        .filter(|p| p.get("functionCall").is_some())
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0]["functionCall"],
        json!({"name": "weather", "args": {"city": "lorem"}})
    );
    assert!(calls[0]["thoughtSignature"].is_string());
    assert_eq!(v["usageMetadata"]["thoughtsTokenCount"], 5);
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 16);
}

/// Reads a Gemini SSE body through the gateway's translator, fed in small pieces.
fn translate(body: &[u8]) -> (Vec<OpenAiStreamEvent>, GeminiToOpenAiStream) {
    let mut dec = SseDecoder::new();
    let mut t = GeminiToOpenAiStream::new("chatcmpl-1".into(), 1, true);
    let mut events = Vec::new();
    for piece in body.chunks(7) {
        dec.push(piece);
        while let Some(ev) = dec.next_event() {
            t.push_data(&ev.data, &mut events).unwrap();
        }
    }
    t.finish(&mut events);
    (events, t)
}

#[tokio::test]
async fn streams_are_sse_without_done_and_translate_to_a_complete_openai_stream() {
    let mock = start_with_chunks(4).await;
    let r = client()
        .post(format!(
            "{}?alt=sse&key=k",
            url(&mock, "streamGenerateContent")
        ))
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let bytes = r.bytes().await.unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with("data: {"));
    assert!(text.ends_with("\r\n\r\n"));
    assert!(!text.contains("[DONE]"));
    let (events, t) = translate(&bytes);
    let content: String = events
        .iter()
        .filter_map(|e| match e {
            OpenAiStreamEvent::Chunk(c) => c.choices.first()?.delta.content.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(content, "lorem ipsum dolor sit");
    assert_eq!(events.last(), Some(&OpenAiStreamEvent::Done));
    let u = t.usage().unwrap();
    assert_eq!((u.input_tokens, u.output_tokens), (PROMPT, 4));
    assert_eq!(mock.stats().completion_tokens, 4);

    // Without alt=sse: the same chunks as one JSON array.
    let v: Value = post(&mock, "streamGenerateContent", &body(json!({})))
        .await
        .json()
        .await
        .unwrap();
    let chunks = v.as_array().unwrap();
    assert_eq!(chunks.len(), 5);
    assert_eq!(chunks[4]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn a_cut_stream_has_no_finish_and_the_translator_reports_it() {
    let mock = start(MockOptions {
        chunks: 6,
        disconnect_after: Some(2),
        ..MockOptions::default()
    })
    .await;
    let mut r = client()
        .post(format!("{}?alt=sse", url(&mock, "streamGenerateContent")))
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    let mut got = Vec::new();
    let error = loop {
        match r.chunk().await {
            Ok(Some(b)) => got.extend_from_slice(&b),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(error, "the connection is reset, not closed cleanly");
    let (events, _) = translate(&got);
    assert!(matches!(
        events.last(),
        Some(OpenAiStreamEvent::Error {
            code: Some("upstream_error"),
            ..
        })
    ));
    assert_eq!(mock.stats().completion_tokens, 2);
}

#[tokio::test]
async fn keys_faults_and_context_length_use_geminis_error_shape() {
    let mock = start(MockOptions {
        api_key: Some("right".into()),
        ..MockOptions::default()
    })
    .await;
    let client = client();
    let missing = client
        .post(url(&mock, "generateContent"))
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    let b = missing.bytes().await.unwrap();
    assert_eq!(error_message(&b).unwrap().1, "PERMISSION_DENIED");
    let wrong = post(&mock, "generateContent", &body(json!({}))).await;
    assert_eq!(wrong.status(), 400);
    let ok = client
        .post(format!("{}?key=right", url(&mock, "generateContent")))
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let limited = client
        .post(url(&mock, "generateContent"))
        .header("x-goog-api-key", "right")
        .header("x-mock-error-status", "429")
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    let b = limited.bytes().await.unwrap();
    assert_eq!(error_message(&b).unwrap().1, "RESOURCE_EXHAUSTED");

    let too_long = client
        .post(url(&mock, "generateContent"))
        .header("x-goog-api-key", "right")
        .header("x-mock-max-input-tokens", "10")
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(too_long.status(), 400);
    let b = too_long.bytes().await.unwrap();
    let (_, status, message) = error_message(&b).unwrap();
    assert!(tollgate_formats::gemini::is_context_length(
        &status, &message
    ));
    assert!(message.contains("(12)"), "{message}");

    let unknown = client
        .post(url(&mock, "countTokens"))
        .header("x-goog-api-key", "right")
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn embeddings_are_deterministic_and_batches_check_the_model() {
    let mock = start(MockOptions::default()).await;
    let batch = json!({"requests": [
        {"model": "models/gemini-2.5-flash", "content": {"parts": [{"text": "hello world"}]}, "outputDimensionality": 16},
        {"model": "models/gemini-2.5-flash", "content": {"parts": [{"text": "bye"}]}}
    ]});
    let v: Value = post(&mock, "batchEmbedContents", &batch)
        .await
        .json()
        .await
        .unwrap();
    let e = v["embeddings"].as_array().unwrap();
    assert_eq!(e[0]["values"].as_array().unwrap().len(), 16);
    assert_eq!(e[1]["values"].as_array().unwrap().len(), 8);
    let one: Value = post(
        &mock,
        "embedContent",
        &json!({"content": {"parts": [{"text": "bye"}]}}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(one["embedding"]["values"], e[1]["values"]);
    assert_eq!(mock.stats().prompt_tokens, 3 + 1);

    let wrong = post(
        &mock,
        "batchEmbedContents",
        &json!({"requests": [{"model": "models/other", "content": {"parts": [{"text": "x"}]}}]}),
    )
    .await;
    assert_eq!(wrong.status(), 400);
}

#[tokio::test]
async fn a_long_system_instruction_is_implicitly_cached_from_the_second_request() {
    let mock = start(MockOptions::default()).await;
    let long = "word ".repeat(40);
    let b = body(json!({"systemInstruction": {"parts": [{"text": long}]}}));
    let first: Value = post(&mock, "generateContent", &b)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        first["usageMetadata"]
            .get("cachedContentTokenCount")
            .is_none()
    );
    let second: Value = post(&mock, "generateContent", &b)
        .await
        .json()
        .await
        .unwrap();
    // 40 system words are the cached prefix; the prompt count still includes them.
    assert_eq!(second["usageMetadata"]["cachedContentTokenCount"], 40);
    assert_eq!(second["usageMetadata"]["promptTokenCount"], 40 + 7 + 3);
    let resp: GenerateContentResponse = serde_json::from_value(second).unwrap();
    let u = resp.usage_metadata.unwrap().to_usage();
    assert_eq!((u.input_tokens, u.cached_input_tokens), (50, 40));
    assert_eq!(mock.stats().cache_read_tokens, 40);
}

#[tokio::test]
async fn chunk_delay_paces_the_stream_and_disconnect_still_delivers_what_was_sent() {
    let mock = start(MockOptions {
        chunks: 5,
        chunk_delay: std::time::Duration::from_millis(20),
        disconnect_after: Some(3),
        ..MockOptions::default()
    })
    .await;
    let started = std::time::Instant::now();
    let mut r = client()
        .post(format!("{}?alt=sse", url(&mock, "streamGenerateContent")))
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Ok(Some(b)) = r.chunk().await {
        got.extend_from_slice(&b);
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(60));
    let text = String::from_utf8(got).unwrap();
    assert_eq!(text.matches("data: ").count(), 3);
    assert!(!text.contains("finishReason"));
    assert_eq!(mock.stats().completion_tokens, 3);
}

/// The gateway's path end to end: an OpenAI request translated for Gemini is accepted by the
/// mock, and its answer translates back to an OpenAI completion with the call paired up.
#[tokio::test]
async fn translated_openai_tool_conversations_are_accepted_and_answered() {
    use tollgate_formats::gemini::{gemini_to_openai_response, openai_to_gemini_request};
    use tollgate_formats::translate::ChatRequest;

    let mock = start(MockOptions::default()).await;
    let req: ChatRequest = serde_json::from_value(json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "be terse"},
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_x", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_x", "content": "sunny"},
            {"role": "user", "content": "now use the tool again"}
        ],
        "tools": [{"type": "function", "function": {"name": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    }))
    .unwrap();
    let t = openai_to_gemini_request(req).unwrap();
    assert!(t.warnings.is_empty());
    let r = post(
        &mock,
        "generateContent",
        &serde_json::to_value(&t.value).unwrap(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let resp: GenerateContentResponse = r.json().await.unwrap();
    let c = gemini_to_openai_response(resp, "gemini-2.5-flash", "chatcmpl-1", 1).value;
    let call = &c.choices[0].message.tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.function.name, "weather");
    assert_eq!(call.function.arguments, r#"{"city":"lorem"}"#);
    assert_eq!(c.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    // tool 0+3; system 2; user 3+1; model 3; tool result 3+1; user 3+5; priming 3.
    assert_eq!(c.usage.unwrap().prompt_tokens, 3 + 2 + 4 + 3 + 4 + 8 + 3);
}

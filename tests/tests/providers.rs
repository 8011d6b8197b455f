//! Every provider behind one endpoint: a third-party OpenAI client (async-openai) and raw
//! Anthropic-format calls reach Gemini, Bedrock (SigV4, event-stream) and Azure OpenAI
//! deployments of the mock provider; `/v1/embeddings` works for OpenAI-compatible and Gemini
//! deployments; usage is exact and billed once; a prompt too long for the model is OpenAI's
//! 400 `context_length_exceeded` (and Anthropic's `invalid_request_error` on `/v1/messages`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequestArgs,
};
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use futures::StreamExt;
use serde_json::{Value, json};
use tollgate_mock_provider::MockOptions;
use tollgate_tests::{Stack, StackOptions};

fn client(stack: &Stack, key: &str) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("{}/v1", stack.edge_url()))
            .with_api_key(key),
    )
}

const MODELS: [&str; 3] = ["gemini-mock", "bedrock-mock", "azure-mock"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_reaches_gemini_bedrock_and_azure_with_exact_usage() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("providers", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let c = client(&stack, &key);
    let mut prompt = 0u64;
    let mut completion = 0u64;
    for model in MODELS {
        let req = CreateChatCompletionRequestArgs::default()
            .model(model)
            .messages([ChatCompletionRequestUserMessage::from("Hello there, gateway").into()])
            .build()
            .unwrap();
        let resp = c.chat().create(req).await.unwrap();
        assert_eq!(resp.model, model);
        assert!(!resp.choices[0].message.content.clone().unwrap().is_empty());
        let u = resp.usage.unwrap();
        prompt += u64::from(u.prompt_tokens);
        completion += u64::from(u.completion_tokens);

        let req = CreateChatCompletionRequestArgs::default()
            .model(model)
            .messages([ChatCompletionRequestUserMessage::from("Stream to me").into()])
            .stream_options(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            })
            .build()
            .unwrap();
        let mut stream = c.chat().create_stream(req).await.unwrap();
        let mut content = String::new();
        let mut usage = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap_or_else(|e| panic!("{model}: {e}"));
            for ch in &chunk.choices {
                content.push_str(ch.delta.content.as_deref().unwrap_or(""));
            }
            if chunk.usage.is_some() {
                usage = chunk.usage;
            }
        }
        assert!(!content.is_empty(), "{model}");
        let u = usage.unwrap_or_else(|| panic!("{model}: no usage chunk"));
        assert!(
            u.completion_tokens > 0,
            "{model}: a stream is never billed as zero"
        );
        prompt += u64::from(u.prompt_tokens);
        completion += u64::from(u.completion_tokens);
    }
    // Six requests, six rows; the ledger holds what the clients were told and what the
    // provider served.
    let spend = stack.wait_ledger(&tenant, 6).await;
    let total = &spend["total"];
    assert_eq!(total["input_tokens"], prompt, "{spend}");
    assert_eq!(total["output_tokens"], completion, "{spend}");
    let served = stack.mock.stats();
    assert_eq!(
        (prompt, completion),
        (served.prompt_tokens, served.completion_tokens)
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_work_through_the_openai_sdk_for_compatible_and_gemini_deployments() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("embeddings", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let c = client(&stack, &key);
    for model in ["text-embedding-3-small", "gemini-embed"] {
        let req = CreateEmbeddingRequestArgs::default()
            .model(model)
            .input(["the first text", "and a second one"])
            .build()
            .unwrap();
        let resp = c.embeddings().create(req).await.unwrap();
        assert_eq!(resp.data.len(), 2, "{model}");
        assert!(!resp.data[1].embedding.is_empty());
        assert!(resp.usage.prompt_tokens > 0, "{model}");
    }
    let spend = stack.wait_ledger(&tenant, 2).await;
    assert_eq!(spend["total"]["output_tokens"], 0, "{spend}");
    assert!(spend["total"]["input_tokens"].as_u64().unwrap() > 0);

    // Bad input is the caller's 400 in OpenAI's shape, before any provider call.
    let r = stack
        .http()
        .post(format!("{}/v1/embeddings", stack.edge_url()))
        .bearer_auth(&key)
        .json(&json!({"model": "embed-mock", "input": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["param"], "input", "{body}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_clients_reach_gemini_and_bedrock() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("anthropic-native-providers", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    for model in ["gemini-mock", "bedrock-mock"] {
        for stream in [false, true] {
            let r = stack
                .http()
                .post(format!("{}/v1/messages", stack.edge_url()))
                .header("x-api-key", &key)
                .header("anthropic-version", "2023-06-01")
                .json(&json!({
                    "model": model,
                    "max_tokens": 64,
                    "stream": stream,
                    "messages": [{"role": "user", "content": "hello there"}]
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{model}");
            let text = r.text().await.unwrap();
            if stream {
                assert!(text.starts_with("event: message_start"), "{model}: {text}");
                assert!(
                    text.trim_end()
                        .ends_with(r#"data: {"type":"message_stop"}"#),
                    "{model}: {text}"
                );
            } else {
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["type"], "message", "{model}: {v}");
                assert_eq!(v["model"], model);
                assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);
            }
        }
    }
    stack.wait_ledger(&tenant, 4).await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_too_long_is_context_length_exceeded_in_each_clients_shape() {
    let stack = Stack::start_with(StackOptions {
        mock: MockOptions {
            context_window: Some(3),
            ..MockOptions::default()
        },
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("too-long", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    for model in [
        "mock",
        "gemini-mock",
        "bedrock-mock",
        "azure-mock",
        "claude-mock",
    ] {
        let r = stack
            .http()
            .post(format!("{}/v1/chat/completions", stack.edge_url()))
            .bearer_auth(&key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "a prompt longer than three tokens"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{model}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "context_length_exceeded",
            "{model}: {body}"
        );
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "messages");
    }
    let r = stack
        .http()
        .post(format!("{}/v1/messages", stack.edge_url()))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "gemini-mock", "max_tokens": 16, "messages": [{"role": "user", "content": "a prompt longer than three tokens"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    stack.shutdown().await;
}

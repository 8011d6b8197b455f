//! A third-party OpenAI client (async-openai) pointed at the edge with a `tg-` key, changing
//! nothing else: plain and streaming chat work, and each request lands once in the ledger and in
//! the request logs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequestArgs,
};
use futures::StreamExt;
use tollgate_tests::Stack;

fn client(stack: &Stack, key: &str) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("{}/v1", stack.edge_url()))
            .with_api_key(key),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_streaming_chat_through_the_official_wire_format_are_billed_once() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("acme", false).await;
    let (_kid, key) = stack.key(&tenant, 0, 0).await;
    let c = client(&stack, &key);

    // Plain.
    let req = CreateChatCompletionRequestArgs::default()
        .model("mock")
        .messages([ChatCompletionRequestUserMessage::from("Hello there, gateway").into()])
        .build()
        .unwrap();
    let resp = c.chat().create(req).await.unwrap();
    let text = resp.choices[0].message.content.clone().unwrap();
    assert!(!text.is_empty());
    let usage = resp.usage.unwrap();
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );

    // Streaming with usage requested: content arrives in pieces and usage comes last.
    let req = CreateChatCompletionRequestArgs::default()
        .model("gpt-4o-mini")
        .messages([ChatCompletionRequestUserMessage::from("Stream to me").into()])
        .stream_options(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        })
        .build()
        .unwrap();
    let mut stream = c.chat().create_stream(req).await.unwrap();
    let mut pieces = 0;
    let mut streamed_usage = None;
    let mut content = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        if let Some(u) = chunk.usage {
            streamed_usage = Some(u);
        }
        for ch in chunk.choices {
            if let Some(t) = ch.delta.content
                && !t.is_empty()
            {
                content.push_str(&t);
                pieces += 1;
            }
        }
    }
    assert!(pieces > 1, "expected several content chunks, got {pieces}");
    let su = streamed_usage.expect("usage chunk when include_usage is set");
    assert_eq!(
        su.completion_tokens as usize, pieces,
        "usage counts what was streamed"
    );

    // Streaming without usage requested: no usage chunk reaches the client.
    let req = CreateChatCompletionRequestArgs::default()
        .model("mock")
        .messages([ChatCompletionRequestUserMessage::from("No usage please").into()])
        .build()
        .unwrap();
    let mut stream = c.chat().create_stream(req).await.unwrap();
    while let Some(chunk) = stream.next().await {
        assert!(
            chunk.unwrap().usage.is_none(),
            "usage chunk sent though not asked for"
        );
    }

    // Three requests, three ledger rows, priced exactly from the mock's counts.
    let spend = stack.wait_ledger(&tenant, 3).await;
    let total = &spend["total"];
    let input = total["input_tokens"].as_u64().unwrap();
    let output = total["output_tokens"].as_u64().unwrap();
    assert!(
        input >= u64::from(usage.prompt_tokens) && output >= u64::from(usage.completion_tokens)
    );
    // $0.15 / M input, $0.60 / M output, exact to the pico-dollar.
    let expected_picos = input * 150_000 + output * 600_000;
    let expected = tollgate_domain::Money::from_picos(expected_picos as i64).to_usd_string();
    assert_eq!(total["cost_usd"].as_str().unwrap(), expected, "{spend}");
    let served = stack.mock.stats();
    assert_eq!(
        input, served.prompt_tokens,
        "ledger input tokens = what the provider billed"
    );
    assert_eq!(
        output, served.completion_tokens,
        "ledger output tokens = what the provider served"
    );

    // And three request-log rows with metadata only (the tenant did not allow content).
    let logs = wait_logs(&stack, &tenant, 3).await;
    for l in logs.as_array().unwrap() {
        assert_eq!(l["http_status"], 200);
        assert_eq!(l["model"], "mock");
        assert_eq!(l["deployment"], "mock-primary");
        assert_eq!(
            l["request_body"], "",
            "content logged without the tenant's consent"
        );
    }
    stack.shutdown().await;
}

async fn wait_logs(stack: &Stack, tenant: &str, n: usize) -> serde_json::Value {
    for _ in 0..200 {
        let v = stack
            .admin(
                reqwest::Method::GET,
                &format!("/admin/v1/tenants/{tenant}/logs?limit=100"),
                None,
            )
            .await;
        if v["data"].as_array().unwrap().len() >= n {
            assert_eq!(v["data"].as_array().unwrap().len(), n);
            return v["data"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("request logs never reached {n} rows");
}

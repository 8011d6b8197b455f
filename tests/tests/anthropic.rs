//! The Anthropic path, end to end against the real mock provider (which speaks OpenAI at
//! `/v1/chat/completions` and Anthropic at `/v1/messages`): every pairing of client format and
//! provider kind, prompt-cache usage billed exactly, errors in Anthropic's shape on
//! `/v1/messages`, and one ledger row per request.
//!
//! Anthropic clients are driven with raw HTTP in Anthropic's documented request shapes
//! (`x-api-key`, `anthropic-version: 2023-06-01`).
//!
//! Mock token rule (crates/mock-provider/src/messages.rs): system text words + per message
//! (3 + words) + 3; the prefix up to the last `cache_control` is written to the cache on first
//! sight and read afterwards; answers are 16 words (16 output tokens) unless `max_tokens` cuts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_tests::Stack;

/// System: 5 words, cached. User: 3 + 2. Whole prompt: + 3. Total 13, of which 5 cacheable.
const PROMPT: u64 = 13;
const CACHED: u64 = 5;
const OUTPUT: u64 = 16;

fn openai_cached_body(stream: bool) -> Value {
    json!({
        "model": "claude-mock",
        "stream": stream,
        "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
        "messages": [
            {"role": "system", "content": [
                {"type": "text", "text": "one two three four five", "cache_control": {"type": "ephemeral"}}
            ]},
            {"role": "user", "content": "hello there"}
        ]
    })
}

fn anthropic_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "top_k": 5,
        "system": [
            {"type": "text", "text": "one two three four five", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [{"role": "user", "content": "hello there"}]
    })
}

async fn messages(
    stack: &Stack,
    key: Option<&str>,
    version: bool,
    path: &str,
    body: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = stack
        .http()
        .post(format!("{}{path}", stack.edge_url()))
        .json(body);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    if version {
        req = req.header("anthropic-version", "2023-06-01");
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// `(event name, data)` of every SSE event.
fn sse_events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = String::new();
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, data)
        })
        .collect()
}

/// The Anthropic stream is well-formed: message_start first, message_stop last, each event's
/// name equal to its data's type, and text deltas in between. Returns (text, message_delta).
fn check_anthropic_stream(text: &str) -> (String, Value) {
    let events = sse_events(text);
    assert!(!events.is_empty(), "{text}");
    assert_eq!(events.first().unwrap().0, "message_start", "{text}");
    assert_eq!(events.last().unwrap().0, "message_stop", "{text}");
    let mut answer = String::new();
    let mut delta = Value::Null;
    for (name, data) in &events {
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"], name.as_str(), "{text}");
        assert_ne!(name, "error", "{text}");
        if name == "message_start" {
            assert_eq!(v["message"]["model"], "claude-mock", "{text}");
        }
        if name == "content_block_delta" && v["delta"]["type"] == "text_delta" {
            answer.push_str(v["delta"]["text"].as_str().unwrap());
        }
        if name == "message_delta" {
            delta = v;
        }
    }
    (answer, delta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_client_to_anthropic_provider_bills_cache_tokens_exactly() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("oa-to-anthropic", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let post = |body: Value| {
        stack
            .http()
            .post(format!("{}/v1/chat/completions", stack.edge_url()))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };

    // Plain, first sight of the prefix: written to the cache.
    let r = post(openai_cached_body(false)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-tollgate-provider"], "mock-anthropic");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion", "{v}");
    assert_eq!(v["model"], "claude-mock");
    assert!(
        !v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], PROMPT, "{v}");
    assert_eq!(v["usage"]["completion_tokens"], OUTPUT, "{v}");

    // Plain again: read from the cache.
    let v: Value = post(openai_cached_body(false))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], PROMPT, "{v}");
    assert_eq!(
        v["usage"]["prompt_tokens_details"]["cached_tokens"], CACHED,
        "{v}"
    );

    // Streaming with usage: OpenAI chunks, usage last, then [DONE].
    let r = post(openai_cached_body(true)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = r.text().await.unwrap();
    let datas: Vec<String> = sse_events(&text).into_iter().map(|(_, d)| d).collect();
    assert_eq!(datas.last().unwrap(), "[DONE]", "{text}");
    let chunks: Vec<Value> = datas[..datas.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!content.is_empty(), "{text}");
    assert!(chunks.iter().all(|c| c["model"] == "claude-mock"), "{text}");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["prompt_tokens"], PROMPT, "{text}");
    assert_eq!(usage["completion_tokens"], OUTPUT, "{text}");
    assert_eq!(
        usage["prompt_tokens_details"]["cached_tokens"], CACHED,
        "{text}"
    );

    // Three rows; cache reads on the last two, input counted with cache tokens included.
    let spend = stack.wait_ledger(&tenant, 3).await;
    let total = &spend["total"];
    assert_eq!(total["input_tokens"], 3 * PROMPT, "{spend}");
    assert_eq!(total["output_tokens"], 3 * OUTPUT, "{spend}");
    assert_eq!(total["cached_input_tokens"], 2 * CACHED, "{spend}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_client_to_anthropic_provider_passes_cache_control_through() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("anthropic-native", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    let (s, h, b) = messages(
        &stack,
        Some(&key),
        true,
        "/v1/messages",
        &anthropic_body("claude-mock", false),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(h["x-tollgate-provider"], "mock-anthropic");
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["model"], "claude-mock");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(v["usage"]["cache_creation_input_tokens"], CACHED, "{v}");
    assert_eq!(v["usage"]["input_tokens"], PROMPT - CACHED, "{v}");
    assert_eq!(v["usage"]["output_tokens"], OUTPUT, "{v}");

    // The identical request again: the provider saw the same cache_control, so it reads.
    let (s, _, b) = messages(
        &stack,
        Some(&key),
        true,
        "/v1/messages",
        &anthropic_body("claude-mock", false),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["usage"]["cache_read_input_tokens"], CACHED, "{v}");
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 0, "{v}");

    // Streaming: Anthropic's own events, framing kept, usage in message_delta.
    let (s, h, b) = messages(
        &stack,
        Some(&key),
        true,
        "/v1/messages",
        &anthropic_body("claude-mock", true),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (answer, delta) = check_anthropic_stream(&b);
    assert!(!answer.is_empty(), "{b}");
    assert_eq!(delta["usage"]["output_tokens"], OUTPUT, "{b}");
    let start: Value = serde_json::from_str(&sse_events(&b)[0].1).unwrap();
    assert_eq!(
        start["message"]["usage"]["cache_read_input_tokens"], CACHED,
        "{b}"
    );

    let spend = stack.wait_ledger(&tenant, 3).await;
    let total = &spend["total"];
    assert_eq!(total["input_tokens"], 3 * PROMPT, "{spend}");
    assert_eq!(total["output_tokens"], 3 * OUTPUT, "{spend}");
    assert_eq!(total["cached_input_tokens"], 2 * CACHED, "{spend}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_client_to_openai_provider_is_translated() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("anthropic-to-oa", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    let (s, h, b) = messages(
        &stack,
        Some(&key),
        true,
        "/v1/messages",
        &anthropic_body("mock", false),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(h["x-tollgate-provider"], "mock");
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "mock");
    assert_eq!(v["stop_reason"], "end_turn", "{v}");
    assert!(!v["content"][0]["text"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["usage"]["output_tokens"], OUTPUT, "{v}");
    let plain_input = v["usage"]["input_tokens"].as_u64().unwrap();
    assert!(plain_input > 0, "{v}");

    let (s, _, b) = messages(
        &stack,
        Some(&key),
        true,
        "/v1/messages",
        &anthropic_body("mock", true),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let events = sse_events(&b);
    assert_eq!(events.first().unwrap().0, "message_start", "{b}");
    assert_eq!(events.last().unwrap().0, "message_stop", "{b}");
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    for needed in [
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
    ] {
        assert!(names.contains(&needed), "{needed} missing: {b}");
    }
    let mut text = String::new();
    for (name, data) in &events {
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"], name.as_str(), "{b}");
        if name == "message_start" {
            assert_eq!(v["message"]["model"], "mock", "{b}");
        }
        if name == "content_block_delta" {
            text.push_str(v["delta"]["text"].as_str().unwrap_or_default());
        }
        if name == "message_delta" {
            assert_eq!(v["usage"]["output_tokens"], OUTPUT, "{b}");
        }
    }
    assert!(!text.is_empty(), "{b}");

    let spend = stack.wait_ledger(&tenant, 2).await;
    assert_eq!(spend["total"]["output_tokens"], 2 * OUTPUT, "{spend}");
    assert!(
        spend["total"]["input_tokens"].as_u64().unwrap() >= 2 * plain_input,
        "{spend}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_routes_answer_errors_in_anthropics_shape() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("anthropic-errors", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let good = anthropic_body("claude-mock", false);
    let check =
        |(s, _, b): (StatusCode, reqwest::header::HeaderMap, String), status: u16, kind: &str| {
            assert_eq!(s.as_u16(), status, "{b}");
            let v: Value = serde_json::from_str(&b).unwrap();
            assert_eq!(v["type"], "error", "{b}");
            assert_eq!(v["error"]["type"], kind, "{b}");
            assert!(!v["error"]["message"].as_str().unwrap().is_empty(), "{b}");
        };

    check(
        messages(&stack, None, true, "/v1/messages", &good).await,
        401,
        "authentication_error",
    );
    check(
        messages(
            &stack,
            Some("tg-not-a-real-key"),
            true,
            "/v1/messages",
            &good,
        )
        .await,
        401,
        "authentication_error",
    );
    check(
        messages(
            &stack,
            Some(&key),
            true,
            "/v1/messages",
            &anthropic_body("claude-9", false),
        )
        .await,
        404,
        "not_found_error",
    );
    check(
        messages(&stack, Some(&key), false, "/v1/messages", &good).await,
        400,
        "invalid_request_error",
    );
    let mut no_max = good.clone();
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let r = messages(&stack, Some(&key), true, "/v1/messages", &no_max).await;
    assert!(r.2.contains("max_tokens"), "{}", r.2);
    check(r, 400, "invalid_request_error");

    // count_tokens: the edge's estimate, no max_tokens needed; unknown models are 404 too.
    let (s, _, b) = messages(
        &stack,
        Some(&key),
        true,
        "/v1/messages/count_tokens",
        &no_max,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    assert!(v["input_tokens"].as_u64().unwrap() > 0, "{b}");
    let mut unknown = no_max.clone();
    unknown["model"] = json!("claude-9");
    check(
        messages(
            &stack,
            Some(&key),
            true,
            "/v1/messages/count_tokens",
            &unknown,
        )
        .await,
        404,
        "not_found_error",
    );

    // None of these reached a provider, so none is billed.
    assert_eq!(stack.ledger_rows(&tenant).await, 0);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_overload_reaches_each_client_in_its_own_format() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("anthropic-overloaded", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    stack.mock.set_options(tollgate_mock_provider::MockOptions {
        error_rate: 1.0,
        error_status: 529,
        ..stack.mock.options()
    });

    // Anthropic's 529 is an outage, not a gateway bug: 503, `overloaded_error`.
    let (s, h, b) = messages(
        &stack,
        Some(&key),
        true,
        "/v1/messages",
        &anthropic_body("claude-mock", false),
    )
    .await;
    assert_eq!(s, 503, "{b}");
    assert!(h.contains_key("retry-after"));
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["type"], "error", "{b}");
    assert_eq!(v["error"]["type"], "overloaded_error", "{b}");

    // The same outage seen by an OpenAI client: OpenAI's shape.
    let r = stack
        .http()
        .post(format!("{}/v1/chat/completions", stack.edge_url()))
        .bearer_auth(&key)
        .json(&openai_cached_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "service_unavailable", "{v}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_cut_streams_reach_anthropic_clients_in_anthropics_format() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("anthropic-faults", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let normal = stack.mock.options();
    stack.mock.set_options(tollgate_mock_provider::MockOptions {
        error_rate: 1.0,
        error_status: 429,
        ..normal.clone()
    });
    let (s, h, b) = messages(
        &stack,
        Some(&key),
        true,
        "/v1/messages",
        &anthropic_body("claude-mock", false),
    )
    .await;
    assert_eq!(s, 429, "{b}");
    assert!(h.contains_key("retry-after"));
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error", "{b}");

    // The provider resets the connection after 3 chunks: the client already has bytes, so the
    // stream ends with Anthropic's `error` event rather than a silent cut.
    stack.mock.set_options(tollgate_mock_provider::MockOptions {
        disconnect_after: Some(3),
        ..normal
    });
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await; // the 429's retry-after
    let (s, _, b) = messages(
        &stack,
        Some(&key),
        true,
        "/v1/messages",
        &anthropic_body("claude-mock", true),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let events = sse_events(&b);
    assert_eq!(events.first().unwrap().0, "message_start", "{b}");
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{b}");
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["type"], "error", "{b}");
    assert!(!names_contain(&events, "message_stop"), "{b}");
    stack.shutdown().await;
}

fn names_contain(events: &[(String, String)], name: &str) -> bool {
    events.iter().any(|(n, _)| n == name)
}

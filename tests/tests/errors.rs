//! Every refusal a client can meet, in OpenAI's error shape with a stable code, and an
//! `x-request-id` (UUIDv7) on every answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_mock_provider::MockOptions;
use tollgate_tests::{Stack, StackOptions, chat_body};

async fn post(
    stack: &Stack,
    key: Option<&str>,
    body: reqwest::Body,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = stack
        .http()
        .post(format!("{}/v1/chat/completions", stack.edge_url()))
        .header("content-type", "application/json")
        .body(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, v)
}

fn assert_error(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
    want: StatusCode,
    code: &str,
) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["error"]["type"].is_string(), "{body}");
    let rid = headers["x-request-id"].to_str().unwrap();
    let uuid = uuid::Uuid::parse_str(rid).unwrap();
    assert_eq!(uuid.get_version_num(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_openai_shaped_with_stable_codes() {
    let stack = Stack::start_with(StackOptions {
        max_body_bytes: 64 * 1024,
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("errs", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let ok = serde_json::to_vec(&chat_body("mock", false)).unwrap();

    let (s, h, b) = post(&stack, None, ok.clone().into()).await;
    assert_error(s, &h, &b, StatusCode::UNAUTHORIZED, "missing_api_key");

    let (s, h, b) = post(&stack, Some("tg-notakey"), ok.clone().into()).await;
    assert_error(s, &h, &b, StatusCode::UNAUTHORIZED, "invalid_api_key");

    // Well formed, right checksum, unknown to the gateway.
    let stranger = tollgate_domain::ApiKey::generate();
    let (s, h, b) = post(&stack, Some(stranger.expose()), ok.clone().into()).await;
    assert_error(s, &h, &b, StatusCode::UNAUTHORIZED, "invalid_api_key");

    let (s, h, b) = post(
        &stack,
        Some(&key),
        serde_json::to_vec(&chat_body("no-such-model", false))
            .unwrap()
            .into(),
    )
    .await;
    assert_error(s, &h, &b, StatusCode::NOT_FOUND, "model_not_found");
    assert_eq!(b["error"]["param"], "model");

    let (s, h, b) = post(
        &stack,
        Some(&key),
        b"{\"model\": \"mock\", \"messages\": [".to_vec().into(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b["error"]["code"].is_string(), "{b}");
    assert!(h.contains_key("x-request-id"));

    let (s, _, b) = post(
        &stack,
        Some(&key),
        serde_json::to_vec(&json!({"model": "mock"}))
            .unwrap()
            .into(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["param"], "messages", "{b}");

    let (s, _, b) = post(
        &stack,
        Some(&key),
        serde_json::to_vec(&json!({"messages": []})).unwrap().into(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["param"], "model", "{b}");

    let huge =
        json!({"model": "mock", "messages": [{"role": "user", "content": "x".repeat(100 * 1024)}]});
    let (s, h, b) = post(
        &stack,
        Some(&key),
        serde_json::to_vec(&huge).unwrap().into(),
    )
    .await;
    assert_error(
        s,
        &h,
        &b,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_too_large",
    );

    // Unknown routes are refused in the same shape.
    let r = stack
        .http()
        .get(format!("{}/v1/nope", stack.edge_url()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Refused requests were never admitted: nothing billed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stack.ledger_rows(&tenant).await, 0);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_and_openai_headers() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("limited", false).await;
    let (_, key) = stack.key(&tenant, 3, 0).await; // the key() probe uses /v1/models, not chat
    let body = serde_json::to_vec(&chat_body("mock", false)).unwrap();
    let mut admitted = 0;
    let mut last = None;
    for _ in 0..5 {
        let (s, h, b) = post(&stack, Some(&key), body.clone().into()).await;
        if s == StatusCode::OK {
            admitted += 1;
            assert_eq!(h["x-ratelimit-limit-requests"], "3");
        } else {
            last = Some((s, h, b));
        }
    }
    assert_eq!(admitted, 3);
    let (s, h, b) = last.unwrap();
    assert_error(
        s,
        &h,
        &b,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
    );
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    stack.wait_ledger(&tenant, 3).await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failures_map_to_502_and_a_missing_routing_to_503() {
    let mut stack = Stack::start_with(StackOptions {
        mock: MockOptions {
            error_rate: 1.0,
            error_status: 500,
            ..MockOptions::default()
        },
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("upstream", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let body = serde_json::to_vec(&chat_body("mock", false)).unwrap();

    let (s, h, b) = post(&stack, Some(&key), body.clone().into()).await;
    assert_error(s, &h, &b, StatusCode::BAD_GATEWAY, "upstream_error");
    // A failed request is still one usage event (billed for nothing the provider did not bill).
    stack.wait_ledger(&tenant, 1).await;

    // Provider rate limiting passes through as 429 with Retry-After.
    stack.mock.set_options(MockOptions {
        error_rate: 1.0,
        error_status: 429,
        ..MockOptions::default()
    });
    let (s, h, b) = post(&stack, Some(&key), body.clone().into()).await;
    assert_error(
        s,
        &h,
        &b,
        StatusCode::TOO_MANY_REQUESTS,
        "upstream_rate_limited",
    );
    assert!(h.contains_key("retry-after"));

    // Routing gone: a fast 503, never a hang, and the edge stays up.
    stack.stop_routing().await;
    let t0 = std::time::Instant::now();
    let (s, h, b) = post(&stack, Some(&key), body.clone().into()).await;
    assert_error(
        s,
        &h,
        &b,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    let r = stack
        .http()
        .get(format!("{}/healthz", stack.edge_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    stack.shutdown().await;
}

//! Every way an admitted request can end is recorded as its client saw it end: the HTTP status
//! in the ledger row (billing's usage export) and the status and error code in the request log
//! (logging), for a completed request, a provider failing before the first byte, routing going
//! away before the answer starts or in the middle of a stream, routing unreachable, and a client
//! hanging up mid-stream.
//!
//! Routing's connection is cut through a TCP proxy in front of it (an edge added with its
//! `routing_url` on the proxy): stopping routing itself would let open calls finish.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use tollgate_domain::{Money, Usage};
use tollgate_mock_provider::MockOptions;
use tollgate_tests::proxy::Proxy;
use tollgate_tests::{Stack, StackOptions, chat_body};

/// What the client saw: status, `x-request-id`, and the body (the error code for a refusal, the
/// stream's text for a stream).
struct Seen {
    status: StatusCode,
    request_id: String,
    body: String,
}

impl Seen {
    fn code(&self) -> String {
        let v: Value = serde_json::from_str(&self.body).unwrap_or(Value::Null);
        v["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

async fn chat(stack: &Stack, key: &str, stream: bool) -> Seen {
    chat_at(stack.http(), &stack.edge_url(), key, stream).await
}

async fn chat_at(http: &reqwest::Client, edge: &str, key: &str, stream: bool) -> Seen {
    let r = http
        .post(format!("{edge}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat_body("mock", stream))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    Seen {
        status,
        request_id,
        body,
    }
}

/// A streamed answer read until `n` content tokens arrived: its request id and the rest of the
/// body, not yet read.
async fn stream_until(
    stack: &Stack,
    edge: &str,
    key: &str,
    n: usize,
) -> (
    String,
    String,
    impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + use<>,
) {
    let r = stack
        .http()
        .post(format!("{edge}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat_body("mock", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut body = r.bytes_stream();
    let mut text = String::new();
    while text.matches("\"content\":\"").count() < n {
        text.push_str(std::str::from_utf8(&body.next().await.unwrap().unwrap()).unwrap());
    }
    (request_id, text, body)
}

/// The request log of one request, through the admin API.
async fn log_row(stack: &Stack, tenant: &str, request_id: &str) -> Value {
    let t0 = std::time::Instant::now();
    loop {
        let v = stack
            .admin(
                reqwest::Method::GET,
                &format!("/admin/v1/tenants/{tenant}/logs?request_id={request_id}"),
                None,
            )
            .await;
        let rows = v["data"].as_array().unwrap();
        if let Some(row) = rows.first() {
            assert_eq!(rows.len(), 1, "{request_id} logged twice: {v}");
            return row.clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no request log for {request_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ledger row says `status` and `outcome`, the log row `status` and `code`.
async fn recorded_as(
    stack: &Stack,
    tenant: &str,
    request_id: &str,
    status: u16,
    code: &str,
    outcome: &str,
) -> (Value, Value) {
    let ledger = stack.ledger_row(tenant, request_id).await;
    assert_eq!(ledger["http_status"], status.to_string(), "{ledger}");
    assert_eq!(ledger["outcome"], outcome, "{ledger}");
    let log = log_row(stack, tenant, request_id).await;
    assert_eq!(log["http_status"], status, "{log}");
    assert_eq!(log["error_code"], code, "{log}");
    (ledger, log)
}

/// The configured price of `mock` applied to `usage`.
fn mock_cost(stack: &Stack, usage: &Usage) -> Money {
    let model = stack.cfg.models.iter().find(|m| m.name == "mock").unwrap();
    usage.cost(&model.price())
}

fn tokens(row: &Value, column: &str) -> u64 {
    row[column].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_and_provider_failures_are_recorded_as_the_client_saw_them() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("answers", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    // Completed, whole and streamed: the status routing started with, no error code.
    let whole = chat(&stack, &key, false).await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
    recorded_as(&stack, &tenant, &whole.request_id, 200, "", "completed").await;
    let streamed = chat(&stack, &key, true).await;
    assert_eq!(streamed.status, StatusCode::OK);
    assert!(streamed.body.contains("[DONE]"), "{}", streamed.body);
    recorded_as(&stack, &tenant, &streamed.request_id, 200, "", "completed").await;

    // The provider fails before the first byte: the mapped error, in the ledger and the log.
    for (provider, status, code) in [
        (500, StatusCode::BAD_GATEWAY, "upstream_error"),
        (429, StatusCode::TOO_MANY_REQUESTS, "upstream_rate_limited"),
    ] {
        stack.mock.set_options(MockOptions {
            error_rate: 1.0,
            error_status: provider,
            ..MockOptions::default()
        });
        let seen = chat(&stack, &key, false).await;
        assert_eq!(seen.status, status, "{}", seen.body);
        assert_eq!(seen.code(), code, "{}", seen.body);
        recorded_as(
            &stack,
            &tenant,
            &seen.request_id,
            status.as_u16(),
            code,
            "failed",
        )
        .await;
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_calls_hang_ups_and_a_missing_routing_are_recorded_as_the_client_saw_them() {
    let mut stack = Stack::start_with(StackOptions {
        mock: MockOptions {
            chunks: 40,
            chunk_delay: Duration::from_millis(50),
            ..MockOptions::default()
        },
        ..StackOptions::default()
    })
    .await;
    let to_routing = Proxy::start(stack.routing.as_ref().unwrap().addr).await;
    stack.cfg.edge.routing_url = format!("http://{}", to_routing.addr);
    let proxied = stack.add_edge().await;
    let tenant = stack.tenant("endings", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    // The client hangs up mid-stream: 499 client_closed_request, billed as cancelled for what
    // was delivered.
    let (hung_up, _, body) = stream_until(&stack, &stack.edge_url(), &key, 4).await;
    drop(body);
    let (ledger, _) = recorded_as(
        &stack,
        &tenant,
        &hung_up,
        499,
        "client_closed_request",
        "client_cancelled",
    )
    .await;
    assert!(tokens(&ledger, "output_tokens") >= 3, "{ledger}");

    // Routing goes away in the middle of a stream: the client already has its 200 and reads an
    // explicit error event; the ledger and the log say what that event said.
    let (cut, mut text, mut body) = stream_until(&stack, &proxied, &key, 4).await;
    to_routing.down();
    while let Some(chunk) = body.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let last = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .last()
        .unwrap();
    assert!(
        last.contains("\"code\":\"upstream_stream_interrupted\""),
        "the stream must end in an explicit error event: {text}"
    );
    assert!(!text.contains("[DONE]"), "{text}");
    recorded_as(
        &stack,
        &tenant,
        &cut,
        502,
        "upstream_stream_interrupted",
        "failed",
    )
    .await;

    // Routing goes away after taking the call, before the answer starts: a 503.
    to_routing.up();
    stack.mock.set_options(MockOptions {
        latency: Duration::from_millis(1500),
        ..MockOptions::default()
    });
    let asking = {
        let http = stack.http().clone();
        let (proxied, key) = (proxied.clone(), key.clone());
        tokio::spawn(async move { chat_at(&http, &proxied, &key, false).await })
    };
    // The provider is still thinking: routing has the call but has sent nothing yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    to_routing.down();
    let early = asking.await.unwrap();
    assert_eq!(
        early.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        early.body
    );
    assert_eq!(early.code(), "service_unavailable", "{}", early.body);
    let (ledger, log) = recorded_as(
        &stack,
        &tenant,
        &early.request_id,
        503,
        "service_unavailable",
        "failed",
    )
    .await;
    // Nothing reached the client: the gateway's own 503 costs nothing.
    assert_eq!(tokens(&ledger, "input_tokens"), 0, "{ledger}");
    for row in [&ledger, &log] {
        let cost = Money::parse_usd(row["cost_usd"].as_str().unwrap()).unwrap();
        assert_eq!(cost, Money::ZERO, "{row}");
    }

    // Routing unreachable: a 503 the gateway produced, so it costs the caller nothing (it used
    // to be billed the prompt estimate); the row is still there, one per admitted request.
    stack.mock.set_options(MockOptions::default());
    stack.stop_routing().await;
    let gone = chat(&stack, &key, false).await;
    assert_eq!(
        gone.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        gone.body
    );
    assert_eq!(gone.code(), "service_unavailable");
    let (ledger, log) = recorded_as(
        &stack,
        &tenant,
        &gone.request_id,
        503,
        "service_unavailable",
        "failed",
    )
    .await;
    let input = tokens(&ledger, "input_tokens");
    assert_eq!(input, 0, "a gateway 503 bills no prompt: {ledger}");
    assert_eq!(tokens(&ledger, "output_tokens"), 0, "{ledger}");
    let cost = mock_cost(
        &stack,
        &Usage {
            input_tokens: input,
            ..Usage::default()
        },
    );
    assert_eq!(cost, Money::ZERO);
    let billed = |v: &Value| Money::parse_usd(v["cost_usd"].as_str().unwrap()).unwrap();
    assert_eq!(billed(&ledger), cost, "{ledger}");
    assert_eq!(billed(&log), cost, "{log}");
    stack.shutdown().await;
}

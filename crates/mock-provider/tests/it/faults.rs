use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_mock_provider::MockOptions;

use crate::sse::read_events;
use crate::{PROMPT_TOKENS, chat_body, client, start};

#[tokio::test]
async fn error_rate_one_returns_the_configured_status_and_body() {
    for (status, kind, code) in [
        (500, "server_error", Value::Null),
        (429, "requests", json!("rate_limit_exceeded")),
        (503, "server_error", json!("service_unavailable")),
    ] {
        let opts = MockOptions {
            error_rate: 1.0,
            error_status: status,
            ..MockOptions::default()
        };
        let mock = start(opts).await;
        let response = client()
            .post(format!("{}/chat/completions", mock.base_url()))
            .json(&chat_body(json!({})))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(
            response.headers().get("retry-after").is_some(),
            status == 429
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], kind);
        assert_eq!(body["error"]["code"], code);
        assert!(body["error"]["message"].as_str().unwrap().len() > 5);
        let stats = mock.stats();
        assert_eq!(
            (
                stats.chat_requests,
                stats.prompt_tokens,
                stats.completion_tokens
            ),
            (1, 0, 0)
        );
    }
}

#[tokio::test]
async fn error_rate_half_fails_every_other_request() {
    let mock = start(MockOptions {
        error_rate: 0.5,
        ..MockOptions::default()
    })
    .await;
    let mut failures = 0;
    for _ in 0..10 {
        let r = client()
            .get(format!("{}/models", mock.base_url()))
            .send()
            .await
            .unwrap();
        if r.status() == 500 {
            failures += 1;
        }
    }
    assert_eq!(failures, 5);
}

#[tokio::test]
async fn disconnect_after_cuts_the_stream_and_counts_only_what_was_sent() {
    let opts = MockOptions {
        disconnect_after: Some(3),
        ..MockOptions::default()
    };
    let mock = start(opts).await;
    let mut body = chat_body(json!({"stream_options": {"include_usage": true}}));
    body["stream"] = json!(true);
    let response = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let read = read_events(response).await;
    assert!(read.error.is_some(), "the body must fail, not end cleanly");
    assert_eq!(
        read.events.len(),
        1 + 3,
        "role chunk and 3 content chunks: {:?}",
        read.events
    );
    assert!(!read.events.iter().any(|e| e == "[DONE]"));
    let stats = mock.stats();
    assert_eq!(
        (stats.prompt_tokens, stats.completion_tokens),
        (PROMPT_TOKENS, 3)
    );
}

#[tokio::test]
async fn disconnect_with_chunk_delay_also_delivers_the_first_chunks() {
    let opts = MockOptions {
        disconnect_after: Some(2),
        chunk_delay: Duration::from_millis(5),
        ..MockOptions::default()
    };
    let mock = start(opts).await;
    let mut body = chat_body(json!({}));
    body["stream"] = json!(true);
    let response = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let read = read_events(response).await;
    assert!(read.error.is_some());
    assert_eq!(read.events.len(), 1 + 2);
    assert_eq!(mock.stats().completion_tokens, 2);
}

#[tokio::test]
async fn latency_delays_the_headers_and_headers_can_override_per_request() {
    let mock = start(MockOptions {
        latency: Duration::from_millis(300),
        ..MockOptions::default()
    })
    .await;
    let url = format!("{}/models", mock.base_url());
    let t = Instant::now();
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    let t = Instant::now();
    let r = client()
        .get(&url)
        .header("x-mock-latency-ms", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < Duration::from_millis(300));

    let r = client()
        .get(&url)
        .header("x-mock-error-status", "502")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn hang_never_answers_and_shutdown_still_returns() {
    let mock = start(MockOptions {
        hang: true,
        ..MockOptions::default()
    })
    .await;
    let request = client().get(format!("{}/models", mock.base_url())).send();
    let waited = tokio::time::timeout(Duration::from_millis(300), request).await;
    assert!(waited.is_err(), "a hanging mock must not answer");
    assert_eq!(mock.stats().requests, 1, "the request was accepted");
    tokio::time::timeout(Duration::from_secs(5), mock.shutdown())
        .await
        .expect("shutdown ends");
}

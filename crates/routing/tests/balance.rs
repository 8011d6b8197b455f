//! How traffic is spread: the weighted split, latency-aware routing toward the faster
//! deployment, and less traffic for a deployment whose rate-limit headers say it is nearly spent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tollgate_mock_provider::MockOptions;

use support::*;

/// An upstream that answers every call with a fixed completion and rate-limit headers saying
/// 1 request of 100 is left; counts the calls.
async fn nearly_limited_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                loop {
                    let Ok(n) = sock.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_string();
                    let Some(head_end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if seen.len() < head_end + 4 + len {
                        continue;
                    }
                    seen.drain(..head_end + 4 + len);
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = r#"{"id":"x","object":"chat.completion","model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-ratelimit-limit-requests: 100\r\nx-ratelimit-remaining-requests: 1\r\nx-ratelimit-reset-requests: 60s\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/v1"), calls)
}

#[tokio::test]
async fn a_deployment_near_its_rate_limit_gets_less_traffic_before_any_429() {
    let (near, calls) = nearly_limited_upstream().await;
    let ok = mock(opts()).await;
    let toml = format!(
        "{}{}{}",
        provider("a", &near, true),
        provider("b", &ok.base_url(), true),
        "[[models]]\nname = \"m\"\ndeployments = [{ name = \"da\", provider = \"a\", model = \"up\" }, { name = \"db\", provider = \"b\", model = \"up\" }]\nprice = { input = \"1\", output = \"2\" }\n"
    );
    let r = start(&toml).await;
    let got = served(&r, "m", 300, 2).await;
    let to_near = got.iter().filter(|d| *d == "da").count();
    assert_eq!(to_near, calls.load(Ordering::SeqCst));
    // Even split would be 150; at 1% headroom it keeps about 5% of its share.
    assert!(
        to_near <= 40,
        "{to_near} of 300 went to the deployment near its limit"
    );
}

#[tokio::test]
async fn weighted_split_holds_within_five_points_over_2000_calls() {
    let (a, b) = (mock(opts()).await, mock(opts()).await);
    let deps = r#"{ name = "da", provider = "a", model = "up", weight = 1 }, { name = "db", provider = "b", model = "up", weight = 3 }"#;
    let r = start(&two(&a, &b, "", deps, "")).await;
    let got = served(&r, "m", 2_000, 8).await;
    let to_a = got.iter().filter(|d| *d == "da").count();
    // 25% expected: 500 ± 100 is ±5 points (about ±5 standard deviations).
    assert!(
        (400..=600).contains(&to_a),
        "{to_a} of 2000 to the weight-1 deployment"
    );
    assert_eq!(a.stats().chat_requests + b.stats().chat_requests, 2_000);
}

#[tokio::test]
async fn latency_aware_routing_moves_most_traffic_to_the_faster_deployment() {
    let slow = mock(MockOptions {
        latency: Duration::from_millis(60),
        ..opts()
    })
    .await;
    let fast = mock(opts()).await;
    let r = start(&two(&slow, &fast, "strategy = \"latency\"", AB, "")).await;
    let got = served(&r, "m", 300, 4).await;
    let to_fast = got.iter().filter(|d| *d == "db").count();
    assert!(
        to_fast * 100 >= 80 * 300,
        "{to_fast} of 300 to the faster deployment"
    );
}

//! The bench run for real, briefly, against the mock provider on port 0.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use clap::Parser;
use tollgate_bench::{Cli, Report};
use tollgate_mock_provider::{MockOptions, MockServer};

const CHAT: &str = r#"{"model":"mock-1","messages":[{"role":"user","content":"hi"}]}"#;
const STREAM: &str =
    r#"{"model":"mock-1","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

async fn bench(args: &[&str]) -> Report {
    let cli =
        Cli::try_parse_from(std::iter::once("tollgate-bench").chain(args.iter().copied())).unwrap();
    tollgate_bench::run(cli.mode).await.unwrap()
}

#[tokio::test]
async fn saturate_keeps_connections_busy_and_stops_on_time() {
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let url = format!("{}/chat/completions", mock.base_url());
    let started = Instant::now();
    let r = bench(&[
        "saturate",
        "--url",
        &url,
        "--connections",
        "4",
        "--duration",
        "400ms",
        "--warmup",
        "100ms",
        "--body",
        CHAT,
    ])
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(r.mode, "saturate");
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert!(r.requests > 20, "{r:?}");
    assert!(r.latency.p50_ms > 0.0 && r.latency.p50_ms <= r.latency.p99_ms);
    assert!(r.bytes > r.requests * 300, "full bodies were read");
    // Warmup requests were sent but not counted.
    assert!(mock.stats().chat_requests > r.requests);
}

#[tokio::test]
async fn rate_holds_the_schedule_and_counts_errors() {
    let mock = MockServer::start(MockOptions {
        latency: Duration::from_millis(20),
        error_rate: 0.25,
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let url = format!("{}/chat/completions", mock.base_url());
    let r = bench(&[
        "rate",
        "--url",
        &url,
        "--rps",
        "200",
        "--duration",
        "500ms",
        "--connections",
        "16",
        "--body",
        CHAT,
    ])
    .await;
    assert_eq!(r.requests, 100, "{r:?}");
    assert_eq!(r.errors, 25, "a quarter of the mock's answers are 500s");
    assert_eq!(
        r.first_error.as_deref(),
        Some("HTTP 500 Internal Server Error")
    );
    // 200/s with 20 ms answers needs ~4 connections of 16: on time, latency ~20 ms.
    assert!(
        r.latency.p50_ms >= 20.0 && r.latency.p50_ms < 200.0,
        "{r:?}"
    );
    assert!(r.late.unwrap() < 10, "{r:?}");
    assert_eq!(r.target_rps, Some(200.0));
}

#[tokio::test]
async fn rate_measures_from_the_schedule_when_connections_run_out() {
    let mock = MockServer::start(MockOptions {
        latency: Duration::from_millis(50),
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let url = format!("{}/models", mock.base_url());
    // 100/s of 50 ms requests on one connection: each waits for the last, so the queue grows.
    let r = bench(&[
        "rate",
        "--url",
        &url,
        "--rps",
        "100",
        "--duration",
        "300ms",
        "--connections",
        "1",
    ])
    .await;
    assert_eq!(r.requests, 30);
    assert!(r.late.unwrap() >= 25, "{r:?}");
    // The last request was due at 290 ms but sent at ~1450 ms: its latency includes the wait.
    assert!(r.latency.max_ms > 1000.0, "{r:?}");
}

#[tokio::test]
async fn ttfb_separates_first_byte_from_full_body() {
    let mock = MockServer::start(MockOptions {
        chunks: 5,
        chunk_delay: Duration::from_millis(20),
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let url = format!("{}/chat/completions", mock.base_url());
    let r = bench(&[
        "ttfb",
        "--url",
        &url,
        "--requests",
        "8",
        "--concurrency",
        "4",
        "--body",
        STREAM,
    ])
    .await;
    assert_eq!((r.requests, r.errors), (8, 0), "{r:?}");
    let first = r.ttfb_p50_ms.unwrap();
    assert!(
        first + 50.0 < r.latency.p50_ms,
        "the role chunk comes right away: {r:?}"
    );
    assert!(r.latency.p50_ms >= 100.0, "5 chunks 20 ms apart: {r:?}");
}

#[tokio::test]
async fn refuses_non_loopback_targets() {
    let cli = Cli::try_parse_from([
        "tollgate-bench",
        "saturate",
        "--url",
        "http://192.0.2.1/",
        "--duration",
        "1s",
    ])
    .unwrap();
    let err = tollgate_bench::run(cli.mode).await.unwrap_err();
    assert!(err.to_string().contains("loopback"));
}

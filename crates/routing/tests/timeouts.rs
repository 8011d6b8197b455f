//! Timeouts and cut streams: the first-token timeout fires on time, a silent stream and a
//! mid-stream disconnect end in an explicit error event with partial usage and are never retried.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use tollgate_mock_provider::MockOptions;
use tollgate_proto::routing::v1::{FailureKind, Outcome};

use support::*;

#[tokio::test]
async fn slow_first_token_times_out_within_ten_percent() {
    let slow = mock(MockOptions {
        latency: Duration::from_secs(6),
        ..opts()
    })
    .await;
    let toml = provider("a", &slow.base_url(), true)
        + "[[models]]\nname = \"m\"\ndeployments = [{ provider = \"a\", model = \"up\", first_token_timeout = \"2s\" }]\nprice = { input = \"1\", output = \"2\" }\n";
    let mut r = start(&toml).await;
    let t0 = Instant::now();
    let f = frames(&mut r, call("m", true, false)).await;
    let elapsed = t0.elapsed();
    assert_eq!(failure(&f).kind, FailureKind::UpstreamTimeout as i32);
    assert_eq!(usage(&f).outcome, Outcome::Failed as i32);
    assert!(
        elapsed >= Duration::from_millis(1_800) && elapsed <= Duration::from_millis(2_200),
        "fired after {elapsed:?}, configured 2s"
    );
    assert_eq!(
        slow.stats().chat_requests,
        1,
        "no retry on the same slow deployment"
    );
}

#[tokio::test]
async fn a_silent_stream_gets_an_error_event_and_partial_usage() {
    let quiet = mock(MockOptions {
        chunk_delay: Duration::from_secs(1),
        ..opts()
    })
    .await;
    let toml = provider("a", &quiet.base_url(), true)
        + "[[models]]\nname = \"m\"\ndeployments = [{ provider = \"a\", model = \"up\", stream_idle_timeout = \"300ms\" }]\nprice = { input = \"1\", output = \"2\" }\n";
    let mut r = start(&toml).await;
    let t0 = Instant::now();
    let f = frames(&mut r, call("m", true, false)).await;
    // First token after 1 s, then 300 ms of silence; the whole answer would take 3 s.
    assert!(
        t0.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        t0.elapsed()
    );
    start_frame(&f);
    let sse = data(&f);
    let evs = events(&sse);
    let text: String = evs
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "lorem", "{sse}");
    assert_eq!(
        evs.last().unwrap()["error"]["code"],
        "upstream_timeout",
        "{sse}"
    );
    let u = usage(&f);
    assert_eq!(u.outcome, Outcome::Failed as i32);
    assert_eq!(u.output_tokens, 1, "partial usage: the token delivered");
    assert!(u.input_tokens > 0, "the prompt is billed");
}

#[tokio::test]
async fn mid_stream_disconnect_is_never_retried_into_duplicate_content() {
    let cut = mock(MockOptions {
        disconnect_after: Some(2),
        ..opts()
    })
    .await;
    let spare = mock(opts()).await;
    let deps = r#"{ name = "da", provider = "a", model = "up", priority = 0 }, { name = "db", provider = "b", model = "up", priority = 1 }"#;
    let mut r = start(&two(&cut, &spare, "strategy = \"priority\"", deps, "")).await;
    let f = frames(&mut r, call("m", true, false)).await;
    assert_eq!(start_frame(&f).deployment, "da");
    let sse = data(&f);
    let evs = events(&sse);
    let text: String = evs
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "lorem ipsum", "the two chunks, once");
    assert_eq!(
        evs.last().unwrap()["error"]["code"],
        "upstream_error",
        "{sse}"
    );
    let u = usage(&f);
    assert_eq!(u.outcome, Outcome::Failed as i32);
    assert_eq!(u.output_tokens, 2, "partial usage: what was delivered");
    assert_eq!(cut.stats().chat_requests, 1);
    assert_eq!(
        spare.stats().chat_requests,
        0,
        "no retry after the first byte"
    );
}

#[tokio::test]
async fn a_stream_cut_before_its_first_token_still_fails_over() {
    // The role chunk arrives, then the connection resets before any content.
    let cut = mock(MockOptions {
        disconnect_after: Some(0),
        ..opts()
    })
    .await;
    let spare = mock(opts()).await;
    let deps = r#"{ name = "da", provider = "a", model = "up", priority = 0 }, { name = "db", provider = "b", model = "up", priority = 1 }"#;
    let mut r = start(&two(&cut, &spare, "strategy = \"priority\"", deps, "")).await;
    let f = frames(&mut r, call("m", true, false)).await;
    assert_eq!(start_frame(&f).deployment, "db");
    let sse = data(&f);
    let evs = events(&sse);
    assert_eq!(
        evs.iter()
            .filter(|e| e["choices"][0]["delta"]["role"] == "assistant")
            .count(),
        1,
        "one role chunk, from the deployment that served: {sse}"
    );
    let text: String = evs
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "lorem ipsum dolor");
    assert_eq!(usage(&f).outcome, Outcome::Completed as i32);
    assert_eq!(cut.stats().chat_requests, 1);
}

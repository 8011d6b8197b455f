//! Provider outages against real mock providers with their fault flags: ejection within five
//! failures, half-open probing, 429 storms and Retry-After, active health checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use tollgate_mock_provider::MockOptions;

use support::*;

#[tokio::test]
async fn outage_of_one_deployment_costs_no_client_errors_and_ejects_within_five_failures() {
    let (down, up) = (mock(failing(500)).await, mock(opts()).await);
    let r = start(&two(&down, &up, "", AB, "")).await;
    let got = served(&r, "m", 60, 1).await;
    assert_eq!(got.len(), 60, "every call succeeded");
    assert!(got.iter().all(|d| d == "db"));
    let calls = down.stats().chat_requests;
    assert!(
        calls <= 5,
        "ejected after 5 consecutive failures, saw {calls}"
    );
    assert!(calls >= 1, "the failing deployment was tried");
    assert_eq!(up.stats().chat_requests, 60);
}

#[tokio::test]
async fn an_ejected_deployment_is_probed_and_comes_back() {
    let (down, up) = (mock(failing(503)).await, mock(opts()).await);
    let toml = two(
        &down,
        &up,
        "",
        AB,
        // Capped at 300 ms so re-ejections during the outage cannot outlast the wait below.
        "[routing]\ncircuit_ejection = \"300ms\"\ncircuit_ejection_max = \"300ms\"\n",
    );
    let r = start(&toml).await;
    let got = served(&r, "m", 40, 1).await;
    assert!(got.iter().all(|d| d == "db"));
    down.set_options(opts());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let got = served(&r, "m", 60, 1).await;
    assert!(
        got.iter().filter(|d| *d == "da").count() >= 10,
        "traffic is back: {got:?}"
    );
}

#[tokio::test]
async fn a_429_storm_shifts_traffic_until_retry_after_passes() {
    let (limited, ok) = (mock(failing(429)).await, mock(opts()).await);
    let r = start(&two(&limited, &ok, "", AB, "")).await;
    let t0 = Instant::now();
    let got = served(&r, "m", 40, 1).await;
    assert!(got.iter().all(|d| d == "db"), "0 client errors");
    let storm_calls = limited.stats().chat_requests;
    if t0.elapsed() < Duration::from_millis(900) {
        // Retry-After: 1 means not one more call within that second.
        assert_eq!(storm_calls, 1, "the rate-limited deployment rested");
    }
    limited.set_options(opts());
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let got = served(&r, "m", 40, 1).await;
    assert!(
        got.iter().filter(|d| *d == "da").count() >= 8,
        "traffic is back: {got:?}"
    );
}

#[tokio::test]
async fn active_health_checks_eject_a_hung_deployment_before_any_call_meets_it() {
    let hung = mock(MockOptions {
        hang: true,
        ..opts()
    })
    .await;
    let ok = mock(opts()).await;
    let deps = r#"{ name = "da", provider = "a", model = "up", first_token_timeout = "2s" }, { name = "db", provider = "b", model = "up" }"#;
    let toml = two(
        &hung,
        &ok,
        "",
        deps,
        "[routing]\nhealth_check_interval = \"50ms\"\n",
    );
    let r = start(&toml).await;
    // Five failed checks (each times out after 50 ms) eject it: wait for a sixth to start.
    let t0 = Instant::now();
    while hung.stats().requests < 6 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "health checks are not running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = served(&r, "m", 20, 1).await;
    assert!(got.iter().all(|d| d == "db"));
    assert_eq!(
        hung.stats().chat_requests,
        0,
        "no client call went to the hung deployment"
    );
}

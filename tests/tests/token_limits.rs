//! Limits beyond one key's requests per minute, through the whole stack: tokens per minute
//! (reserved at admission, settled to the real usage) answered with OpenAI's headers and code,
//! a team-wide limit shared by the team's keys, and a per-model limit within a key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_config::ModelLimits;
use tollgate_tests::{Stack, StackOptions, chat_body};

async fn chat(stack: &Stack, secret: &str, body: &Value) -> reqwest::Response {
    stack
        .http()
        .post(format!("{}/v1/chat/completions", stack.edge_url()))
        .bearer_auth(secret)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn with_max_tokens(model: &str, max_tokens: u64) -> Value {
    let mut b = chat_body(model, false);
    b["max_tokens"] = json!(max_tokens);
    b
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing {name}"))
        .to_str()
        .unwrap()
        .to_owned()
}

fn number(r: &reqwest::Response, name: &str) -> u64 {
    header(r, name).parse().unwrap()
}

/// A key in `team` (created through the admin API), after the edges' snapshots have it.
async fn team_key(stack: &Stack, tenant: &str, team: &str) -> String {
    let k = stack
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            Some(json!({"name": "member", "team_id": team})),
        )
        .await;
    assert_eq!(k["key"]["team_id"], team);
    let secret = k["secret"].as_str().unwrap().to_owned();
    stack.wait_key_works(&stack.edge_url(), &secret, true).await;
    secret
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_per_minute_refuse_with_openais_headers_and_settle_to_real_usage() {
    let stack = Stack::start_with(StackOptions {
        limits: |l| l.default_tpm = 1000,
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("tpm", false).await;
    let (_, secret) = stack.key(&tenant, 0, 0).await;

    // Reserves its prompt estimate plus max_tokens (600) of the minute's 1000 tokens.
    let first = chat(&stack, &secret, &with_max_tokens("mock", 600)).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(number(&first, "x-ratelimit-limit-tokens"), 1000);
    let left = number(&first, "x-ratelimit-remaining-tokens");
    assert!((300..400).contains(&left), "remaining {left}");
    assert!(header(&first, "x-ratelimit-reset-tokens").ends_with('s'));
    first.bytes().await.unwrap();

    // Whatever the first one really used, 990 more tokens do not fit this minute.
    let refused = chat(&stack, &secret, &with_max_tokens("mock", 990)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert_eq!(number(&refused, "x-ratelimit-limit-tokens"), 1000);
    assert!(number(&refused, "x-ratelimit-remaining-tokens") < 1000);
    assert!(!header(&refused, "x-ratelimit-reset-tokens").is_empty());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "tokens_limit_exceeded", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1000 tokens per minute"),
        "{body}"
    );

    // The first request used ~30 of its ~630 reserved tokens; once it is settled another
    // request of the same size fits, which it could not if the reservation stayed counted.
    let t0 = Instant::now();
    loop {
        let again = chat(&stack, &secret, &with_max_tokens("mock", 600)).await;
        if again.status() == StatusCode::OK {
            let left = number(&again, "x-ratelimit-remaining-tokens");
            assert!((250..400).contains(&left), "remaining {left}");
            break;
        }
        assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the reservation was never settled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_rpm_is_shared_by_every_key_of_the_team() {
    let stack = Stack::start_with(StackOptions {
        limits: |l| l.team_rpm = 3,
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("teams", false).await;
    let team = stack
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/tenants/{tenant}/teams"),
            Some(json!({"name": "research"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = team_key(&stack, &tenant, &team).await;
    let b = team_key(&stack, &tenant, &team).await;
    let (_, outsider) = stack.key(&tenant, 0, 0).await;

    for (secret, remaining) in [(&a, 2), (&b, 1), (&a, 0)] {
        let r = chat(&stack, secret, &chat_body("mock", false)).await;
        assert_eq!(r.status(), StatusCode::OK);
        // The team's window is the tightest, so the headers describe it.
        assert_eq!(number(&r, "x-ratelimit-limit-requests"), 3);
        assert_eq!(number(&r, "x-ratelimit-remaining-requests"), remaining);
        r.bytes().await.unwrap();
    }
    let refused = chat(&stack, &b, &chat_body("mock", false)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(number(&refused, "x-ratelimit-remaining-requests"), 0);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("for this team"),
        "{body}"
    );
    // A key outside the team is not held back by it.
    let r = chat(&stack, &outsider, &chat_body("mock", false)).await;
    assert_eq!(r.status(), StatusCode::OK);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_model_limit_counts_the_model_under_every_alias() {
    let stack = Stack::start_with(StackOptions {
        limits: |l| {
            l.per_model
                .insert("mock".into(), ModelLimits { rpm: 2, tpm: 0 });
        },
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("models", false).await;
    let (_, secret) = stack.key(&tenant, 0, 0).await;
    // "gpt-4o-mini" is an alias of "mock": both count against the model's 2 per minute.
    for model in ["mock", "gpt-4o-mini"] {
        let r = chat(&stack, &secret, &chat_body(model, false)).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.unwrap();
    }
    let refused = chat(&stack, &secret, &chat_body("mock", false)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 requests per minute for this model on this key"),
        "{body}"
    );
    // Another key has the model's whole allowance of its own.
    let (_, other) = stack.key(&tenant, 0, 0).await;
    let r = chat(&stack, &other, &chat_body("mock", false)).await;
    assert_eq!(r.status(), StatusCode::OK);
    stack.shutdown().await;
}

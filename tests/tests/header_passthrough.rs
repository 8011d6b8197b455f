//! Client headers a provider needs (Claude Code's `anthropic-beta` flags, OpenAI's
//! `openai-beta`) reach that provider and no other; the caller's credentials and headers off the
//! allow-lists never reach any; and the provider's own request id comes back as
//! `x-upstream-request-id`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::json;
use tollgate_tests::Stack;

/// The headers the mock saw on its last request to a path starting with `prefix`.
fn last_seen(stack: &Stack, prefix: &str) -> reqwest::header::HeaderMap {
    stack
        .mock
        .seen_headers()
        .into_iter()
        .rev()
        .find(|(path, _)| path.starts_with(prefix))
        .unwrap_or_else(|| panic!("the mock saw no request to {prefix}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beta_headers_reach_their_provider_and_credentials_never_do() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("headers", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let edge = stack.edge_url();

    // Claude Code's way in: Anthropic's Messages API with beta flags.
    let r = stack
        .http()
        .post(format!("{edge}/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
        )
        .header("openai-beta", "assistants=v2")
        .header("x-custom-client", "not on any list")
        .json(&json!({"model": "claude-mock", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let upstream = r.headers()["x-upstream-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(upstream.starts_with("req_mock_"), "{upstream}");
    let seen = last_seen(&stack, "/v1/messages");
    assert_eq!(
        seen["anthropic-beta"],
        "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
    );
    assert_eq!(seen["anthropic-version"], "2023-06-01");
    assert!(
        seen.get_all("anthropic-version").iter().count() == 1,
        "{seen:?}"
    );
    assert!(
        !seen.contains_key("openai-beta"),
        "not on Anthropic's list: {seen:?}"
    );
    assert!(
        !seen.contains_key("x-custom-client"),
        "not on the edge's list: {seen:?}"
    );

    // An OpenAI SDK's beta header reaches an OpenAI-kind provider, Anthropic's does not.
    let r = stack
        .http()
        .post(format!("{edge}/v1/chat/completions"))
        .bearer_auth(&key)
        .header("openai-beta", "assistants=v2")
        .header("anthropic-beta", "should-not-pass")
        .json(&json!({"model": "mock", "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-upstream-request-id"));
    let seen = last_seen(&stack, "/v1/chat/completions");
    assert_eq!(seen["openai-beta"], "assistants=v2");
    assert!(!seen.contains_key("anthropic-beta"), "{seen:?}");

    // Gemini takes none of them.
    let r = stack
        .http()
        .post(format!("{edge}/v1/chat/completions"))
        .bearer_auth(&key)
        .header("openai-beta", "assistants=v2")
        .header("anthropic-beta", "x")
        .json(&json!({"model": "gemini-mock", "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = last_seen(&stack, "/v1beta/");
    assert!(
        !seen.contains_key("openai-beta") && !seen.contains_key("anthropic-beta"),
        "{seen:?}"
    );

    // The caller's key never reached the provider, under any header.
    for (path, headers) in stack.mock.seen_headers() {
        for (name, value) in &headers {
            assert!(
                !value.to_str().unwrap_or("").contains(&key),
                "the caller's key reached the provider in {name} on {path}"
            );
        }
    }
    stack.shutdown().await;
}

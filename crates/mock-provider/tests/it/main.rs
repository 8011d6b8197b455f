//! Integration tests: the real mock server on port 0, driven over HTTP with reqwest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bedrock;
mod chat;
mod faults;
mod gemini;
mod messages;
mod misc;
mod responses;
mod sse;
mod stream;
mod translate;

use serde_json::{Value, json};
use tollgate_mock_provider::{MockOptions, MockServer};

pub async fn start(opts: MockOptions) -> MockServer {
    MockServer::start(opts).await.expect("mock starts")
}

/// A mock whose answers are `chunks` words long, otherwise the defaults.
pub async fn start_with_chunks(chunks: usize) -> MockServer {
    start(MockOptions {
        chunks,
        ..MockOptions::default()
    })
    .await
}

/// `base` with the fields of `extra` added (or replaced): a test's variation on a request.
pub fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    base
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("client builds")
}

/// A chat request with three messages of 2, 1 and 4 words: prompt_tokens = 5 + 4 + 7 + 3 = 19.
pub fn chat_body(extra: Value) -> Value {
    with(
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "be terse"},
                {"role": "user", "content": [{"type": "text", "text": "hello"}]},
                {"role": "user", "content": "what is  the answer"}
            ]
        }),
        extra,
    )
}

pub const PROMPT_TOKENS: u64 = 19;

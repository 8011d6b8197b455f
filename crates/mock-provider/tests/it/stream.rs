use serde_json::{Value, json};
use tollgate_mock_provider::MockOptions;

use crate::sse::read_events;
use crate::{PROMPT_TOKENS, chat_body, client, start, start_with_chunks};

async fn stream(base: &str, extra: Value) -> crate::sse::SseRead {
    let mut body = chat_body(extra);
    body["stream"] = json!(true);
    let response = client()
        .post(format!("{base}/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    read_events(response).await
}

fn parse(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .map(|e| serde_json::from_str(e).expect("each event is JSON"))
        .collect()
}

#[tokio::test]
async fn stream_follows_openai_event_order_without_usage() {
    let mock = start_with_chunks(5).await;
    let read = stream(&mock.base_url(), json!({})).await;
    assert!(read.error.is_none());
    assert_eq!(read.events.last().map(String::as_str), Some("[DONE]"));
    let chunks = parse(&read.events[..read.events.len() - 1]);
    assert_eq!(chunks.len(), 1 + 5 + 1, "role, 5 content, finish");

    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id);
        assert_eq!(c["model"], "gpt-4o-mini");
        assert!(c.get("usage").is_none(), "no usage key unless asked");
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role":"assistant","content":"","refusal":null})
    );
    let text: String = chunks[1..6]
        .iter()
        .map(|c| {
            assert!(c["choices"][0]["finish_reason"].is_null());
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "lorem ipsum dolor sit amet");
    assert_eq!(chunks[6]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[6]["choices"][0]["delta"], json!({}));

    let stats = mock.stats();
    assert_eq!(
        (stats.prompt_tokens, stats.completion_tokens),
        (PROMPT_TOKENS, 5)
    );
}

#[tokio::test]
async fn include_usage_adds_a_final_usage_chunk_with_empty_choices() {
    let mock = start(MockOptions::default()).await;
    let read = stream(
        &mock.base_url(),
        json!({"stream_options": {"include_usage": true}, "max_tokens": 7}),
    )
    .await;
    assert!(read.error.is_none());
    assert_eq!(read.events.last().map(String::as_str), Some("[DONE]"));
    let chunks = parse(&read.events[..read.events.len() - 1]);
    assert_eq!(chunks.len(), 1 + 7 + 1 + 1);
    for c in &chunks[..chunks.len() - 1] {
        assert!(
            c["usage"].is_null() && c.get("usage").is_some(),
            "usage: null on every chunk"
        );
    }
    assert_eq!(chunks[8]["choices"][0]["finish_reason"], "length");
    let last = &chunks[9];
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], PROMPT_TOKENS);
    assert_eq!(last["usage"]["completion_tokens"], 7);
    assert_eq!(last["usage"]["total_tokens"], PROMPT_TOKENS + 7);
}

#[tokio::test]
async fn chunk_delay_spaces_the_content_chunks() {
    let opts = MockOptions {
        chunks: 4,
        chunk_delay: std::time::Duration::from_millis(30),
        ..MockOptions::default()
    };
    let mock = start(opts).await;
    let started = std::time::Instant::now();
    let read = stream(&mock.base_url(), json!({})).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(120));
    assert_eq!(read.events.len(), 1 + 4 + 1 + 1);
    assert_eq!(mock.stats().completion_tokens, 4);
}

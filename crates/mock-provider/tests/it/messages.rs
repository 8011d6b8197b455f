//! Anthropic Messages on the mock: framing, usage arithmetic, prompt caching, tool use, faults.

use std::time::Duration;

use serde_json::{Value, json};
use tollgate_formats::anthropic::{StreamUsage, usage_from_response};
use tollgate_mock_provider::{MockOptions, MockServer};

use crate::{client, start, start_with_chunks, with};

/// System "be terse" (2 words), user "what is the answer" (4): 2 + (3 + 4) + 3 = 12 tokens.
fn body(extra: Value) -> Value {
    with(
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": "be terse",
            "messages": [{"role": "user", "content": "what is  the answer"}]
        }),
        extra,
    )
}

const PROMPT: u64 = 12;

fn post(mock: &MockServer, path: &str, b: &Value) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}{path}", mock.base_url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(b)
}

/// (event name, data) of every event of a complete SSE body, checking Anthropic's framing.
async fn events(response: reqwest::Response) -> (Vec<(String, Value)>, Option<reqwest::Error>) {
    let mut text = String::new();
    let mut response = response;
    let error = loop {
        match response.chunk().await {
            Ok(Some(b)) => text.push_str(std::str::from_utf8(&b).unwrap()),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    let mut out = Vec::new();
    for raw in text.split_terminator("\n\n") {
        let (event, data) = raw
            .strip_prefix("event: ")
            .and_then(|r| r.split_once("\ndata: "))
            .unwrap_or_else(|| panic!("not `event: x\\ndata: y`: {raw:?}"));
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["type"], event, "event name is the data's type");
        out.push((event.to_owned(), data));
    }
    (out, error)
}

#[tokio::test]
async fn a_plain_message_has_anthropics_shape_and_the_documented_usage() {
    let mock = start_with_chunks(5).await;
    let r = post(&mock, "/messages", &body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let m: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(m["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        (&m["type"], &m["role"], &m["model"], &m["stop_reason"]),
        (
            &json!("message"),
            &json!("assistant"),
            &json!("claude-sonnet-4-5"),
            &json!("end_turn")
        )
    );
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": "lorem ipsum dolor sit amet"}])
    );
    assert_eq!(m["usage"]["input_tokens"], PROMPT);
    assert_eq!(m["usage"]["output_tokens"], 5);
    assert_eq!(m["usage"]["cache_read_input_tokens"], 0);
    let stats = mock.stats();
    assert_eq!(
        (stats.requests, stats.messages_requests, stats.chat_requests),
        (1, 1, 0)
    );
    assert_eq!((stats.prompt_tokens, stats.completion_tokens), (PROMPT, 5));
    let u = usage_from_response(&bytes).unwrap().unwrap();
    assert_eq!((u.input_tokens, u.output_tokens), (PROMPT, 5));

    // max_tokens cuts the answer short.
    let r = post(&mock, "/messages", &body(json!({"max_tokens": 2})))
        .send()
        .await
        .unwrap();
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["stop_reason"], "max_tokens");
    assert_eq!(m["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn a_second_identical_cached_prompt_reads_from_the_cache() {
    let mock = start(MockOptions::default()).await;
    let cached = body(json!({"system": [
        {"type": "text", "text": "be terse"},
        {"type": "text", "text": "a very long reference document", "cache_control": {"type": "ephemeral"}}
    ]}));
    // Cached prefix: 2 + 5 system words = 7; the rest: (3 + 4) + 3 = 10.
    let first: Value = post(&mock, "/messages", &cached)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["usage"]["cache_creation_input_tokens"], 7);
    assert_eq!(
        first["usage"]["cache_creation"]["ephemeral_5m_input_tokens"],
        7
    );
    assert_eq!(first["usage"]["cache_read_input_tokens"], 0);
    assert_eq!(first["usage"]["input_tokens"], 10);
    let second: Value = post(&mock, "/messages", &cached)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(second["usage"]["cache_read_input_tokens"], 7);
    assert_eq!(second["usage"]["input_tokens"], 10);
    let stats = mock.stats();
    assert_eq!(
        (
            stats.prompt_tokens,
            stats.cache_write_tokens,
            stats.cache_read_tokens
        ),
        (34, 7, 7)
    );
}

#[tokio::test]
async fn streams_follow_anthropics_event_order_and_usage() {
    let mock = start_with_chunks(3).await;
    let r = post(&mock, "/messages", &body(json!({"stream": true})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (evs, error) = events(r).await;
    assert!(error.is_none());
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(evs[0].1["message"]["usage"]["input_tokens"], PROMPT);
    assert_eq!(evs[0].1["message"]["usage"]["output_tokens"], 1);
    let text: String = evs[3..6]
        .iter()
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "lorem ipsum dolor");
    assert_eq!(evs[7].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(evs[7].1["usage"]["output_tokens"], 3);
    // Tollgate's own stream usage reader agrees.
    let mut usage = StreamUsage::new();
    for (_, d) in &evs {
        usage.observe(&d.to_string()).unwrap();
    }
    let u = usage.usage().unwrap();
    assert_eq!((u.input_tokens, u.output_tokens), (PROMPT, 3));
    assert_eq!(mock.stats().completion_tokens, 3);
}

#[tokio::test]
async fn parallel_tool_use_streams_one_block_per_tool_with_split_json() {
    let mock = start(MockOptions::default()).await;
    let tools = json!([
        {"name": "get_weather", "description": "Get the weather",
         "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}
    ]);
    let req = json!({"tools": tools, "stream": true,
        "messages": [{"role": "user", "content": "Please use all the tools."}]});
    let (evs, _) = events(post(&mock, "/messages", &body(req)).send().await.unwrap()).await;
    let starts: Vec<&Value> = evs
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(starts.len(), 2);
    for (i, name) in ["get_weather", "get_time"].iter().enumerate() {
        assert_eq!(starts[i]["index"], i);
        assert_eq!(starts[i]["content_block"]["type"], "tool_use");
        assert_eq!(starts[i]["content_block"]["name"], *name);
        let json: String = evs
            .iter()
            .filter(|(n, d)| n == "content_block_delta" && d["index"] == i)
            .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        let input: Value = serde_json::from_str(&json).unwrap();
        assert!(input.as_object().unwrap().values().all(|v| v == "lorem"));
    }
    let delta = &evs.iter().find(|(n, _)| n == "message_delta").unwrap().1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 16);

    // Parallel use disabled: one tool only, non-streaming.
    let req = json!({"tools": tools, "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "messages": [{"role": "user", "content": "Please use all the tools."}]});
    let m: Value = post(&mock, "/messages", &body(req))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["content"].as_array().unwrap().len(), 1);
    assert_eq!(m["content"][0]["input"], json!({"location": "lorem"}));
}

#[tokio::test]
async fn keys_versions_and_injected_errors_use_anthropics_error_shape() {
    let mock = start(MockOptions {
        api_key: Some("sk-ant-test".into()),
        ..MockOptions::default()
    })
    .await;
    let url = format!("{}/messages", mock.base_url());
    let r = client()
        .post(&url)
        .bearer_auth("sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        e,
        json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
    );
    let r = client()
        .post(&url)
        .header("x-api-key", "sk-ant-test")
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = post(
        &mock,
        "/messages",
        &json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert_eq!(e["error"]["message"], "max_tokens: Field required");

    for (status, kind) in [
        (529, "overloaded_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
    ] {
        mock.set_options(MockOptions {
            error_rate: 1.0,
            error_status: status,
            ..mock.options()
        });
        let r = post(&mock, "/messages", &body(json!({})))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        assert_eq!(r.headers().get("retry-after").is_some(), status == 429);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["type"], "error");
        assert_eq!(e["error"]["type"], kind);
    }
}

#[tokio::test]
async fn disconnect_after_cuts_the_stream_and_chunk_delay_spaces_it() {
    let mock = start(MockOptions {
        disconnect_after: Some(2),
        chunk_delay: Duration::from_millis(5),
        ..MockOptions::default()
    })
    .await;
    let r = post(&mock, "/messages", &body(json!({"stream": true})))
        .send()
        .await
        .unwrap();
    let (evs, error) = events(r).await;
    assert!(error.is_some(), "the body must fail, not end cleanly");
    let deltas = evs
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .count();
    assert_eq!(deltas, 2);
    assert!(!evs.iter().any(|(n, _)| n == "message_stop"));
    assert_eq!(mock.stats().completion_tokens, 2);

    let slow = start(MockOptions {
        chunks: 4,
        chunk_delay: Duration::from_millis(30),
        ..MockOptions::default()
    })
    .await;
    let t = std::time::Instant::now();
    let (evs, error) = events(
        post(&slow, "/messages", &body(json!({"stream": true})))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(error.is_none());
    assert!(t.elapsed() >= Duration::from_millis(120));
    assert_eq!(evs.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn count_tokens_follows_the_same_rule() {
    let mock = start(MockOptions::default()).await;
    let mut b = body(json!({}));
    b.as_object_mut().unwrap().remove("max_tokens");
    let r = post(&mock, "/messages/count_tokens", &b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"input_tokens": PROMPT}));
    assert_eq!(mock.stats().prompt_tokens, 0);
}

#[tokio::test]
async fn thinking_comes_first_with_a_signature() {
    let mock = start_with_chunks(2).await;
    let req = json!({"thinking": {"type": "enabled", "budget_tokens": 1024}});
    let m: Value = post(&mock, "/messages", &body(req.clone()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["content"][0]["type"], "thinking");
    assert_eq!(m["content"][0]["thinking"], "Let me think this through.");
    assert!(!m["content"][0]["signature"].as_str().unwrap().is_empty());
    assert_eq!(m["content"][1]["text"], "lorem ipsum");
    assert_eq!(m["usage"]["output_tokens"], 5 + 2);

    let mut streamed = req;
    streamed["stream"] = json!(true);
    let (evs, _) = events(
        post(&mock, "/messages", &body(streamed))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let kinds: Vec<String> = evs
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| format!("{}:{}", d["index"], d["delta"]["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            "0:thinking_delta",
            "0:thinking_delta",
            "0:thinking_delta",
            "0:thinking_delta",
            "0:thinking_delta",
            "0:signature_delta",
            "1:text_delta",
            "1:text_delta"
        ]
    );
    let delta = &evs.iter().find(|(n, _)| n == "message_delta").unwrap().1;
    assert_eq!(delta["usage"]["output_tokens"], 7);
}

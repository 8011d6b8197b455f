use serde_json::{Value, json};
use tollgate_mock_provider::MockOptions;

use crate::{PROMPT_TOKENS, chat_body, client, start, start_with_chunks};

#[tokio::test]
async fn completion_has_openai_shape_and_exact_usage() {
    let mock = start(MockOptions::default()).await;
    let response = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(&chat_body(json!({"n": 3})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();

    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(body["model"], "gpt-4o-mini");
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0]["index"], 0);
    assert_eq!(choices[0]["message"]["role"], "assistant");
    assert_eq!(choices[0]["finish_reason"], "stop");
    let content = choices[0]["message"]["content"].as_str().unwrap();
    assert_eq!(content.split_whitespace().count(), 16);
    assert!(content.starts_with("lorem ipsum"));

    let usage = &body["usage"];
    assert_eq!(usage["prompt_tokens"], PROMPT_TOKENS);
    assert_eq!(usage["completion_tokens"], 16);
    assert_eq!(usage["total_tokens"], PROMPT_TOKENS + 16);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);

    let stats = mock.stats();
    assert_eq!((stats.requests, stats.chat_requests), (1, 1));
    assert_eq!(
        (stats.prompt_tokens, stats.completion_tokens),
        (PROMPT_TOKENS, 16)
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn max_tokens_caps_the_answer_with_finish_reason_length() {
    let mock = start_with_chunks(10).await;
    let url = format!("{}/chat/completions", mock.base_url());
    for (limit, expected_tokens, reason) in [
        (json!({"max_tokens": 4}), 4, "length"),
        (
            json!({"max_completion_tokens": 3, "max_tokens": 50}),
            3,
            "length",
        ),
        (json!({"max_tokens": 10}), 10, "stop"),
        (json!({"max_tokens": 500}), 10, "stop"),
    ] {
        let body: Value = client()
            .post(&url)
            .json(&chat_body(limit))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["usage"]["completion_tokens"], expected_tokens);
        assert_eq!(body["choices"][0]["finish_reason"], reason);
        let content = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(content.split_whitespace().count() as u64, expected_tokens);
    }
    assert_eq!(mock.stats().completion_tokens, 4 + 3 + 10 + 10);
}

#[tokio::test]
async fn bad_requests_get_openai_400s() {
    let mock = start(MockOptions::default()).await;
    let url = format!("{}/chat/completions", mock.base_url());
    let cases = [
        ("{\"model\":", None),
        (r#"{"messages":[{"role":"user","content":"hi"}]}"#, None),
        (r#"{"model":"m"}"#, Some("messages")),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#,
            Some("max_tokens"),
        ),
    ];
    for (body, param) in cases {
        let response = client()
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let err: Value = response.json().await.unwrap();
        let err = &err["error"];
        assert_eq!(err["type"], "invalid_request_error");
        assert!(!err["message"].as_str().unwrap().is_empty());
        assert_eq!(err["param"].as_str(), param, "{body}");
        assert!(err.as_object().unwrap().contains_key("code"));
    }
    assert_eq!(mock.stats().prompt_tokens, 0, "nothing was served");
}

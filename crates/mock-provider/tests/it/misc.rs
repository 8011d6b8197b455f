use serde_json::{Value, json};
use tollgate_mock_provider::{MockOptions, MockStats};

use crate::{chat_body, client, start};

#[tokio::test]
async fn api_key_is_required_when_configured() {
    let opts = MockOptions {
        api_key: Some("sk-test-123".into()),
        ..MockOptions::default()
    };
    let mock = start(opts).await;
    let url = format!("{}/chat/completions", mock.base_url());
    for auth in [None, Some("Bearer wrong"), Some("sk-test-123")] {
        let mut req = client().post(&url).json(&chat_body(json!({})));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert!(!body.to_string().contains("sk-test-123"));
    }
    let ok = client()
        .post(&url)
        .bearer_auth("sk-test-123")
        .json(&chat_body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // Without a configured key anything goes.
    let open = start(MockOptions::default()).await;
    let r = client()
        .get(format!("{}/models", open.base_url()))
        .bearer_auth("whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn embeddings_cover_every_input_shape() {
    let mock = start(MockOptions::default()).await;
    let url = format!("{}/embeddings", mock.base_url());
    let post = |body: Value| {
        let url = url.clone();
        async move {
            client()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };

    let one = post(json!({"model": "mock-embed", "input": "hello big world"})).await;
    assert_eq!(one["object"], "list");
    assert_eq!(one["model"], "mock-embed");
    assert_eq!(one["data"][0]["object"], "embedding");
    assert_eq!(one["data"][0]["index"], 0);
    let v = one["data"][0]["embedding"].as_array().unwrap();
    assert_eq!(v.len(), 8);
    assert_eq!(one["usage"], json!({"prompt_tokens": 3, "total_tokens": 3}));

    let many = post(json!({"model": "m", "input": ["hello big world", "other"]})).await;
    assert_eq!(many["data"].as_array().unwrap().len(), 2);
    assert_eq!(many["data"][1]["index"], 1);
    assert_eq!(
        many["data"][0]["embedding"], one["data"][0]["embedding"],
        "deterministic"
    );
    assert_ne!(many["data"][1]["embedding"], one["data"][0]["embedding"]);
    assert_eq!(many["usage"]["prompt_tokens"], 4);

    let tokens = post(json!({"model": "m", "input": [[1, 2, 3], [4, 5]]})).await;
    assert_eq!(tokens["data"].as_array().unwrap().len(), 2);
    assert_eq!(tokens["usage"]["prompt_tokens"], 5);

    let b64 = post(json!({"model": "m", "input": "x", "encoding_format": "base64"})).await;
    let s = b64["data"][0]["embedding"].as_str().unwrap();
    assert_eq!(s.len(), 44, "8 f32 = 32 bytes = 44 base64 chars");

    let bad = client()
        .post(&url)
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(mock.stats().prompt_tokens, 3 + 4 + 5 + 1);
}

#[tokio::test]
async fn models_are_listed() {
    let mock = start(MockOptions::default()).await;
    let body: Value = client()
        .get(format!("{}/models", mock.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mock-1", "mock-2", "mock-embed"]);
    assert_eq!(body["data"][0]["object"], "model");
    let missing = client()
        .get(format!("{}/models/nope", mock.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn options_change_at_runtime_over_http_and_in_process() {
    let mock = start(MockOptions::default()).await;
    let control = format!("http://{}/_mock/options", mock.addr());
    let chat = format!("{}/chat/completions", mock.base_url());

    let current: Value = client()
        .get(&control)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["chunks"], 16);
    assert_eq!(current["latency_ms"], 0);

    let put = client()
        .put(&control)
        .json(&json!({"chunks": 2, "error_rate": 0.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let body: Value = client()
        .post(&chat)
        .json(&chat_body(json!({})))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["usage"]["completion_tokens"], 2);

    let refused = client()
        .put(&control)
        .json(&json!({"error_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    mock.set_options(MockOptions {
        error_rate: 1.0,
        error_status: 429,
        ..MockOptions::default()
    });
    let r = client()
        .post(&chat)
        .json(&chat_body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);

    let stats: MockStats = client()
        .get(format!("http://{}/_mock/stats", mock.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, mock.stats());
    assert_eq!(
        (stats.requests, stats.chat_requests, stats.completion_tokens),
        (2, 2, 2)
    );
}

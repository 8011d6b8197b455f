//! The model catalog a client reads (`GET /v1/models`, `/v1/models/{id}`, and the same under
//! OpenRouter's `/api/v1`): OpenRouter's fields, priced from the catalog in effect, and only the
//! models the caller's key may use.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::{Value, json};
use tollgate_tests::Stack;

async fn get(stack: &Stack, path: &str, key: &str) -> (u16, Value) {
    let r = stack
        .http()
        .get(format!("{}{path}", stack.edge_url()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn ids(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_carries_openrouter_fields_and_only_what_the_key_may_use() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("catalog", false).await;
    let (_, open_key) = stack.key(&tenant, 0, 0).await;
    let k = stack
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            Some(json!({"name": "mock only", "allowed_models": ["mock"]})),
        )
        .await;
    let narrow_key = k["secret"].as_str().unwrap().to_owned();
    stack
        .wait_key_works(&stack.edge_url(), &narrow_key, true)
        .await;

    // Every model and alias for an unrestricted key, under both base URLs.
    let (status, all) = get(&stack, "/v1/models", &open_key).await;
    assert_eq!(status, 200, "{all}");
    let listed = ids(&all);
    for id in [
        "mock",
        "gpt-4o-mini",
        "claude-mock",
        "gemini-mock",
        "bedrock-mock",
    ] {
        assert!(listed.contains(&id), "{id} missing from {listed:?}");
    }
    let (_, openrouter) = get(&stack, "/api/v1/models", &open_key).await;
    assert_eq!(ids(&openrouter), listed);

    // Prices per token as decimal strings, exactly the configured per-million prices.
    let claude = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "claude-mock")
        .unwrap();
    assert_eq!(claude["pricing"]["prompt"], "0.000003", "{claude}");
    assert_eq!(claude["pricing"]["completion"], "0.000015", "{claude}");
    assert_eq!(
        claude["pricing"]["input_cache_read"], "0.0000003",
        "{claude}"
    );
    assert_eq!(
        claude["pricing"]["input_cache_write"], "0.00000375",
        "{claude}"
    );
    assert_eq!(claude["pricing"]["request"], "0", "{claude}");
    assert_eq!(claude["object"], "model");
    assert_eq!(
        claude["architecture"]["input_modalities"],
        json!(["text", "image"]),
        "deployments that list no capabilities have them all: {claude}"
    );
    assert_eq!(claude["architecture"]["output_modalities"], json!(["text"]));
    let params: Vec<&str> = claude["supported_parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for p in [
        "tools",
        "tool_choice",
        "response_format",
        "temperature",
        "max_tokens",
    ] {
        assert!(params.contains(&p), "{p} missing from {params:?}");
    }
    assert!(claude.get("top_provider").is_some(), "{claude}");
    assert!(claude.get("context_length").is_some(), "{claude}");

    // A new price version shows at once (the catalog in effect, not the config's).
    stack
        .admin(
            reqwest::Method::POST,
            "/admin/v1/prices",
            Some(json!({"model": "mock", "input_usd": "0.25", "output_usd": "1.00"})),
        )
        .await;
    let t0 = std::time::Instant::now();
    loop {
        let (_, one) = get(&stack, "/v1/models/mock", &open_key).await;
        if one["pricing"]["prompt"] == "0.00000025" {
            assert_eq!(one["pricing"]["completion"], "0.000001", "{one}");
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "the new price never showed: {one}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A key limited to `mock` sees it and its aliases only; the rest is "not found" to it.
    let (_, narrow) = get(&stack, "/v1/models", &narrow_key).await;
    assert_eq!(ids(&narrow), ["mock", "gpt-4o-mini"], "{narrow}");
    let (status, one) = get(&stack, "/v1/models/gpt-4o-mini", &narrow_key).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["id"], "gpt-4o-mini");
    assert_eq!(one["canonical_slug"], "mock");
    let (status, hidden) = get(&stack, "/api/v1/models/claude-mock", &narrow_key).await;
    assert_eq!(status, 404, "{hidden}");
    assert_eq!(hidden["error"]["code"], "model_not_found");
    let (status, unknown) = get(&stack, "/v1/models/no-such-model", &open_key).await;
    assert_eq!(status, 404, "{unknown}");
    stack.shutdown().await;
}

//! The API key lifecycle end to end: expiry (refused within a second, from memory), rotation
//! with an overlap (both keys work, then only the new one), allowed models (403 before any limit
//! is spent) and metadata (shown by list and get, with the secret never shown again).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate_tests::{Stack, chat_body};

fn expiry(key: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(key["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// `GET /v1/models` with `secret`: the status and the error code, if any.
async fn probe(stack: &Stack, secret: &str) -> (StatusCode, String) {
    let r = stack
        .http()
        .get(format!("{}/v1/models", stack.edge_url()))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    (status, code)
}

/// Poll until `secret` is refused as expired; returns when that happened.
async fn wait_expired(stack: &Stack, secret: &str) -> DateTime<Utc> {
    let t0 = Instant::now();
    loop {
        let (status, code) = probe(stack, secret).await;
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(code, "expired_api_key");
            return Utc::now();
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the key never expired"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn chat(stack: &Stack, secret: &str, model: &str) -> (StatusCode, Value) {
    let r = stack
        .http()
        .post(format!("{}/v1/chat/completions", stack.edge_url()))
        .bearer_auth(secret)
        .json(&chat_body(model, false))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_is_refused_within_a_second_of_expiring() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("expiry", false).await;
    let k = stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            Some(json!({"name": "short", "expires_in": "2s"})),
        )
        .await;
    let secret = k["secret"].as_str().unwrap().to_owned();
    let expires_at = expiry(&k["key"]);
    stack.wait_key_works(&stack.edge_url(), &secret, true).await;
    let (status, _) = chat(&stack, &secret, "mock").await;
    assert_eq!(status, StatusCode::OK);

    let refused_at = wait_expired(&stack, &secret).await;
    let late = refused_at - expires_at;
    assert!(
        late < chrono::Duration::seconds(1),
        "refused {late} after expiry"
    );
    // Not early either (the 2s window is measured by the same clock, give or take a poll).
    assert!(
        late > chrono::Duration::milliseconds(-100),
        "refused {late} before expiry"
    );
    let (status, body) = chat(&stack, &secret, "mock").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "expired_api_key");

    // The admin API shows it as expired.
    let got = stack
        .admin(
            Method::GET,
            &format!(
                "/admin/v1/tenants/{tenant}/keys/{}",
                k["key"]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(got["expired"], true);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_both_keys_working_for_the_overlap_then_only_the_new_one() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("rotation", false).await;
    let (old_id, old_secret) = stack.key(&tenant, 50, 0).await;

    let r = stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys/{old_id}/rotate"),
            Some(json!({"overlap": "3s"})),
        )
        .await;
    let new_secret = r["secret"].as_str().unwrap().to_owned();
    assert_eq!(r["key"]["rotated_from"], old_id.as_str());
    assert_eq!(r["key"]["rpm_limit"], 50);
    assert_eq!(r["key"]["expires_at"], Value::Null);
    assert_eq!(r["old_key"]["id"], old_id.as_str());
    let old_expiry = expiry(&r["old_key"]);
    let overlap = old_expiry - Utc::now();
    assert!(
        overlap > chrono::Duration::seconds(1) && overlap <= chrono::Duration::seconds(3),
        "{overlap}"
    );

    // During the overlap both work.
    stack
        .wait_key_works(&stack.edge_url(), &new_secret, true)
        .await;
    assert_eq!(chat(&stack, &old_secret, "mock").await.0, StatusCode::OK);
    assert_eq!(chat(&stack, &new_secret, "mock").await.0, StatusCode::OK);

    // Then the old one stops, on time, and the new one goes on.
    let refused_at = wait_expired(&stack, &old_secret).await;
    assert!(refused_at - old_expiry < chrono::Duration::seconds(1));
    assert_eq!(chat(&stack, &new_secret, "mock").await.0, StatusCode::OK);

    // Overlap 0: the key being replaced stops at once.
    let new_id = r["key"]["id"].as_str().unwrap();
    let r2 = stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys/{new_id}/rotate"),
            Some(json!({"overlap": "0"})),
        )
        .await;
    let t0 = Instant::now();
    let took = stack
        .wait_key_works(&stack.edge_url(), &new_secret, false)
        .await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(probe(&stack, &new_secret).await.1, "expired_api_key");
    stack
        .wait_key_works(&stack.edge_url(), r2["secret"].as_str().unwrap(), true)
        .await;
    assert!(t0.elapsed() < Duration::from_secs(2));

    // Another tenant cannot rotate these keys.
    let other = stack.tenant("other", false).await;
    let resp = stack
        .http()
        .post(format!(
            "{}/admin/v1/tenants/{other}/keys/{old_id}/rotate",
            stack.edge_url()
        ))
        .bearer_auth(tollgate_tests::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_models_are_enforced_before_any_limit_is_spent() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("models", false).await;
    // Allowed by its alias; one request a minute.
    let k = stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            Some(json!({"name": "narrow", "rpm_limit": 1, "allowed_models": ["gpt-4o-mini"]})),
        )
        .await;
    let secret = k["secret"].as_str().unwrap().to_owned();
    assert_eq!(k["key"]["allowed_models"], json!(["gpt-4o-mini"]));
    stack.wait_key_works(&stack.edge_url(), &secret, true).await;
    for _ in 0..3 {
        let (status, body) = chat(&stack, &secret, "claude-mock").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "model_not_allowed");
        assert_eq!(body["error"]["param"], "model");
    }
    // The refusals spent none of the one request a minute; the model's own name is allowed too.
    let (status, body) = chat(&stack, &secret, "mock").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model"], "mock");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_shown_by_list_and_get_and_the_secret_never_again() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("meta", false).await;
    let k = stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            Some(json!({"name": "labelled", "metadata": {"owner": "ml", "ticket": "OPS-42"}})),
        )
        .await;
    let secret = k["secret"].as_str().unwrap().to_owned();
    let id = k["key"]["id"].as_str().unwrap().to_owned();
    let want = json!({"owner": "ml", "ticket": "OPS-42"});
    assert_eq!(k["key"]["metadata"], want);

    let got = stack
        .admin(
            Method::GET,
            &format!("/admin/v1/tenants/{tenant}/keys/{id}"),
            None,
        )
        .await;
    assert_eq!(got["metadata"], want);
    assert_eq!(got["allowed_models"], json!([]));
    assert_eq!(got["expires_at"], Value::Null);
    let listed = stack
        .admin(
            Method::GET,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            None,
        )
        .await;
    assert_eq!(listed["data"][0]["metadata"], want);
    let secret_part = &secret[secret.len() - 20..];
    assert!(!got.to_string().contains(secret_part));
    assert!(!listed.to_string().contains(secret_part));

    // Not a string value, or too many entries: 400 naming the field.
    for body in [
        json!({"name": "x", "metadata": {"n": 1}}),
        json!({"name": "x", "metadata": (0..17).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
        json!({"name": "x", "expires_in": "soon"}),
    ] {
        let r = stack
            .http()
            .post(format!(
                "{}/admin/v1/tenants/{tenant}/keys",
                stack.edge_url()
            ))
            .bearer_auth(tollgate_tests::ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    // A key of another tenant is not found.
    let other = stack.tenant("other", false).await;
    let r = stack
        .http()
        .get(format!(
            "{}/admin/v1/tenants/{other}/keys/{id}",
            stack.edge_url()
        ))
        .bearer_auth(tollgate_tests::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    stack.shutdown().await;
}

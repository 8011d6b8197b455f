//! Keys reach every edge replica within a second of being created or revoked, with no Postgres
//! query per request; limits hold across replicas; concurrency slots come back when streams end
//! or clients hang up.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use tollgate_mock_provider::MockOptions;
use tollgate_tests::{Stack, StackOptions, chat_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_and_revoked_keys_take_effect_on_every_replica_within_a_second() {
    let mut stack = Stack::start().await;
    let second = stack.add_edge().await;
    let first = stack.edge_url();
    let tenant = stack.tenant("rot", false).await;
    let k = stack
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            Some(serde_json::json!({"name": "fresh"})),
        )
        .await;
    let (id, secret) = (
        k["key"]["id"].as_str().unwrap().to_owned(),
        k["secret"].as_str().unwrap().to_owned(),
    );
    for edge in [&first, &second] {
        let took = stack.wait_key_works(edge, &secret, true).await;
        assert!(
            took < Duration::from_secs(1),
            "new key took {took:?} on {edge}"
        );
    }
    // The secret is never listed again.
    let listed = stack
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            None,
        )
        .await;
    assert!(!listed.to_string().contains(&secret));

    stack
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/v1/tenants/{tenant}/keys/{id}"),
            None,
        )
        .await;
    for edge in [&first, &second] {
        let took = stack.wait_key_works(edge, &secret, false).await;
        assert!(
            took < Duration::from_secs(1),
            "revoked key still worked after {took:?} on {edge}"
        );
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_minute_hold_across_two_replicas() {
    let mut stack = Stack::start().await;
    let second = stack.add_edge().await;
    let first = stack.edge_url();
    let tenant = stack.tenant("rpm", false).await;
    let (_, key) = stack.key(&tenant, 100, 0).await;
    let body = serde_json::to_vec(&chat_body("mock", false)).unwrap();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let url = format!(
            "{}/v1/chat/completions",
            if i % 2 == 0 { &first } else { &second }
        );
        let (http, key, body) = (stack.http().clone(), key.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(
        ok, 100,
        "exactly the limit is admitted across both replicas"
    );
    assert_eq!(limited, 200);
    stack.wait_ledger(&tenant, 100).await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_slots_are_released_when_streams_end_or_clients_hang_up() {
    let stack = Stack::start_with(StackOptions {
        mock: MockOptions {
            chunks: 20,
            chunk_delay: Duration::from_millis(50),
            ..MockOptions::default()
        },
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("conc", false).await;
    let (_, key) = stack.key(&tenant, 0, 1).await;
    let url = format!("{}/v1/chat/completions", stack.edge_url());
    let body = serde_json::to_vec(&chat_body("mock", true)).unwrap();
    let send = || {
        stack
            .http()
            .post(&url)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };

    // One stream open: a second request is refused for concurrency.
    let open = send().await.unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    let mut chunks = open.bytes_stream();
    let first = chunks.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    let refused = send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let b: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(b["error"]["code"], "concurrency_limit_exceeded");

    // The client hangs up mid-stream: the slot comes back.
    drop(chunks);
    let mut admitted = None;
    for _ in 0..100 {
        let r = send().await.unwrap();
        if r.status() == StatusCode::OK {
            admitted = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = admitted.expect("slot never released after the client hung up");
    // Read this one to the end: its slot comes back too.
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let r = send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "slot not released after a completed stream"
    );
    let _ = r.text().await;

    // Three admitted requests, three usage events; the hung-up one billed for what it got.
    let spend = stack.wait_ledger(&tenant, 3).await;
    assert!(spend["total"]["output_tokens"].as_u64().unwrap() > 0);
    stack.shutdown().await;
}

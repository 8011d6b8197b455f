//! Faults lose nothing: usage keeps flowing while billing restarts, every admitted request ends
//! in exactly one ledger row, replays are not counted twice, mid-stream provider failures are
//! explicit and billed for what was delivered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use reqwest::StatusCode;
use tollgate_mock_provider::MockOptions;
use tollgate_tests::{Stack, StackOptions, chat_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_restarts_mid_load_lose_no_usage_and_double_count_none() {
    let mut stack = Stack::start().await;
    let tenant = stack.tenant("durable", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let url = format!("{}/v1/chat/completions", stack.edge_url());
    let client = stack.http().clone();
    let fire = |n: usize| {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let (http, url, key) = (client.clone(), url.clone(), key.clone());
                let body = serde_json::to_vec(&chat_body("mock", i % 2 == 0)).unwrap();
                tokio::spawn(async move {
                    let r = http
                        .post(url)
                        .bearer_auth(key)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let s = r.status();
                    let _ = r.bytes().await;
                    s
                })
            })
            .collect();
        async move {
            for t in tasks {
                assert_eq!(t.await.unwrap(), StatusCode::OK);
            }
        }
    };

    fire(50).await;
    stack.stop_billing().await;
    // Billing is down: requests keep flowing, usage waits in the spool.
    fire(50).await;
    // The edge restarts too while billing is down: the spool survives it.
    stack.restart_edge(0).await;
    fire(20).await;
    stack.start_billing_again().await;
    fire(30).await;

    stack.wait_ledger(&tenant, 150).await;
    // Nothing more arrives later (no duplicates trickling in).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stack.ledger_rows(&tenant).await, 150);
    let served = stack.mock.stats();
    let spend = stack
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/tenants/{tenant}/spend?group_by=model"),
            None,
        )
        .await;
    assert_eq!(
        spend["total"]["output_tokens"].as_u64().unwrap(),
        served.completion_tokens
    );
    assert_eq!(
        spend["total"]["input_tokens"].as_u64().unwrap(),
        served.prompt_tokens
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_dropping_mid_stream_gives_an_error_event_and_partial_usage() {
    let stack = Stack::start_with(StackOptions {
        mock: MockOptions {
            chunks: 10,
            disconnect_after: Some(4),
            ..MockOptions::default()
        },
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("cut", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let r = stack
        .http()
        .post(format!("{}/v1/chat/completions", stack.edge_url()))
        .bearer_auth(&key)
        .json(&chat_body("mock", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .collect();
    let last = events.last().unwrap();
    assert!(
        last.contains("\"error\""),
        "the stream must end in an explicit error event: {text}"
    );
    assert!(
        !text.contains("[DONE]"),
        "a cut stream must not claim to be done"
    );
    let spend = stack.wait_ledger(&tenant, 1).await;
    assert_eq!(
        spend["total"]["output_tokens"].as_u64().unwrap(),
        4,
        "billed for the 4 delivered tokens"
    );
    assert!(spend["total"]["input_tokens"].as_u64().unwrap() > 0);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_is_logged_only_for_tenants_that_allow_it() {
    let stack = Stack::start().await;
    let open = stack.tenant("open-book", true).await;
    let closed = stack.tenant("closed-book", false).await;
    let (_, ko) = stack.key(&open, 0, 0).await;
    let (_, kc) = stack.key(&closed, 0, 0).await;
    for k in [&ko, &kc] {
        let r = stack
            .http()
            .post(format!("{}/v1/chat/completions", stack.edge_url()))
            .bearer_auth(k)
            .json(&chat_body("mock", false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    for (tenant, allowed) in [(&open, true), (&closed, false)] {
        let mut rows = serde_json::Value::Null;
        for _ in 0..200 {
            rows = stack
                .admin(
                    reqwest::Method::GET,
                    &format!("/admin/v1/tenants/{tenant}/logs"),
                    None,
                )
                .await["data"]
                .clone();
            if !rows.as_array().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 1, "each tenant sees only its own log");
        let req = rows[0]["request_body"].as_str().unwrap();
        assert_eq!(req.contains("Say hello to the gateway"), allowed, "{req}");
        assert!(!req.contains("tg-"), "a key leaked into the log");
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_is_billed_for_the_prompt_and_what_was_delivered() {
    let stack = Stack::start_with(StackOptions {
        mock: MockOptions {
            chunks: 40,
            chunk_delay: Duration::from_millis(50),
            ..MockOptions::default()
        },
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("hangup", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let r = stack
        .http()
        .post(format!("{}/v1/chat/completions", stack.edge_url()))
        .bearer_auth(&key)
        .json(&chat_body("mock", true))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut body = r.bytes_stream();
    // Read until five content tokens have arrived, then hang up.
    let mut seen = String::new();
    while seen.matches("\"content\":\"").count() < 6 {
        use futures::StreamExt;
        seen.push_str(std::str::from_utf8(&body.next().await.unwrap().unwrap()).unwrap());
    }
    drop(body);
    stack.wait_ledger(&tenant, 1).await;
    let g: serde_json::Value = stack
        .http()
        .get(format!("{}/api/v1/generation?id={id}", stack.edge_url()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let d = &g["data"];
    assert_eq!(d["outcome"], "client_cancelled", "{g}");
    let out = d["tokens_completion"].as_u64().unwrap();
    // Five were read; at most a couple more were on the wire when the client left; far fewer
    // than the 40 the provider would have sent.
    assert!((5..=8).contains(&out), "billed {out} output tokens: {g}");
    assert!(
        d["tokens_prompt"].as_u64().unwrap() > 0,
        "the prompt is billed: {g}"
    );
    stack.shutdown().await;
}

/// A billing that takes connections and never answers (a hung process, a black-holed network):
/// requests keep succeeding, the edge still shuts down within its bound, and once a real billing
/// is back every event lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_billing_stalls_neither_requests_nor_shutdown_and_loses_no_usage() {
    let mut stack = Stack::start().await;
    let tenant = stack.tenant("hung-billing", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_addr = hole.local_addr().unwrap();
    let black_hole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = hole.accept().await {
            held.push(conn); // accepted, never read, never answered
        }
    });
    let real_billing = std::mem::replace(
        &mut stack.cfg.edge.billing_url,
        format!("http://{hole_addr}"),
    );
    stack.cfg.edge.usage.send_timeout = Duration::from_millis(300);
    let hung = stack.add_edge().await;
    let i = stack.edges.len() - 1;

    let mut ids = Vec::new();
    for n in 0..12 {
        let r = stack
            .http()
            .post(format!("{hung}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat_body("mock", n % 2 == 0))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        ids.push(r.headers()["x-request-id"].to_str().unwrap().to_owned());
        let _ = r.bytes().await.unwrap();
    }

    // Shutdown: no stream to drain, then at most the 5 s final flush.
    let edge = stack.edges.remove(i);
    let stopping = std::time::Instant::now();
    edge.stop().await;
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "shutdown with a hung billing took {took:?}"
    );
    assert_eq!(
        stack.ledger_rows(&tenant).await,
        0,
        "nothing reached billing"
    );

    // The same edge (same spool) starts again against the real billing.
    stack.cfg.edge.billing_url = real_billing;
    stack.add_edge().await;
    stack.wait_ledger(&tenant, 12).await;
    let mut billed = stack.ledger_request_ids(&tenant).await;
    billed.sort();
    ids.sort();
    assert_eq!(billed, ids, "every event landed, once");
    black_hole.abort();
    stack.shutdown().await;
}

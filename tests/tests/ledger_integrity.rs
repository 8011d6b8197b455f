//! The ledger under faults: 10,000 requests (half streaming) through two edge replicas while
//! billing restarts twice and loses its database once. Afterwards the ledger holds exactly one
//! row per request, and its token sums equal what the provider served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use tollgate_tests::{Stack, chat_body};

const REQUESTS: usize = 10_000;
const CLIENTS: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_through_billing_restarts_and_a_database_outage_are_billed_once() {
    let mut stack = Stack::start().await;
    let second = stack.add_edge().await;
    let edges = [stack.edge_url(), second];
    let tenant = stack.tenant("integrity", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, key, edges) = (stack.http().clone(), key.clone(), edges.clone());
            let (next, done) = (next.clone(), done.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= REQUESTS {
                        return;
                    }
                    let url = format!("{}/v1/chat/completions", edges[(i + c) % 2]);
                    let r = http
                        .post(url)
                        .bearer_auth(&key)
                        .json(&chat_body("mock", i % 2 == 0))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::OK, "request {i}");
                    let body = r.text().await.unwrap();
                    if i % 2 == 0 {
                        assert!(
                            body.trim_end().ends_with("data: [DONE]"),
                            "request {i}: {body}"
                        );
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let wait_for = |n: usize| {
        let done = done.clone();
        async move {
            while done.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // Billing restarts twice mid-load; usage waits in the edges' spools meanwhile.
    wait_for(1_500).await;
    stack.stop_billing().await;
    wait_for(2_500).await;
    stack.start_billing_again().await;
    wait_for(4_000).await;
    stack.stop_billing().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stack.start_billing_again().await;
    // Then billing loses its database for two seconds (every connection cut, new ones refused).
    wait_for(6_000).await;
    stack.billing_db.down();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.billing_db.up();

    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(done.load(Ordering::Relaxed), REQUESTS);

    let spend = stack.wait_ledger(&tenant, REQUESTS as u64).await;
    // Late duplicates would show up as more rows; give them the chance.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stack.ledger_rows(&tenant).await, REQUESTS as u64);
    let served = stack.mock.stats();
    assert_eq!(
        spend["total"]["input_tokens"].as_u64().unwrap(),
        served.prompt_tokens
    );
    assert_eq!(
        spend["total"]["output_tokens"].as_u64().unwrap(),
        served.completion_tokens
    );
    stack.shutdown().await;
}

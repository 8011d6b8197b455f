//! The ledger under faults: 10,000 requests (half streaming) through two edge replicas sharing
//! Redis while billing restarts twice and Postgres itself restarts once (a real server stop and
//! start, held down for two seconds). Afterwards the ledger holds exactly one row per request
//! served — the same request ids, none twice — and its token sums equal what the provider
//! served.
//!
//! The test has its own Postgres server ([`PrivatePostgres`]): restarting the shared one would
//! break every other test running in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tollgate_tests::pg::PrivatePostgres;
use tollgate_tests::{Stack, StackOptions, chat_body};

const REQUESTS: usize = 10_000;
const CLIENTS: usize = 32;
/// How long Postgres stays down: several of the edges' usage flushes and billing's batches.
const DB_DOWN: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_through_billing_restarts_and_a_postgres_restart_are_billed_once() {
    let t0 = Instant::now();
    let pg = PrivatePostgres::start().await.expect("private Postgres");
    let mut stack = Stack::start_with(StackOptions {
        database_url: Some(pg.admin_url()),
        ..StackOptions::default()
    })
    .await;
    let second = stack.add_edge().await;
    let edges = [stack.edge_url(), second];
    let tenant = stack.tenant("integrity", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    // The x-request-id of every answer: the ledger must hold exactly these.
    let served = Arc::new(Mutex::new(HashSet::with_capacity(REQUESTS)));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, key, edges) = (stack.http().clone(), key.clone(), edges.clone());
            let (next, done, served) = (next.clone(), done.clone(), served.clone());
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
                    if r.status() != StatusCode::OK {
                        let status = r.status();
                        panic!(
                            "request {i}: {status} {}",
                            r.text().await.unwrap_or_default()
                        );
                    }
                    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
                    let body = r.text().await.unwrap();
                    if i % 2 == 0 {
                        assert!(
                            body.trim_end().ends_with("data: [DONE]"),
                            "request {i}: {body}"
                        );
                    }
                    assert!(served.lock().unwrap().insert(id), "request {i}: id reused");
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
    let load_start = Instant::now();
    // Billing restarts twice mid-load; usage waits in the edges' spools meanwhile.
    wait_for(1_500).await;
    stack.stop_billing().await;
    wait_for(2_500).await;
    stack.start_billing_again().await;
    wait_for(4_000).await;
    stack.stop_billing().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stack.start_billing_again().await;
    // Then Postgres itself restarts: every connection of billing, logging and the edges' key
    // listeners is terminated, new ones are refused for two seconds, and the server comes back
    // on the same port with the same data. Requests keep being served from the edges' snapshots.
    wait_for(6_000).await;
    // Billing's restarts are over: from here on, a batch billing fails to take is the database's.
    let send_errors_before = stack.metric("tollgate_usage_send_errors_total").await;
    let during = done.load(Ordering::Relaxed);
    let down_started = Instant::now();
    pg.stop().await.expect("stop Postgres");
    tokio::time::sleep(DB_DOWN).await;
    pg.start_again().await.expect("start Postgres again");
    let answered_while_down = done.load(Ordering::Relaxed) - during;
    eprintln!(
        "Postgres down {:?} (stop, {DB_DOWN:?}, start); {answered_while_down} requests answered \
         meanwhile",
        down_started.elapsed()
    );
    assert!(
        answered_while_down > 0,
        "no request was answered while Postgres was down: the request path must not need it"
    );

    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(done.load(Ordering::Relaxed), REQUESTS);
    let load_time = load_start.elapsed();
    // The restart reached the ledger's write path (billing refused batches, the edges kept them
    // and retried), so the counts below prove recovery rather than luck of timing.
    let refused = stack.metric("tollgate_usage_send_errors_total").await - send_errors_before;
    assert!(
        refused >= 1.0,
        "no usage batch failed while Postgres was down"
    );

    let spend = stack.wait_ledger(&tenant, REQUESTS as u64).await;
    let settled = load_start.elapsed();
    // Late duplicates would show up as more rows; give them the chance.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stack.ledger_rows(&tenant).await, REQUESTS as u64);
    let served = std::mem::take(&mut *served.lock().unwrap());
    let billed = stack.ledger_request_ids(&tenant).await;
    let billed_set: HashSet<String> = billed.iter().cloned().collect();
    assert_eq!(billed.len(), billed_set.len(), "a request id billed twice");
    assert_eq!(billed_set.len(), REQUESTS);
    assert!(
        billed_set == served,
        "ledger and answers differ: {} served but not billed, {} billed but not served",
        served.difference(&billed_set).count(),
        billed_set.difference(&served).count()
    );
    let provider = stack.mock.stats();
    assert_eq!(
        spend["total"]["input_tokens"].as_u64().unwrap(),
        provider.prompt_tokens
    );
    assert_eq!(
        spend["total"]["output_tokens"].as_u64().unwrap(),
        provider.completion_tokens
    );

    // The edges' key listeners subscribed again after the restart: a key made now works on both
    // replicas through NOTIFY, long before their 30-second fallback poll.
    let made = stack
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            Some(serde_json::json!({"name": "after the restart"})),
        )
        .await;
    let fresh = made["secret"].as_str().unwrap();
    let t_key = Instant::now();
    for edge in &edges {
        stack.wait_key_works(edge, fresh, true).await;
    }
    let key_seen = t_key.elapsed();
    assert!(
        key_seen < Duration::from_secs(5),
        "new key took {key_seen:?}"
    );

    let duplicates = stack.metric("tollgate_usage_events_duplicate_total").await;
    eprintln!(
        "ledger: {} rows, {} input + {} output tokens; {refused} usage batches refused during \
         the restart, {duplicates} resent events recognised as duplicates; load {load_time:?}, ledger settled \
         {settled:?} after load start; new key on both edges in {key_seen:?}; whole test {:?}",
        billed_set.len(),
        provider.prompt_tokens,
        provider.completion_tokens,
        t0.elapsed()
    );
    stack.shutdown().await;
}

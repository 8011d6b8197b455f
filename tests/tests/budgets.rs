//! Budgets that actually stop spending: concurrent requests cannot walk past a budget together
//! (the estimate is reserved at admission), the refusal says when the budget resets, and the
//! ledger never holds more than the budget plus one request's overshoot.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use reqwest::StatusCode;
use serde_json::json;
use tollgate_tests::{Stack, StackOptions};

/// One request is estimated at the prompt estimate (~11 tokens) x $0.15/M plus `max_tokens` (16)
/// x $0.60/M, about $0.0000113, and the mock bills about the same; a budget of $0.00005 fits four
/// of them and not a fifth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_requests_against_a_budget_that_fits_four_admit_at_most_four_fifty_times()
{
    let stack = Stack::start_with(StackOptions::default()).await;
    let tenant = stack.tenant("budgeted", false).await;
    let body = json!({
        "model": "mock",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Count my spend exactly please"}],
    });

    let mut total_violations = 0;
    let mut admitted_per_round = Vec::new();
    for round in 0..50 {
        let (key_id, key) = stack.key(&tenant, 0, 0).await;
        // Sized so that four estimated requests fit and a fifth does not: the estimate is
        // prompt bytes/4 + framing at $0.15/M plus 16 output tokens at $0.60/M, under 16 µ$.
        stack
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v1/tenants/{tenant}/budgets"),
                Some(json!({"scope": "key", "scope_id": key_id, "period": "day",
                            "timezone": "Europe/Berlin", "limit_usd": "0.00005"})),
            )
            .await;
        // Let every edge see the budget (it arrives with the key snapshot).
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;

        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (http, url, key, body) = (
                    stack.http().clone(),
                    format!("{}/v1/chat/completions", stack.edge_url()),
                    key.clone(),
                    body.clone(),
                );
                tokio::spawn(async move {
                    let r = http
                        .post(url)
                        .bearer_auth(key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status();
                    let retry = r
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let v: serde_json::Value = r.json().await.unwrap();
                    (status, retry, v)
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            let (status, retry, v) = t.await.unwrap();
            match status {
                StatusCode::OK => ok += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    assert_eq!(v["error"]["code"], "budget_exceeded", "{v}");
                    let secs: u64 = retry.unwrap().parse().unwrap();
                    assert!(
                        (1..=25 * 3600).contains(&secs),
                        "resets within a day: {secs}"
                    );
                }
                s => panic!("round {round}: unexpected {s}: {v}"),
            }
        }
        if ok > 4 {
            total_violations += 1;
        }
        admitted_per_round.push(ok);
    }
    assert_eq!(
        total_violations, 0,
        "rounds where more than the budget's share got through: {admitted_per_round:?}"
    );
    // The budget is what binds: four fit by estimate, and every round admits them.
    assert!(
        admitted_per_round.iter().all(|&n| n == 4),
        "{admitted_per_round:?}"
    );
    // And the ledger agrees: 50 rounds x 4 requests, each within its key's budget.
    let spend = stack.wait_ledger(&tenant, 200).await;
    let by_key = stack
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/tenants/{tenant}/spend?group_by=key"),
            None,
        )
        .await;
    for row in by_key["rows"].as_array().unwrap() {
        let cost: f64 = row["cost_usd"].as_str().unwrap().parse().unwrap();
        assert!(
            cost <= 0.00005,
            "a key spent {cost} over its $0.00005 budget: {spend}"
        );
    }
    stack.shutdown().await;
}

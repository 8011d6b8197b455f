//! OpenRouter-compatible endpoints and usage exports: the exact cost of one request by its id,
//! the calling key's total spend, the `/api/v1` base URL, and CSV exports whose rows add up to
//! the spend report.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tollgate_tests::{Stack, chat_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openrouter_clients_see_exact_costs_and_exports_add_up() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("or", false).await;
    let (key_id, key) = stack.key(&tenant, 0, 0).await;
    let (_, other_key) = stack.key(&stack.tenant("other", false).await, 0, 0).await;

    // Chat through the OpenRouter base URL.
    let mut ids = Vec::new();
    let mut shown_costs = Vec::new();
    for stream in [false, true, false] {
        let r = stack
            .http()
            .post(format!("{}/api/v1/chat/completions", stack.edge_url()))
            .bearer_auth(&key)
            .json(&chat_body("mock", stream))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        ids.push(r.headers()["x-request-id"].to_str().unwrap().to_owned());
        let header = r
            .headers()
            .get("x-tollgate-cost")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = r.text().await.unwrap();
        if !stream {
            // A whole answer carries its cost in a header and in `usage.cost`, like OpenRouter.
            let v: Value = serde_json::from_str(&text).unwrap();
            let header = header.expect("x-tollgate-cost on a non-streamed answer");
            assert_eq!(
                v["usage"]["cost"].as_f64().unwrap(),
                header.parse::<f64>().unwrap()
            );
            assert!(
                v["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
                "usage kept intact"
            );
            shown_costs.push((ids.len() - 1, header));
        }
    }
    let spend = stack.wait_ledger(&tenant, 3).await;

    // /api/v1/generation: one request's exact cost; its tokens priced at $0.15/$0.60 per M.
    let mut sum_picos = 0i64;
    for id in &ids {
        let g: Value = stack
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
        assert_eq!(d["id"], id.as_str(), "{g}");
        let (inp, out) = (
            d["tokens_prompt"].as_i64().unwrap(),
            d["tokens_completion"].as_i64().unwrap(),
        );
        assert!(inp > 0 && out > 0, "{g}");
        let picos = inp * 150_000 + out * 600_000;
        assert_eq!(
            d["total_cost_usd"].as_str().unwrap(),
            tollgate_domain::Money::from_picos(picos).to_usd_string()
        );
        sum_picos += picos;
    }
    // What the caller was shown is what the ledger holds.
    for (i, shown) in &shown_costs {
        let g: Value = stack
            .http()
            .get(format!(
                "{}/api/v1/generation?id={}",
                stack.edge_url(),
                ids[*i]
            ))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let exact: f64 = g["data"]["total_cost_usd"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(exact, shown.parse::<f64>().unwrap());
    }
    assert_eq!(
        spend["total"]["cost_usd"].as_str().unwrap(),
        tollgate_domain::Money::from_picos(sum_picos).to_usd_string(),
        "per-request costs add up to the spend report exactly"
    );

    // Another tenant's key cannot read this tenant's generation.
    let r = stack
        .http()
        .get(format!(
            "{}/api/v1/generation?id={}",
            stack.edge_url(),
            ids[0]
        ))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = stack
        .http()
        .get(format!(
            "{}/api/v1/generation?id=not-a-uuid",
            stack.edge_url()
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // /api/v1/key: the key's total spend.
    let k: Value = stack
        .http()
        .get(format!("{}/api/v1/key", stack.edge_url()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(k["data"]["label"], key_id.as_str());
    assert_eq!(k["data"]["usage_usd"], spend["total"]["cost_usd"], "{k}");

    // CSV export, two rows a page: three rows over two pages, costs adding up.
    let mut rows = Vec::new();
    let mut token = String::new();
    for _ in 0..5 {
        let r = stack
            .http()
            .get(format!(
                "{}/admin/v1/tenants/{tenant}/usage?format=csv&limit=2&page_token={token}",
                stack.edge_url()
            ))
            .bearer_auth(tollgate_tests::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        token = r
            .headers()
            .get("x-next-page-token")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = r.text().await.unwrap();
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("request_id,started_at,tenant_id")
        );
        rows.extend(lines.map(str::to_owned));
        if token.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(rows.len(), 3, "{rows:?}");
    for id in &ids {
        assert_eq!(
            rows.iter().filter(|r| r.starts_with(id.as_str())).count(),
            1,
            "{id} exported once"
        );
    }
    stack.shutdown().await;
}

//! Money as a user sees it: prices set through the admin API (now, scheduled, per deployment)
//! price the next request exactly as the ledger does; a stream's usage chunk carries its cost;
//! `/api/v1/key` shows the key's budget; budget soft-limit webhooks fire once per threshold
//! across replicas, signed; a stream that outruns its budget ends with an explicit error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate_tests::{Stack, StackOptions, chat_body};

/// One chat call: (x-request-id, x-tollgate-cost, body text).
async fn chat(
    stack: &Stack,
    edge: &str,
    key: &str,
    body: &Value,
) -> (String, Option<String>, String) {
    let r = stack
        .http()
        .post(format!("{edge}/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let cost = r
        .headers()
        .get("x-tollgate-cost")
        .map(|v| v.to_str().unwrap().to_owned());
    (id, cost, r.text().await.unwrap())
}

/// The ledger row of one request, through OpenRouter's generation endpoint (waits for it).
async fn generation(stack: &Stack, key: &str, id: &str) -> Value {
    let t0 = std::time::Instant::now();
    loop {
        let r = stack
            .http()
            .get(format!("{}/api/v1/generation?id={id}", stack.edge_url()))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            return r.json::<Value>().await.unwrap()["data"].clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no ledger row for {id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn picos(usd: &str) -> i64 {
    tollgate_domain::Money::parse_usd(usd).unwrap().picos()
}

/// `usage.cost` of every SSE data event that has one.
fn stream_costs(text: &str) -> Vec<(Value, f64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            let c = v["usage"]["cost"].as_f64()?;
            Some((v, c))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_prices_apply_to_the_next_request_exactly_as_billed() {
    let mut stack = Stack::start().await;
    let replica = stack.add_edge().await;
    let edge = stack.edge_url();
    let tenant = stack.tenant("priced", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let body = chat_body("mock", false);

    // The config's price (version 1): $0.15 in / $0.60 out per M.
    let (id, shown, _) = chat(&stack, &edge, &key, &body).await;
    let g = generation(&stack, &key, &id).await;
    assert_eq!(g["price_version"], 1, "{g}");
    assert_eq!(
        picos(&shown.unwrap()),
        picos(g["total_cost_usd"].as_str().unwrap())
    );

    // A new model price, effective now, and a scheduled one that must not apply yet.
    let now_price = stack
        .admin(
            Method::POST,
            "/admin/v1/prices",
            Some(json!({"model": "mock", "input_usd": "1.5", "output_usd": "6"})),
        )
        .await;
    assert_eq!(now_price["status"], "current", "{now_price}");
    let v_now = now_price["version"].as_i64().unwrap();
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let scheduled = stack
        .admin(
            Method::POST,
            "/admin/v1/prices",
            Some(
                json!({"model": "mock", "input_usd": "100", "output_usd": "100",
                        "effective_from": later}),
            ),
        )
        .await;
    assert_eq!(scheduled["status"], "scheduled", "{scheduled}");

    let (id, shown, text) = chat(&stack, &edge, &key, &body).await;
    let g = generation(&stack, &key, &id).await;
    assert_eq!(g["price_version"], v_now, "{g}");
    let (inp, out) = (
        g["tokens_prompt"].as_i64().unwrap(),
        g["tokens_completion"].as_i64().unwrap(),
    );
    // Ten times the config's price, to the pico-dollar, in the header, the body and the ledger.
    let expected = inp * 1_500_000 + out * 6_000_000;
    assert_eq!(
        picos(g["total_cost_usd"].as_str().unwrap()),
        expected,
        "{g}"
    );
    assert_eq!(picos(&shown.unwrap()), expected);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["usage"]["cost"].as_f64().unwrap(), expected as f64 / 1e12);

    // The other replica learns the price from the database's notification (its fallback poll
    // is 30 s away in this harness): within moments, and then it agrees with the ledger too.
    let t0 = std::time::Instant::now();
    loop {
        let (id, shown, _) = chat(&stack, &replica, &key, &body).await;
        let g = generation(&stack, &key, &id).await;
        if g["price_version"] == v_now {
            assert_eq!(
                picos(&shown.unwrap()),
                picos(g["total_cost_usd"].as_str().unwrap())
            );
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "replica still on the old price: {g}"
        );
    }

    // A deployment price overrides the model's for requests that deployment serves.
    let dep = stack
        .admin(
            Method::POST,
            "/admin/v1/prices",
            Some(json!({"model": "mock", "deployment": "mock-primary",
                        "input_usd": "0.3", "output_usd": "1.2", "per_request_usd": "0.001"})),
        )
        .await;
    let (id, shown, _) = chat(&stack, &edge, &key, &body).await;
    let g = generation(&stack, &key, &id).await;
    assert_eq!(g["price_version"], dep["version"], "{g}");
    let (inp, out) = (
        g["tokens_prompt"].as_i64().unwrap(),
        g["tokens_completion"].as_i64().unwrap(),
    );
    let expected = inp * 300_000 + out * 1_200_000 + 1_000_000_000;
    assert_eq!(
        picos(g["total_cost_usd"].as_str().unwrap()),
        expected,
        "{g}"
    );
    assert_eq!(picos(&shown.unwrap()), expected);

    // The listing shows history, current and scheduled versions.
    let list = stack
        .admin(Method::GET, "/admin/v1/prices?model=mock", None)
        .await;
    let statuses: Vec<(i64, String)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["version"].as_i64().unwrap(),
                p["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(statuses.contains(&(1, "history".into())), "{list}");
    assert!(statuses.contains(&(v_now, "current".into())), "{list}");
    assert!(
        statuses.contains(&(scheduled["version"].as_i64().unwrap(), "scheduled".into())),
        "{list}"
    );

    // A price in the past is refused, and so is an unknown model: nothing recorded changes.
    for bad in [
        json!({"model": "mock", "input_usd": "1", "effective_from": "2020-01-01T00:00:00Z"}),
        json!({"model": "no-such-model", "input_usd": "1"}),
        json!({"model": "mock", "input_usd": "0.0000001"}),
    ] {
        let r = stack
            .http()
            .post(format!("{edge}/admin/v1/prices"))
            .bearer_auth(tollgate_tests::ADMIN_TOKEN)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["message"].as_str().unwrap().len() > 10, "{e}");
    }
    // Prices are the global admin's: a tenant key cannot set them.
    let r = stack
        .http()
        .post(format!("{edge}/admin/v1/prices"))
        .bearer_auth(&key)
        .json(&json!({"model": "mock", "input_usd": "0"}))
        .send()
        .await
        .unwrap();
    assert!(r.status() == StatusCode::UNAUTHORIZED || r.status() == StatusCode::FORBIDDEN);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streams_usage_chunk_carries_the_cost_the_ledger_bills() {
    let stack = Stack::start().await;
    let edge = stack.edge_url();
    let tenant = stack.tenant("streams", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    let mut body = chat_body("mock", true);
    body["stream_options"] = json!({"include_usage": true});
    let (id, _, text) = chat(&stack, &edge, &key, &body).await;
    let costs = stream_costs(&text);
    assert_eq!(costs.len(), 1, "exactly one chunk has usage.cost: {text}");
    let (chunk, cost) = &costs[0];
    assert!(
        chunk["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{chunk}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let g = generation(&stack, &key, &id).await;
    assert_eq!(
        *cost,
        g["total_cost_usd"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    );
    assert!(*cost > 0.0);

    // Anthropic's format: in message_delta's usage.
    let r = stack
        .http()
        .post(format!("{edge}/v1/messages"))
        .bearer_auth(&key)
        .header("anthropic-version", "2023-06-01")
        .json(
            &json!({"model": "claude-mock", "max_tokens": 32, "stream": true,
                      "messages": [{"role": "user", "content": "Hello there"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let text = r.text().await.unwrap();
    let costs = stream_costs(&text);
    assert_eq!(costs.len(), 1, "{text}");
    assert_eq!(costs[0].0["type"], "message_delta");
    let g = generation(&stack, &key, &id).await;
    assert_eq!(
        costs[0].1,
        g["total_cost_usd"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    );
    assert!(text.contains("event: message_stop"), "{text}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openrouter_key_endpoint_shows_the_keys_budget() {
    let stack = Stack::start().await;
    let edge = stack.edge_url();
    let tenant = stack.tenant("or-budget", false).await;
    let (key_id, key) = stack.key(&tenant, 0, 0).await;
    let key_info = || async {
        stack
            .http()
            .get(format!("{edge}/api/v1/key"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let before = key_info().await;
    assert!(before["data"]["limit"].is_null(), "{before}");
    assert!(before["data"]["limit_remaining"].is_null(), "{before}");

    stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant}/budgets"),
            Some(
                json!({"scope": "key", "scope_id": key_id, "period": "month",
                        "limit_usd": "2.5"}),
            ),
        )
        .await;
    let (id, _, _) = chat(&stack, &edge, &key, &chat_body("mock", false)).await;
    let g = generation(&stack, &key, &id).await;
    let spent = picos(g["total_cost_usd"].as_str().unwrap());
    let t0 = std::time::Instant::now();
    let after = loop {
        let v = key_info().await;
        if v["data"]["limit"].as_f64() == Some(2.5) {
            break v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "budget never showed: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let remaining = after["data"]["limit_remaining"].as_f64().unwrap();
    assert_eq!(
        remaining,
        (2_500_000_000_000 - spent) as f64 / 1e12,
        "{after}"
    );
    assert_eq!(after["data"]["limit_reset"], "monthly");
    assert!(after["data"]["usage"].as_f64().unwrap() > 0.0);
    stack.shutdown().await;
}

/// A budget of $0.00003 fits the admission reservation (prompt ~11 tokens at $0.15/M plus 16
/// output tokens at $0.60/M, about $0.0000113) and one extension of it, not two; the mock
/// streams 400 tokens, far past that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outrunning_its_budget_ends_with_budget_exceeded_and_bills_what_was_delivered() {
    let stack = Stack::start_with(StackOptions {
        mock: tollgate_mock_provider::MockOptions {
            chunks: 400,
            chunk_delay: Duration::from_millis(2),
            ..Default::default()
        },
        limits: |l| l.budget_output_tokens = 16,
        ..StackOptions::default()
    })
    .await;
    let edge = stack.edge_url();
    let tenant = stack.tenant("overrun", false).await;
    let (key_id, key) = stack.key(&tenant, 0, 0).await;
    stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant}/budgets"),
            Some(json!({"scope": "key", "scope_id": key_id, "period": "day",
                        "limit_usd": "0.00003"})),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (id, _, text) = chat(&stack, &edge, &key, &chat_body("mock", true)).await;
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let last = events.last().unwrap();
    assert_eq!(last["error"]["code"], "budget_exceeded", "{text}");
    assert!(
        !text.contains("[DONE]"),
        "an ended stream does not claim to be complete"
    );
    let delivered = events
        .iter()
        .filter(|e| e["choices"][0]["delta"]["content"].is_string())
        .count();
    assert!(
        (16..400).contains(&delivered),
        "delivered {delivered} chunks"
    );

    let g = generation(&stack, &key, &id).await;
    let out = g["tokens_completion"].as_u64().unwrap();
    assert!((16..400).contains(&out), "billed {out} output tokens: {g}");
    let cost = picos(g["total_cost_usd"].as_str().unwrap());
    assert!(cost <= 30_000_000, "within the budget: {g}");
    stack.shutdown().await;
}

/// What the webhook receiver got: (x-tollgate-signature, body).
type Received = std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, Vec<u8>)>>>;

/// A tiny webhook receiver on port 0; returns its URL and what it receives.
async fn webhook_receiver() -> (String, Received) {
    use axum::routing::post;
    let got: Received = Received::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    let sig = headers
                        .get("x-tollgate-signature")
                        .map(|v| v.to_str().unwrap().to_owned());
                    sink.lock().unwrap().push((sig, body.to_vec()));
                    StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, got)
}

/// Each request costs about $0.0000113 (see above); with a $0.0001 budget, 6 requests pass 25%
/// and 50% of it, not 75%.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_limit_webhooks_fire_once_per_threshold_across_two_replicas_signed() {
    use hmac::{Hmac, KeyInit, Mac};
    const SECRET: &str = "webhook-signing-secret";
    let (url, got) = webhook_receiver().await;
    let mut stack = Stack::start().await;
    // Two more edges, both watching for alerts (the first one has none configured).
    stack.cfg.edge.budget_alerts.webhook_url = Some(url);
    stack.cfg.edge.budget_alerts.signing_secret = Some(tollgate_config::SecretRef::literal(SECRET));
    stack.cfg.edge.budget_alerts.poll_interval = Duration::from_millis(100);
    // The receiver is on loopback, which an admin-set URL may reach only when allow-listed.
    stack.cfg.edge.outbound_allow = vec!["127.0.0.1/32".into()];
    let a = stack.add_edge().await;
    let b = stack.add_edge().await;
    let tenant = stack.tenant("alerted", false).await;
    let (key_id, key) = stack.key(&tenant, 0, 0).await;
    let budget = stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant}/budgets"),
            Some(
                json!({"scope": "key", "scope_id": key_id, "period": "month",
                        "limit_usd": "0.0001", "alert_thresholds": [0.25, 0.5, 0.75]}),
            ),
        )
        .await;
    assert_eq!(budget["alert_thresholds"], json!([0.25, 0.5, 0.75]));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut spent = 0i64;
    // With max_tokens, admission reserves ~$0.0000113 a request, not 4096 tokens' worth.
    let mut body = chat_body("mock", false);
    body["max_tokens"] = json!(16);
    for i in 0..6 {
        let edge = if i % 2 == 0 { &a } else { &b };
        let (id, _, _) = chat(&stack, edge, &key, &body).await;
        spent += picos(
            generation(&stack, &key, &id).await["total_cost_usd"]
                .as_str()
                .unwrap(),
        );
    }
    assert!(
        (50_000_000..75_000_000).contains(&spent),
        "spent {spent} picos"
    );

    // Both replicas poll every 100 ms: give them many rounds to (wrongly) fire twice.
    let t0 = std::time::Instant::now();
    while got.lock().unwrap().len() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "alerts never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one alert per threshold reached: {got:?}");
    let mut thresholds = Vec::new();
    for (sig, body) in &got {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sig.as_deref(), Some(want.as_str()));
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["budget_id"], budget["id"]);
        assert_eq!(v["tenant_id"], tenant.as_str());
        assert_eq!(v["scope"], "key");
        assert_eq!(v["scope_id"], key_id.as_str());
        assert_eq!(v["limit_usd"], "0.0001");
        assert!(
            v["period_start"].is_string() && v["period_end"].is_string(),
            "{v}"
        );
        let spent_then = picos(v["spent_usd"].as_str().unwrap());
        let threshold = v["threshold"].as_f64().unwrap();
        assert!(spent_then as f64 >= threshold * 100_000_000.0, "{v}");
        thresholds.push(threshold);
    }
    thresholds.sort_by(f64::total_cmp);
    assert_eq!(thresholds, [0.25, 0.5]);
    stack.shutdown().await;
}

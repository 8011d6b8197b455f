//! The edge protecting itself (issue 13): slow or oversized request heads, the connection
//! cap, chunked bodies over the limit, deep JSON, caps on `max_tokens` and `n`, load
//! shedding, the failed-authentication throttle, no SSRF through an admin's webhook URL, and
//! the two start/stop faults (serving before ready; streams cut at the drain deadline without
//! an error event).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tollgate_config::Config;
use tollgate_mock_provider::MockOptions;
use tollgate_tests::{Stack, StackOptions, chat_body};

/// An edge of `stack` with its own config, stopped by dropping or calling `stop`.
struct Edge {
    url: String,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _spool: std::path::PathBuf,
}

impl Edge {
    async fn start(stack: &Stack, tweak: impl FnOnce(&mut Config)) -> Edge {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(stack, l, tweak).await
    }

    /// On `l`, not waiting for readiness (the caller decides what to watch).
    async fn start_on(stack: &Stack, l: TcpListener, tweak: impl FnOnce(&mut Config)) -> Edge {
        let addr = l.local_addr().unwrap();
        let mut cfg = stack.cfg.clone();
        let spool =
            std::env::temp_dir().join(format!("tollgate-hardening-{}", uuid::Uuid::new_v4()));
        cfg.edge.usage.spool_dir = spool.clone();
        tweak(&mut cfg);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.await;
            };
            if let Err(e) = tollgate_edge::run(cfg, l, shutdown).await {
                eprintln!("edge exited with an error: {e}");
            }
        });
        Edge {
            url: format!("http://{addr}"),
            addr,
            stop: Some(tx),
            task,
            _spool: spool,
        }
    }

    async fn wait_ready(&self, http: &reqwest::Client) {
        let t0 = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.url)).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "edge never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.task).await;
    }
}

/// The samples of `name{reason="<reason>"}` on `edge`'s `/metrics`.
async fn refused(http: &reqwest::Client, edge: &str, reason: &str) -> f64 {
    let text = http
        .get(format!("{edge}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let want = format!("reason=\"{reason}\"");
    text.lines()
        .filter(|l| l.starts_with("tollgate_edge_refused_total{") && l.contains(&want))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>()
        + 0.0
}

/// Poll until `refused(reason)` reaches `at_least`.
async fn wait_refused(http: &reqwest::Client, edge: &str, reason: &str, at_least: f64) {
    let t0 = Instant::now();
    while refused(http, edge, reason).await < at_least {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{reason} never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let resp = http
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_are_closed_and_large_heads_refused() {
    let stack = Stack::start().await;
    let edge = Edge::start(&stack, |c| {
        c.edge.hardening.header_read_timeout = Duration::from_millis(500);
        c.edge.hardening.max_headers = 20;
    })
    .await;
    edge.wait_ready(stack.http()).await;

    // Slowloris: a head that never ends is closed at the timeout, not held open.
    let mut tcp = TcpStream::connect(edge.addr).await.unwrap();
    tcp.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the slow connection was still open after 10 s"
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    wait_refused(stack.http(), &edge.url, "header_timeout", 1.0).await;

    // The same over HTTP/2 (prior knowledge): the preface and then nothing, or half a
    // preface. hyper's header timeout is HTTP/1 only; the edge's first-request deadline
    // closes these too.
    for opening in [
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
        &b"PRI * HTTP/2.0\r\n"[..],
    ] {
        let mut tcp = TcpStream::connect(edge.addr).await.unwrap();
        tcp.write_all(opening).await.unwrap();
        let t0 = Instant::now();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "the slow HTTP/2 connection was still open after 10 s"
        );
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    }

    // Too many headers: 431, the connection closed.
    let mut tcp = TcpStream::connect(edge.addr).await.unwrap();
    let mut head = String::from("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    for i in 0..40 {
        head.push_str(&format!("x-h{i}: v\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    wait_refused(stack.http(), &edge.url, "header_too_large", 1.0).await;

    // A head larger than max_header_bytes: 431 too.
    let big = "a".repeat(80 * 1024);
    let r = stack
        .http()
        .get(format!("{}/healthz", edge.url))
        .header("x-big", big)
        .send()
        .await;
    // hyper refuses it itself when the head arrives in pieces (a bare 431, the connection
    // closed); the edge's layer when it arrives whole (431 with the error body).
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    let r = stack
        .http()
        .get(format!("{}/v1/models", edge.url))
        .header("x-big", "a".repeat(40 * 1024))
        .header("x-big2", "a".repeat(30 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    if let Ok(v) = r.json::<Value>().await {
        assert_eq!(v["error"]["code"], "headers_too_large", "{v}");
    }
    edge.stop().await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let stack = Stack::start().await;
    let edge = Edge::start(&stack, |c| c.edge.hardening.max_connections = 2).await;
    // A client keeping no idle connection, so none of ours holds a slot from here on.
    let unpooled = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    edge.wait_ready(&unpooled).await;
    let first = TcpStream::connect(edge.addr).await.unwrap();
    let second = TcpStream::connect(edge.addr).await.unwrap();
    let mut third = TcpStream::connect(edge.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    // Observed, not synchronised: in 500 ms the third connection gets no answer (it waits in
    // the backlog; it is not refused).
    let waited =
        tokio::time::timeout(Duration::from_millis(500), third.read_to_end(&mut buf)).await;
    assert!(
        waited.is_err(),
        "answered beyond the cap: {:?}",
        String::from_utf8_lossy(&buf)
    );
    drop(first);
    tokio::time::timeout(Duration::from_secs(10), third.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    drop(second);
    assert!(refused(&unpooled, &edge.url, "connection_cap").await >= 1.0);
    edge.stop().await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_deep_json_and_caps_are_refused_in_the_callers_format() {
    let stack = Stack::start_with(StackOptions {
        max_body_bytes: 1024,
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("hardening", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let edge = Edge::start(&stack, |c| {
        c.edge.hardening.max_json_depth = 8;
        c.edge.hardening.max_output_tokens = 1000;
        c.edge.hardening.max_n = 2;
        let claude = c
            .models
            .iter_mut()
            .find(|m| m.name == "claude-mock")
            .unwrap();
        claude.max_output_tokens = Some(500);
    })
    .await;
    edge.wait_ready(stack.http()).await;
    let chat = format!("{}/v1/chat/completions", edge.url);
    let messages = format!("{}/v1/messages", edge.url);
    let http = stack.http();

    // Chunked (no content-length): the limit counts the bytes read.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b' '; 512])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let (s, _, v) = post(http, &chat, &key, body).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"]["code"], "request_too_large");

    // Deep JSON, refused before any parse: OpenAI's shape, and Anthropic's on /v1/messages.
    let deep = format!(
        r#"{{"model":"mock","messages":[{{"role":"user","content":"hi"}}],"x":{}1{}}}"#,
        "[".repeat(20),
        "]".repeat(20)
    );
    let (s, _, v) = post(http, &chat, &key, deep.clone()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "json_too_deep", "{v}");
    let (s, _, v) = post(http, &messages, &key, deep).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error");

    // max_tokens and n over their caps: 400 naming the param.
    let mut body = chat_body("mock", false);
    body["max_tokens"] = json!(1001);
    let (s, _, v) = post(http, &chat, &key, body.to_string()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        (v["error"]["code"].as_str(), v["error"]["param"].as_str()),
        (Some("param_over_limit"), Some("max_tokens"))
    );
    let mut body = chat_body("mock", false);
    body["n"] = json!(3);
    let (s, _, v) = post(http, &chat, &key, body.to_string()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["param"], "n", "{v}");
    let body = json!({"model": "mock", "max_tokens": 5000,
                      "messages": [{"role": "user", "content": "hi"}]});
    let (s, _, v) = post(http, &messages, &key, body.to_string()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["type"], "error", "{v}");
    // Under the edge's cap but over the model's own.
    let body = json!({"model": "claude-mock", "max_tokens": 600,
                      "messages": [{"role": "user", "content": "hi"}]});
    let (s, _, v) = post(http, &messages, &key, body.to_string()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("500") && message.contains("claude-mock"),
        "{v}"
    );

    // Within the caps, the call goes through.
    let mut body = chat_body("mock", false);
    body["max_tokens"] = json!(16);
    body["n"] = json!(1);
    let (s, _, v) = post(http, &chat, &key, body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for reason in [
        "body_too_large",
        "json_too_deep",
        "max_tokens_over_cap",
        "n_over_cap",
        "max_tokens_over_model_cap",
    ] {
        assert!(refused(http, &edge.url, reason).await >= 1.0, "{reason}");
    }
    edge.stop().await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_calls_beyond_the_in_flight_cap_are_shed_before_any_work() {
    let stack = Stack::start_with(StackOptions {
        mock: MockOptions {
            chunk_delay: Duration::from_millis(200),
            chunks: 50,
            ..MockOptions::default()
        },
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("shed", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let edge = Edge::start(&stack, |c| c.edge.hardening.max_in_flight = 1).await;
    edge.wait_ready(stack.http()).await;
    let chat = format!("{}/v1/chat/completions", edge.url);
    let http = stack.http();
    // One slow stream holds the only slot.
    let holding = http
        .post(&chat)
        .bearer_auth(&key)
        .json(&chat_body("mock", true))
        .send()
        .await
        .unwrap();
    assert_eq!(holding.status(), StatusCode::OK);
    // Shed before authentication: even a bad key gets the 503.
    let (s, h, v) = post(
        http,
        &chat,
        "tg-not-a-key",
        chat_body("mock", false).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "overloaded");
    assert_eq!(h["retry-after"], "1");
    let (s, _, v) = post(
        http,
        &format!("{}/v1/messages", edge.url),
        &key,
        json!({"model": "mock", "max_tokens": 16,
               "messages": [{"role": "user", "content": "hi"}]})
        .to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["error"]["type"], "overloaded_error", "{v}");
    // Probes are never shed.
    let r = http
        .get(format!("{}/readyz", edge.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The slot comes back with the stream's end.
    drop(holding);
    let t0 = Instant::now();
    loop {
        let mut body = chat_body("mock", false);
        body["max_tokens"] = json!(16);
        let (s, _, _) = post(http, &chat, &key, body.to_string()).await;
        if s == StatusCode::OK {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "slot never freed: {s}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused(http, &edge.url, "overloaded").await >= 2.0);
    edge.stop().await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_failing_authentication_is_throttled() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("throttled", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let edge = Edge::start(&stack, |c| {
        c.edge.hardening.auth_failures_per_minute = 3;
        // Loopback is exempt by default (a local proxy); this test is the client itself.
        c.edge.hardening.auth_throttle_exempt = Vec::new();
    })
    .await;
    edge.wait_ready(stack.http()).await;
    let chat = format!("{}/v1/chat/completions", edge.url);
    let http = stack.http();
    let body = chat_body("mock", false).to_string();
    for _ in 0..3 {
        let (s, _, _) = post(http, &chat, "tg-wrong", body.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, h, v) = post(http, &chat, "tg-wrong", body.clone()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["error"]["code"], "auth_throttled");
    let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The address, not the key: a valid key from it waits too (it is not looked at).
    let (s, _, _) = post(http, &chat, &key, body).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // Anthropic's shape on its route.
    let (s, _, v) = post(http, &format!("{}/v1/messages", edge.url), "tg-wrong", "{}").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    assert!(refused(http, &edge.url, "auth_throttled").await >= 3.0);
    edge.stop().await;
    stack.shutdown().await;
}

/// Fault (a): a (re)started edge accepted before its keys were loaded and answered 503s.
/// Requests sent the moment the port is bound now wait, and are all served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_starting_under_load_answers_no_503() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("starting", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/chat/completions", l.local_addr().unwrap());
    let http = reqwest::Client::new();
    let mut body = chat_body("mock", false);
    body["max_tokens"] = json!(16);
    let early: Vec<_> = (0..20)
        .map(|_| {
            let (http, url, key, body) = (http.clone(), url.clone(), key.clone(), body.clone());
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    let edge = Edge::start_on(&stack, l, |_| {}).await;
    for r in early {
        let status = r.await.unwrap().unwrap();
        assert_eq!(status, StatusCode::OK, "an early request was refused");
    }
    edge.stop().await;
    stack.shutdown().await;
}

/// Fault (b): at the drain deadline a stream still open ends with an explicit error event in
/// its wire format, and is settled (billed for what was delivered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_open_at_the_drain_deadline_end_with_an_error_event() {
    let stack = Stack::start_with(StackOptions {
        mock: MockOptions {
            chunk_delay: Duration::from_millis(200),
            chunks: 200,
            ..MockOptions::default()
        },
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("drained", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let mut edge = Edge::start(&stack, |c| {
        c.edge.drain_timeout = Duration::from_millis(300)
    })
    .await;
    edge.wait_ready(stack.http()).await;
    let http = stack.http();
    let openai = http
        .post(format!("{}/v1/chat/completions", edge.url))
        .bearer_auth(&key)
        .json(&chat_body("mock", true))
        .send()
        .await
        .unwrap();
    assert_eq!(openai.status(), StatusCode::OK);
    let anthropic = http
        .post(format!("{}/v1/messages", edge.url))
        .bearer_auth(&key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "mock", "max_tokens": 64, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(anthropic.status(), StatusCode::OK);
    let _ = edge.stop.take().unwrap().send(());
    let openai = tokio::time::timeout(Duration::from_secs(10), openai.text())
        .await
        .unwrap()
        .unwrap();
    let anthropic = tokio::time::timeout(Duration::from_secs(10), anthropic.text())
        .await
        .unwrap()
        .unwrap();
    let last = openai.trim_end().lines().last().unwrap();
    assert!(last.contains("server_shutting_down"), "{openai}");
    assert!(anthropic.contains("event: error"), "{anthropic}");
    // Anthropic's shape has no code field: its type and message say it.
    assert!(anthropic.contains("restarting"), "{anthropic}");
    tokio::time::timeout(Duration::from_secs(30), &mut edge.task)
        .await
        .unwrap()
        .unwrap();
    // Both settled: one ledger row each.
    stack.wait_ledger(&tenant, 2).await;
    stack.shutdown().await;
}

/// No SSRF: a webhook to 127.0.0.1 without `edge.outbound_allow` is refused, counted, and
/// never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_to_loopback_is_refused_unless_allow_listed() {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let stack = Stack::start().await;
    let tenant = stack.tenant("ssrf", false).await;
    let (key_id, key) = stack.key(&tenant, 0, 0).await;
    let edge = Edge::start(&stack, |c| {
        c.edge.budget_alerts.webhook_url = Some(hook);
        c.edge.budget_alerts.poll_interval = Duration::from_millis(100);
        c.edge.outbound_allow = Vec::new();
    })
    .await;
    edge.wait_ready(stack.http()).await;
    stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant}/budgets"),
            Some(
                json!({"scope": "key", "scope_id": key_id, "period": "month",
                        "limit_usd": "0.0001", "alert_thresholds": [0.1]}),
            ),
        )
        .await;
    let mut body = chat_body("mock", false);
    body["max_tokens"] = json!(16);
    let chat = format!("{}/v1/chat/completions", edge.url);
    // Spend past 10% of the budget (about $0.0000113 a request), then wait for the refusal.
    let t0 = Instant::now();
    loop {
        let (s, _, _) = post(stack.http(), &chat, &key, body.to_string()).await;
        assert_eq!(s, StatusCode::OK);
        if refused(stack.http(), &edge.url, "outbound_forbidden").await >= 1.0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the alert was never attempted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "sent anyway"
    );
    edge.stop().await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_can_have_a_listener_of_its_own() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("admin-listener", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    // A free port for the admin listener (the edge binds it itself).
    let admin_addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let edge = Edge::start(&stack, |c| c.edge.admin_listen = Some(admin_addr)).await;
    edge.wait_ready(stack.http()).await;
    let http = stack.http();
    let get = |url: String, bearer: &str| http.get(url).bearer_auth(bearer).send();
    let tenants = "/admin/v1/tenants";
    let admin = format!("http://{admin_addr}");

    // The admin API answers on its own listener only.
    let r = get(format!("{admin}{tenants}"), tollgate_tests::ADMIN_TOKEN)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(
        format!("{}{tenants}", edge.url),
        tollgate_tests::ADMIN_TOKEN,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Clients are served on the main listener, not on the admin one; probes on both.
    let r = get(format!("{}/v1/models", edge.url), &key).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(format!("{admin}/v1/models"), &key).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for base in [&admin, &edge.url] {
        let r = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{base}");
    }
    edge.stop().await;
    stack.shutdown().await;
}

#[test]
fn hardening_defaults_are_valid_and_bad_values_name_their_field() {
    let mut cfg = Config::default();
    assert!(cfg.validate().is_ok());
    cfg.edge.hardening.max_in_flight = 0;
    let err = cfg.validate().unwrap_err().to_string();
    assert!(err.contains("edge.hardening.max_in_flight"), "{err}");
    cfg.edge.hardening.max_in_flight = 1;
    cfg.edge.outbound_allow = vec!["127.0.0.1".into()];
    let err = cfg.validate().unwrap_err().to_string();
    assert!(err.contains("edge.outbound_allow[0]"), "{err}");
    cfg.edge.outbound_allow = Vec::new();
    cfg.edge.hardening.auth_throttle_exempt = vec!["::1/200".into()];
    let err = cfg.validate().unwrap_err().to_string();
    assert!(
        err.contains("edge.hardening.auth_throttle_exempt[0]"),
        "{err}"
    );
    cfg.edge.hardening.auth_throttle_exempt = Vec::new();
    // Timeouts of zero, and a backstop window an edge's unspooled events could outlive.
    cfg.routing.stream_idle_timeout = Duration::ZERO;
    let err = cfg.validate().unwrap_err().to_string();
    assert!(err.contains("routing.stream_idle_timeout"), "{err}");
    cfg.routing.stream_idle_timeout = Duration::from_secs(60);
    cfg.routing.backstop_window = cfg.edge.usage.send_timeout;
    let err = cfg.validate().unwrap_err().to_string();
    assert!(err.contains("routing.backstop_window"), "{err}");
    cfg.routing.backstop_window = Duration::from_secs(10);
    assert!(cfg.validate().is_ok());
}

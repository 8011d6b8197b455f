//! The secret canary: a recognisable provider key (the deployments' key, which the mock
//! provider requires), a client's `tg-` key secret, the internal service secret and the admin
//! token are planted in a whole stack; traffic with every kind of failure (near-miss keys,
//! provider 401/403/429/500/400, streams cut mid-answer, unknown models, malformed bodies) is
//! driven through chat, messages and embeddings; then everything the system wrote is swept for
//! the secrets: every log line of every service at debug level (in the JSON format the services
//! log in production), the Prometheus text, every exported span, every row of every table, and
//! every error answer a client got. None may contain any of them.
//!
//! The logs are read from the process's own stdout, where the production subscriber writes them,
//! so the stack runs in a child process: `no_secret_reaches_the_logs` re-runs this test binary
//! with only `no_secret_reaches_metrics_spans_tables_or_error_bodies` (a whole test of its own,
//! which sweeps everything but its own logs) and sweeps the child's output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![allow(clippy::disallowed_methods)] // the child reads its canary from the environment

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde_json::{Value, json};
use tollgate_config::SecretRef;
use tollgate_mock_provider::MockOptions;
use tollgate_tests::{ADMIN_TOKEN, INTERNAL_SECRET, Stack, StackOptions, chat_body};

const CANARY_ENV: &str = "TOLLGATE_CANARY_PROVIDER_KEY";
const OUT_ENV: &str = "TOLLGATE_CANARY_OUT";

/// Every exported span, as its full debug text (name, attributes, events, status).
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            spans.push(format!("{:?}", rs.resource));
            for ss in rs.scope_spans {
                for s in ss.spans {
                    spans.push(format!("{s:?}"));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

async fn start_collector() -> (Collector, String) {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = collector.clone();
    tokio::spawn(async move {
        let incoming = futures::stream::unfold(listener, |l| async move {
            let r = l.accept().await.map(|(s, _)| s);
            Some((r, l))
        });
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(server))
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });
    (collector, format!("http://{addr}"))
}

/// The strings that must appear nowhere. Each is the unguessable part of a secret (minus its
/// last character, so a near-miss presented by a client is caught too).
fn needles(provider_key: &str, tg_secret: &str) -> Vec<(&'static str, String)> {
    let tail = |s: &str| s[..s.len() - 1].to_owned();
    // `tg-<key id>-<secret>`: the key id is public, the rest is the secret.
    let tg_tail = tg_secret.splitn(3, '-').nth(2).unwrap();
    let provider_tail = provider_key.trim_start_matches("sk-canary-PROVIDER-");
    vec![
        ("provider key", tail(provider_tail)),
        ("tg- key secret", tail(tg_tail)),
        ("internal secret", tail(INTERNAL_SECRET)),
        ("admin token", ADMIN_TOKEN.to_owned()),
    ]
}

/// Each place in `corpus` a needle occurs, with the needle masked, for the failure message.
fn leaks(corpus_name: &str, corpus: &str, needles: &[(&'static str, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (what, n) in needles {
        for (i, _) in corpus.match_indices(n.as_str()).take(5) {
            let from = corpus.floor_char_boundary(i.saturating_sub(200));
            let to = corpus.ceil_char_boundary((i + n.len() + 200).min(corpus.len()));
            out.push(format!(
                "{what} in {corpus_name}: …{}…",
                corpus[from..to].replace(n.as_str(), "<SECRET>")
            ));
        }
    }
    out
}

#[test]
fn no_secret_reaches_the_logs() {
    let provider_key = format!("sk-canary-PROVIDER-{}", uuid::Uuid::new_v4().simple());
    let out = std::env::temp_dir().join(format!("tg-canary-{}.json", uuid::Uuid::now_v7()));
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([CHILD, "--exact", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CANARY_ENV, &provider_key)
        .env(OUT_ENV, &out)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    let report: Value = std::fs::read(&out)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let _ = std::fs::remove_file(&out);
    let tg_secret = report["tg_secret"].as_str().unwrap_or_default().to_owned();
    let finished = !report["swept"].is_null();
    let needles = if tg_secret.is_empty() {
        Vec::new()
    } else {
        needles(&provider_key, &tg_secret)
    };
    let mask = |s: &str| {
        needles
            .iter()
            .fold(s.replace(&provider_key, "<PROVIDER KEY>"), |s, (_, n)| {
                s.replace(n.as_str(), "<SECRET>")
            })
    };
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    assert!(
        child.status.success() && finished,
        "the canary stack failed ({}):\n--- stderr ---\n{}\n--- stdout (last lines) ---\n{}",
        child.status,
        mask(&tail(&stderr)),
        mask(&tail(&stdout)),
    );

    // The sweep is only worth something if the logs are there: debug lines from every service.
    let logs = format!("{stdout}\n{stderr}");
    let lines = logs.lines().filter(|l| l.starts_with('{')).count();
    assert!(lines >= 200, "only {lines} JSON log lines captured");
    assert!(
        logs.contains("\"level\":\"DEBUG\""),
        "no debug-level lines captured"
    );
    // Every service that logs in normal operation (logging only speaks up on trouble), and the
    // line written where a provider key is most at risk: the provider refusing it.
    for service in ["tollgate_edge", "tollgate_routing", "tollgate_billing"] {
        assert!(
            logs.contains(&format!("\"target\":\"{service}")),
            "no log line from {service}"
        );
    }
    assert!(
        logs.contains("The provider rejected the gateway's credentials"),
        "the provider's 401 was not logged"
    );
    let found = leaks("the logs", &logs, &needles);
    assert!(
        found.is_empty(),
        "secrets in the logs:\n{}",
        found.join("\n")
    );
    eprintln!(
        "canary sweep: {lines} log lines ({} bytes), {}",
        logs.len(),
        report["swept"]
    );
}

/// One request's answer.
struct Answer {
    status: u16,
    request_id: String,
    text: String,
}

struct Client {
    http: reqwest::Client,
    edge: String,
    /// Every error answer (status and headers and body), for the sweep.
    errors: Vec<String>,
    calls: usize,
}

impl Client {
    async fn send(&mut self, path: &str, auth: (&str, &str), body: &str) -> Answer {
        let r = self
            .http
            .post(format!("{}{path}", self.edge))
            .header(auth.0, auth.1)
            .header("content-type", "application/json")
            .header("anthropic-version", "2023-06-01")
            .body(body.to_owned())
            .send()
            .await;
        self.calls += 1;
        let r = match r {
            Ok(r) => r,
            // A stream cut may end the exchange before the head: nothing came back to sweep.
            Err(e) => {
                return Answer {
                    status: 0,
                    request_id: String::new(),
                    text: e.to_string(),
                };
            }
        };
        let status = r.status().as_u16();
        let headers = format!("{:?}", r.headers());
        let request_id = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = match r.text().await {
            Ok(t) => t,
            Err(e) => format!("<body cut: {e}>"),
        };
        // A cut stream carries its error in-band, after a 200: sweep those too.
        if status >= 400 || text.contains("\"error\"") {
            self.errors.push(format!("{status} {headers} {text}"));
        }
        Answer {
            status,
            request_id,
            text,
        }
    }
}

fn bearer(k: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {k}"))
}

/// The deployments of the mock's models use `[stale, key]`: the stale one is refused by the
/// provider (401) and the next one takes over, so the key-rotation path runs on every call.
fn plant_provider_key(cfg: &mut tollgate_config::Config, key: &str) {
    let stale = format!("{key}-stale");
    for p in &mut cfg.providers {
        if p.name == "mock" || p.name == "mock-anthropic" {
            p.api_key = Some(SecretRef::literal(key));
        }
    }
    for m in &mut cfg.models {
        if ["mock", "claude-mock", "embed-mock"].contains(&m.name.as_str()) {
            for d in &mut m.deployments {
                d.api_keys = vec![SecretRef::literal(&stale), SecretRef::literal(key)];
            }
        }
    }
}

/// The test the log sweep runs in a process of its own.
const CHILD: &str = "no_secret_reaches_metrics_spans_tables_or_error_bodies";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_metrics_spans_tables_or_error_bodies() {
    // Run by `no_secret_reaches_the_logs`, it takes its canary from there; on its own it plants
    // one of its own.
    let provider_key = std::env::var(CANARY_ENV)
        .unwrap_or_else(|_| format!("sk-canary-PROVIDER-{}", uuid::Uuid::new_v4().simple()));
    let out = std::env::var(OUT_ENV).map_or_else(
        |_| std::env::temp_dir().join(format!("tg-canary-{}.json", uuid::Uuid::now_v7())),
        PathBuf::from,
    );

    // The production subscriber, at debug level for everything, before anything starts.
    let (collector, otlp) = start_collector().await;
    let telemetry = tollgate_telemetry::init(
        "tollgate-canary",
        &tollgate_config::TelemetryConfig {
            otlp_endpoint: Some(otlp),
            log_filter: "debug".into(),
            log_format: tollgate_config::LogFormat::Json,
            sample_ratio: 1.0,
            metrics_listen: None,
        },
    )
    .unwrap();

    let mock = MockOptions {
        api_key: Some(provider_key.clone()),
        ..MockOptions::default()
    };
    let mut stack = Stack::start_with(StackOptions {
        mock: mock.clone(),
        ..StackOptions::default()
    })
    .await;
    // Every service again with the provider key in its configuration: routing (which uses it),
    // billing and the edge (which must not show it anywhere).
    plant_provider_key(&mut stack.cfg, &provider_key);
    stack.stop_routing().await;
    let routing_addr: std::net::SocketAddr = stack
        .cfg
        .edge
        .routing_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let listener = {
        let t0 = Instant::now();
        loop {
            match tokio::net::TcpListener::bind(routing_addr).await {
                Ok(l) => break l,
                Err(e) => assert!(
                    t0.elapsed() < Duration::from_secs(10),
                    "rebind routing: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (stop_routing, stopped) = tokio::sync::oneshot::channel::<()>();
    let routing = tokio::spawn(tollgate_routing::run(
        stack.cfg.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    stack.stop_billing().await;
    stack.start_billing_again().await;
    stack.restart_edge(0).await;

    let tenant = stack.tenant("canary", true).await;
    let (key_id, tg_secret) = stack.key(&tenant, 0, 0).await;
    assert!(tg_secret.starts_with(&format!("tg-{key_id}-")), "{key_id}");
    // Known to the parent from here on, so it can mask it in whatever it prints.
    std::fs::write(&out, json!({ "tg_secret": tg_secret }).to_string()).unwrap();
    let mut c = Client {
        http: stack.http().clone(),
        edge: stack.edge_url(),
        errors: Vec::new(),
        calls: 0,
    };
    let auth = bearer(&tg_secret);
    let auth = (auth.0, auth.1.as_str());
    let x_api_key = ("x-api-key", tg_secret.as_str());

    let chat = |model: &str, stream: bool| chat_body(model, stream).to_string();
    let messages = |model: &str, stream: bool| {
        json!({
            "model": model, "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": "Say hello to the gateway"}],
        })
        .to_string()
    };
    let embed = |model: &str| json!({"model": model, "input": "hello canary"}).to_string();

    // The provider answers once routing is back with the planted key.
    let t0 = Instant::now();
    while c
        .send("/v1/chat/completions", auth, &chat("mock", false))
        .await
        .status
        != 200
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "routing never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.errors.clear();

    // Successes on every surface, streamed and not, with either key header.
    let mut ok = 0;
    for (path, a, body) in [
        ("/v1/chat/completions", auth, chat("mock", false)),
        ("/v1/chat/completions", auth, chat("mock", true)),
        ("/v1/messages", x_api_key, messages("claude-mock", false)),
        ("/v1/messages", auth, messages("claude-mock", true)),
        ("/v1/embeddings", auth, embed("embed-mock")),
        // A user pasting their own key into a prompt: the stored log must not keep it.
        (
            "/v1/chat/completions",
            auth,
            json!({"model": "mock", "messages": [{"role": "user",
                "content": format!("my key is {tg_secret}, is it safe?")}]})
            .to_string(),
        ),
    ] {
        let a = c.send(path, a, &body).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        ok += 1;
    }

    // Near-miss and wrong credentials on every surface.
    let mut flipped = tg_secret.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'a' { 'b' } else { 'a' });
    let near_misses = [
        flipped.clone(),
        format!("{tg_secret}x"),
        tg_secret[..tg_secret.len() - 4].to_owned(),
        tg_secret.to_uppercase(),
        provider_key.clone(),
        INTERNAL_SECRET.to_owned(),
        ADMIN_TOKEN.to_owned(),
    ];
    for k in &near_misses {
        for (path, body) in [
            ("/v1/chat/completions", chat("mock", false)),
            ("/v1/messages", messages("claude-mock", false)),
            ("/v1/embeddings", embed("embed-mock")),
        ] {
            let b = bearer(k);
            let a = c.send(path, (b.0, &b.1), &body).await;
            assert!(
                a.status == 401 || a.status == 403,
                "{path}: {} {}",
                a.status,
                a.text
            );
            let a = c.send(path, ("x-api-key", k), &body).await;
            assert!(
                a.status == 401 || a.status == 403,
                "{path}: {} {}",
                a.status,
                a.text
            );
        }
    }

    // The provider failing in every way it can.
    for status in [401, 403, 429, 500, 400] {
        stack.mock.set_options(MockOptions {
            error_rate: 1.0,
            error_status: status,
            ..mock.clone()
        });
        for (path, body) in [
            ("/v1/chat/completions", chat("mock", false)),
            ("/v1/chat/completions", chat("mock", true)),
            ("/v1/messages", messages("claude-mock", false)),
            ("/v1/messages", messages("claude-mock", true)),
            ("/v1/embeddings", embed("embed-mock")),
        ] {
            let a = c.send(path, auth, &body).await;
            assert!(
                a.status >= 400,
                "{path} with provider {status}: {} {}",
                a.status,
                a.text
            );
        }
    }
    // Streams cut by the provider mid-answer.
    stack.mock.set_options(MockOptions {
        disconnect_after: Some(2),
        ..mock.clone()
    });
    for (path, body) in [
        ("/v1/chat/completions", chat("mock", true)),
        ("/v1/messages", messages("claude-mock", true)),
    ] {
        c.send(path, auth, &body).await;
    }
    stack.mock.set_options(mock.clone());

    // Unknown models and malformed bodies.
    for (path, body) in [
        ("/v1/chat/completions", chat("no-such-model", false)),
        ("/v1/messages", messages("no-such-model", false)),
        ("/v1/embeddings", embed("no-such-model")),
        ("/v1/chat/completions", "{not json".to_owned()),
        ("/v1/messages", "{not json".to_owned()),
        ("/v1/embeddings", "{not json".to_owned()),
        ("/v1/chat/completions", r#"{"model":"mock"}"#.to_owned()),
        (
            "/v1/chat/completions",
            r#"{"model":"mock","messages":"hi"}"#.to_owned(),
        ),
        (
            "/v1/messages",
            r#"{"model":"claude-mock","messages":[]}"#.to_owned(),
        ),
        (
            "/v1/messages",
            r#"{"model":"claude-mock","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}"#
                .to_owned(),
        ),
        ("/v1/embeddings", r#"{"model":"embed-mock"}"#.to_owned()),
        (
            "/v1/embeddings",
            r#"{"model":"embed-mock","input":{"a":1}}"#.to_owned(),
        ),
    ] {
        // Whatever the answer, it is swept; only a gateway failure would be a finding here.
        let a = c.send(path, auth, &body).await;
        assert!(
            a.status != 0 && a.status < 500,
            "{path} {body}: {} {}",
            a.status,
            a.text
        );
    }

    // A last success (once the provider's failures no longer hold the deployment back); once
    // its log row and ledger row are stored, everything before it is.
    let t0 = Instant::now();
    let marker = loop {
        let a = c
            .send("/v1/chat/completions", auth, &chat("mock", false))
            .await;
        if a.status == 200 {
            break a;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no success after the faults: {}",
            a.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ok += 1;
    let t0 = Instant::now();
    loop {
        let logged: i64 =
            sqlx::query_scalar("SELECT count(*) FROM request_logs WHERE request_id::text = $1")
                .bind(&marker.request_id)
                .fetch_one(&stack.pool)
                .await
                .unwrap();
        if logged > 0
            && stack
                .ledger_request_ids(&tenant)
                .await
                .contains(&marker.request_id)
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the marker was never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The sweep of everything but the logs (the parent reads those).
    let needles = needles(&provider_key, &tg_secret);
    let mut found = Vec::new();
    let mut swept = BTreeMap::new();

    let errors = c.errors.join("\n");
    found.extend(leaks("error answers", &errors, &needles));
    swept.insert("error_answers", c.errors.len());
    swept.insert("requests", c.calls);

    let metrics = stack
        .http()
        .get(format!("{}/metrics", stack.edge_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    found.extend(leaks("/metrics", &metrics, &needles));
    swept.insert("metrics_bytes", metrics.len());

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
           FROM information_schema.tables
          WHERE table_type = 'BASE TABLE'
            AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    let mut rows = 0;
    let mut per_table = BTreeMap::new();
    for t in &tables {
        let texts: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT r::text FROM {t} r")))
                .fetch_all(&stack.pool)
                .await
                .unwrap();
        rows += texts.len();
        per_table.insert(t.clone(), texts.len());
        found.extend(leaks(&format!("table {t}"), &texts.join("\n"), &needles));
    }
    swept.insert("tables", tables.len());
    swept.insert("rows", rows);

    stack.shutdown().await;
    let _ = stop_routing.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), routing).await;
    telemetry.shutdown();
    let spans = collector.spans.lock().unwrap().join("\n");
    found.extend(leaks("exported spans", &spans, &needles));
    swept.insert("spans", collector.spans.lock().unwrap().len());

    // The sweep must have had something to look at.
    assert!(
        c.errors.len() >= 60,
        "only {} error answers",
        c.errors.len()
    );
    assert!(
        metrics.contains("tollgate_request_duration_seconds")
            && metrics.contains("tollgate_routing_attempt_failures_total"),
        "the metrics text lacks the request and provider-failure series"
    );
    assert!(tables.len() >= 10, "tables: {tables:?}");
    for t in [
        "public.api_keys",
        "public.usage_ledger",
        "public.request_logs",
    ] {
        assert!(
            per_table.get(t).copied().unwrap_or(0) > 0,
            "no rows in {t}: {per_table:?}"
        );
    }
    assert!(
        per_table.get("public.usage_ledger").copied().unwrap_or(0) >= ok,
        "{per_table:?}"
    );
    assert!(
        spans.contains("chat_completions"),
        "no request spans exported"
    );
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));

    if std::env::var(OUT_ENV).is_ok() {
        std::fs::write(
            &out,
            json!({"tg_secret": tg_secret, "swept": swept}).to_string(),
        )
        .unwrap();
    } else {
        let _ = std::fs::remove_file(&out);
    }
}

//! The scenarios: each one a fault injected into a running stack under a fixed-rate load, the
//! fault ended, the time to the first full answer after it measured, and the ledger checked
//! against every answer.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::account::{self, Figures};
use crate::error::Result;
use crate::load::{self, LoadPlan, Outcome, Record};
use crate::proxy::Mode;
use crate::stack::{Stack, Svc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dep {
    Redis,
    Postgres,
    Billing,
    Logging,
    Provider,
}

#[derive(Clone, Debug)]
pub enum Fault {
    Kill(Svc),
    Proxy(Dep, Mode),
    Mock(Value),
    /// Rate limits across two edges through a Redis outage; `Some`: with the edges restarted
    /// on this admission budget (`edge.limits.admit_timeout`) instead of the suite's.
    Limits(Option<&'static str>),
    /// Clients hanging up mid-stream, slowloris, and malformed bodies.
    Clients,
}

pub struct Scenario {
    pub name: &'static str,
    pub promise: &'static str,
    pub fault: Fault,
    /// In `--short` runs too.
    pub short: bool,
}

pub fn all() -> Vec<Scenario> {
    let s = |name, promise, fault, short| Scenario {
        name,
        promise,
        fault,
        short,
    };
    let slow = Duration::from_millis(400);
    vec![
        s(
            "kill -9 edge0",
            "every answered request billed once; edge back on restart",
            Fault::Kill(Svc::Edge(0)),
            true,
        ),
        s(
            "kill -9 routing",
            "in-flight requests end 503, 502 upstream_stream_interrupted or an error event, all billed once",
            Fault::Kill(Svc::Routing),
            true,
        ),
        s(
            "kill -9 billing",
            "usage waits in the edges' spools, billed once after restart",
            Fault::Kill(Svc::Billing),
            true,
        ),
        s(
            "kill -9 logging",
            "requests unaffected, billed once",
            Fault::Kill(Svc::Logging),
            true,
        ),
        s(
            "redis down",
            "served by the local limiter, no 5xx, billed once",
            Fault::Proxy(Dep::Redis, Mode::Down),
            true,
        ),
        s(
            "redis slow 400ms",
            "admission waits at most admit_timeout, no 5xx",
            Fault::Proxy(Dep::Redis, Mode::Slow(slow)),
            false,
        ),
        s(
            "limits across redis outage",
            "rpm limit within +-1% across two edges after Redis returns",
            Fault::Limits(None),
            true,
        ),
        s(
            "limits, admit_timeout 50ms",
            "same, at the default admission budget (edges that find Redis slow decide locally; the others keep their shares aside)",
            Fault::Limits(Some("50ms")),
            false,
        ),
        s(
            "postgres down",
            "served from snapshots, usage retried, billed once",
            Fault::Proxy(Dep::Postgres, Mode::Down),
            true,
        ),
        s(
            "billing blackholed",
            "usage sends time out and are retried, billed once",
            Fault::Proxy(Dep::Billing, Mode::Blackhole),
            true,
        ),
        s(
            "logging blackholed",
            "requests unaffected, billed once",
            Fault::Proxy(Dep::Logging, Mode::Blackhole),
            false,
        ),
        s(
            "provider hangs",
            "504 upstream_timeout after first_token_timeout (5s here), billed once; back within circuit_ejection (3s here)",
            Fault::Mock(json!({"hang": true})),
            false,
        ),
        s(
            "provider slow 1.5s",
            "answered late, no 5xx",
            Fault::Mock(json!({"latency_ms": 1500, "chunk_delay_ms": 20})),
            false,
        ),
        s(
            "provider garbage",
            "502 upstream_error, billed once; back within circuit_ejection",
            Fault::Proxy(Dep::Provider, Mode::Garbage),
            false,
        ),
        s(
            "provider resets mid-stream",
            "streams end with an error event, billed once; back within circuit_ejection",
            Fault::Mock(json!({"disconnect_after": 3})),
            true,
        ),
        s(
            "client abuse",
            "hang-ups billed, slowloris bounded, bad bodies 4xx and unbilled",
            Fault::Clients,
            true,
        ),
    ]
}

pub struct Knobs {
    pub rate: u32,
    pub load: Duration,
    pub hold: Duration,
}

pub struct Report {
    pub name: &'static str,
    pub promise: &'static str,
    pub figures: Figures,
    pub recover: Option<Duration>,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

fn dep_proxy(stack: &Stack, d: Dep) -> &crate::proxy::Proxy {
    match d {
        Dep::Redis => &stack.proxies.redis,
        Dep::Postgres => &stack.proxies.pg,
        Dep::Billing => &stack.proxies.billing,
        Dep::Logging => &stack.proxies.logging,
        Dep::Provider => &stack.proxies.provider,
    }
}

pub async fn run(
    stack: &mut Stack,
    sc: &Scenario,
    k: &Knobs,
    http: &reqwest::Client,
) -> Result<Report> {
    let tenant_name = format!("faults-{}", sc.name.replace(' ', "-"));
    if let Fault::Limits(budget) = sc.fault {
        let Some(budget) = budget else {
            return limits(stack, sc, http, &tenant_name).await;
        };
        stack.edge_env = vec![(
            "TOLLGATE_EDGE__LIMITS__ADMIT_TIMEOUT".to_owned(),
            budget.to_owned(),
        )];
        restart_edges(stack).await?;
        let report = limits(stack, sc, http, &tenant_name).await;
        stack.edge_env.clear();
        restart_edges(stack).await?;
        return report;
    }
    let (tenant, key) = stack.tenant_key(&tenant_name, 0).await?;
    let record = Record::default();
    let provider_before = stack.provider_chats().await?;
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    if matches!(sc.fault, Fault::Clients) {
        // Streams long enough to hang up in the middle of.
        stack.mock_options(json!({"chunk_delay_ms": 20})).await?;
    }
    let plan = LoadPlan {
        edges: vec![stack.edge_url(0), stack.edge_url(1)],
        key: key.clone(),
        rate: k.rate,
        duration: k.load,
        max_in_flight: 2_000,
    };
    let load = tokio::spawn(load::run(http.clone(), plan, record.clone()));
    tokio::time::sleep(k.load / 3).await;

    // The fault, held, then ended.
    let fault_start = Instant::now();
    match &sc.fault {
        Fault::Kill(s) => {
            stack.kill(*s)?;
            tokio::time::sleep(k.hold).await;
        }
        Fault::Proxy(d, m) => {
            dep_proxy(stack, *d).set(*m);
            tokio::time::sleep(k.hold).await;
        }
        Fault::Mock(opts) => {
            stack.mock_options(opts.clone()).await?;
            tokio::time::sleep(k.hold).await;
        }
        Fault::Clients => {
            let abuse = clients(stack, http, &key, k.hold, &record).await?;
            notes.extend(abuse.notes);
            failures.extend(abuse.failures);
        }
        Fault::Limits(_) => {}
    }
    let fault_end = Instant::now();
    match &sc.fault {
        Fault::Kill(s) => stack.restart(*s).await?,
        Fault::Proxy(d, _) => dep_proxy(stack, *d).set(Mode::Pass),
        Fault::Mock(_) | Fault::Clients => stack.mock_options(json!({})).await?,
        Fault::Limits(_) => {}
    }
    notes.push(format!("fault held {:?}", fault_end - fault_start));
    let recover = load::probe_recovery(
        http,
        &stack.edge_url(0),
        &key,
        fault_end,
        Duration::from_secs(60),
        &record,
    )
    .await;
    let skipped = load.await.map(|r| r.skipped).unwrap_or(0);
    if skipped > 0 {
        notes.push(format!("{skipped} not sent (2000 in flight)"));
    }
    let outcomes = record.take();
    // Provider faults are retried by routing: one request may be several provider calls.
    let provider = match sc.fault {
        Fault::Mock(_) | Fault::Proxy(Dep::Provider, _) => None,
        _ => Some(stack.provider_chats().await? - provider_before),
    };
    // Every call the provider served has a row coming, even one whose client saw nothing
    // (routing bills a killed edge's calls after `routing.backstop_grace`): wait for them too.
    let ledger = settle(stack, &tenant, &outcomes, provider).await?;
    let figures = account::figures(&outcomes, &ledger, provider);
    check_common(&figures, &outcomes, recover, &sc.fault, &mut failures);
    if sc.name == "provider slow 1.5s" && figures.by_status.keys().any(|s| s.starts_with('5')) {
        failures.push("5xx from a slow (not failing) provider".into());
    }
    let dead = stack.dead_children();
    if !dead.is_empty() {
        failures.push(format!("died on their own: {}", dead.join(", ")));
    }
    Ok(Report {
        name: sc.name,
        promise: sc.promise,
        figures,
        recover,
        failures,
        notes,
    })
}

fn check_common(
    f: &Figures,
    outcomes: &[Outcome],
    recover: Option<Duration>,
    fault: &Fault,
    failures: &mut Vec<String>,
) {
    // The provider's own failures pass through as 502/504 in provider scenarios; a whole
    // answer already started when routing died is 502 `upstream_stream_interrupted` (README's
    // error table), never a silently short body.
    let allow_upstream_5xx = matches!(fault, Fault::Mock(_) | Fault::Proxy(Dep::Provider, _));
    let allow_interrupted = matches!(fault, Fault::Kill(Svc::Routing));
    if f.lost > 0 {
        failures.push(format!(
            "{} ledger rows lost (e.g. {})",
            f.lost,
            f.lost_examples.join("; ")
        ));
    }
    if f.doubled > 0 {
        failures.push(format!("{} ledger rows doubled or unaccounted", f.doubled));
    }
    let mut bad = std::collections::BTreeMap::<String, usize>::new();
    for o in outcomes {
        let Some(s) = o.status else { continue };
        let interrupted = s == 502 && o.code.as_deref() == Some("upstream_stream_interrupted");
        let documented = s == 503
            || (allow_upstream_5xx && (s == 502 || s == 504))
            || (allow_interrupted && interrupted);
        if s >= 500 && !documented {
            *bad.entry(format!("{s} {}", o.code.as_deref().unwrap_or("")))
                .or_default() += 1;
        }
    }
    for (what, n) in bad {
        failures.push(format!("{n} x undocumented {what}"));
    }
    if recover.is_none() {
        failures.push("no full answer within 60 s of the fault's end".into());
    }
}

/// Both edges restarted (quiet: no load is running, the last scenario's ledger has settled).
/// A configuration change's restart: graceful, so each edge leaves the limiter's live set and
/// the new ones divide by two, not by the two gone plus the two new for a heartbeat lifetime.
async fn restart_edges(stack: &mut Stack) -> Result<()> {
    for i in 0..2 {
        stack.stop(Svc::Edge(i)).await?;
        stack.restart(Svc::Edge(i)).await?;
    }
    Ok(())
}

/// Until every answer that must be billed is in the ledger and the row count has held still for
/// 1.5 s (late duplicates get their chance), or 60 s have passed.
async fn settle(
    stack: &Stack,
    tenant: &str,
    outcomes: &[Outcome],
    at_least: Option<u64>,
) -> Result<Vec<String>> {
    let must: HashSet<&str> = outcomes
        .iter()
        .filter(|o| account::billing(o) == account::Billing::Must)
        .filter_map(|o| o.request_id.as_deref())
        .collect();
    let t0 = Instant::now();
    let mut last = usize::MAX;
    let mut still_since = Instant::now();
    loop {
        let ids = match stack.ledger_ids(tenant).await {
            Ok(ids) => ids,
            Err(_) if t0.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if ids.len() != last {
            last = ids.len();
            still_since = Instant::now();
        }
        let have: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let complete = must.iter().all(|id| have.contains(id))
            && at_least.is_none_or(|n| ids.len() as u64 >= n);
        let still = still_since.elapsed() > Duration::from_millis(1500);
        // Rows still missing after 10 s without a new one are lost, not late: spooled usage
        // is retried well within that once its fault has ended.
        let stuck = still_since.elapsed() > Duration::from_secs(10);
        if (complete && still) || stuck || t0.elapsed() > Duration::from_secs(60) {
            return Ok(ids);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A requests-per-minute limit L over two edges: Redis down while both edges admit locally,
/// then back, then a burst of 2L. Everything happens inside one minute, so exactly L may be
/// admitted in all (local admissions are written back before Redis admits again).
async fn limits(
    stack: &mut Stack,
    sc: &Scenario,
    http: &reqwest::Client,
    name: &str,
) -> Result<Report> {
    const L: u32 = 300;
    let (tenant, key) = stack.tenant_key(name, L).await?;
    let record = Record::default();
    let edges = [stack.edge_url(0), stack.edge_url(1)];
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let t_start = Instant::now();

    stack.proxies.redis.set(Mode::Down);
    for n in 0..60 {
        record.push(load::chat(http, &edges[n % 2], &key, n % 2 == 0, n).await);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stack.proxies.redis.set(Mode::Pass);
    let back = Instant::now();
    let degraded_before = degraded(stack, http).await;
    let during = record.take();
    let admitted_down = during
        .iter()
        .filter(|o| o.status.is_some_and(|s| s != 429))
        .count();
    for o in during {
        record.push(o);
    }
    // The burst: 2L over both edges, 16 at a time.
    let mut tasks = Vec::new();
    for c in 0..16usize {
        let (http, key, edges, record) = (http.clone(), key.clone(), edges.clone(), record.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 100 + c;
            while n < 100 + 2 * L as usize {
                record.push(load::chat(&http, &edges[n % 2], &key, n % 3 == 0, n).await);
                n += 16;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let window = t_start.elapsed();
    let degraded_after = degraded(stack, http).await;
    let outcomes = record.take();
    let admitted = outcomes
        .iter()
        .filter(|o| o.status.is_some_and(|s| s != 429))
        .count();
    let tolerance = (L as usize).div_ceil(100);
    notes.push(format!(
        "limit {L}/min: {admitted_down} admitted while Redis was down, {admitted} in all within {window:.1?}"
    ));
    let flips: Vec<String> = degraded_after
        .iter()
        .map(|(reason, n)| {
            let before = degraded_before.get(reason).copied().unwrap_or(0.0);
            format!("{reason} {}", n - before)
        })
        .collect();
    notes.push(format!(
        "admissions decided locally after Redis returned (tollgate_limits_degraded_total, both edges): {}",
        if flips.is_empty() { "none".to_owned() } else { flips.join(", ") }
    ));
    if window > Duration::from_secs(55) {
        failures.push(format!(
            "the sequence took {window:?}, longer than one window"
        ));
    }
    if admitted.abs_diff(L as usize) > tolerance {
        failures.push(format!(
            "{admitted} admitted against a limit of {L} (+-{tolerance})"
        ));
    }
    let recover = outcomes
        .iter()
        .filter(|o| o.started >= back && o.ok())
        .map(|o| o.finished.duration_since(back))
        .min();
    let ledger = settle(stack, &tenant, &outcomes, None).await?;
    let figures = account::figures(&outcomes, &ledger, None);
    check_common(&figures, &outcomes, recover, &sc.fault, &mut failures);
    Ok(Report {
        name: sc.name,
        promise: sc.promise,
        figures,
        recover,
        failures,
        notes,
    })
}

/// `tollgate_limits_degraded_total` by reason, summed over both edges' `/metrics`.
async fn degraded(
    stack: &Stack,
    http: &reqwest::Client,
) -> std::collections::BTreeMap<String, f64> {
    let mut by = std::collections::BTreeMap::new();
    for i in 0..2 {
        let Ok(r) = http
            .get(format!("{}/metrics", stack.edge_url(i)))
            .send()
            .await
        else {
            continue;
        };
        let text = r.text().await.unwrap_or_default();
        for l in text
            .lines()
            .filter(|l| l.starts_with("tollgate_limits_degraded_total"))
        {
            let reason = l
                .split("reason=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_owned();
            let v: f64 = l
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            *by.entry(reason).or_insert(0.0) += v;
        }
    }
    by
}

struct Abuse {
    notes: Vec<String>,
    failures: Vec<String>,
}

/// Alongside the load: clients hanging up mid-stream, a slowloris holding connections open with
/// half-sent headers, and bodies that are too large, cut short, too deep or not UTF-8.
async fn clients(
    stack: &Stack,
    http: &reqwest::Client,
    key: &str,
    hold: Duration,
    record: &Record,
) -> Result<Abuse> {
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    let edge = stack.edge_url(0);
    let rss_before = stack.rss_kib(Svc::Edge(0)).unwrap_or(0);

    // Slowloris: 300 connections, each trickling a header byte at a time.
    let port = stack.port(Svc::Edge(0));
    let stop = Instant::now() + hold.max(Duration::from_secs(3));
    let mut loris = Vec::new();
    for _ in 0..300 {
        loris.push(tokio::spawn(async move {
            let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                return;
            };
            let head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ";
            if s.write_all(head).await.is_err() {
                return;
            }
            while Instant::now() < stop {
                if s.write_all(b"a").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
    }

    // Hang-ups: read the head and the first chunk of a stream, then drop it.
    let mut hangups = 0;
    for n in 0..40 {
        let resp = http
            .post(format!("{edge}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&load::chat_body(true, 2_000_000 + n))
            .send()
            .await;
        let started = Instant::now();
        if let Ok(mut r) = resp {
            let status = r.status().as_u16();
            let id = r
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let _ = r.chunk().await;
            drop(r);
            hangups += 1;
            record.push(Outcome {
                status: Some(status),
                request_id: id,
                code: None,
                message: None,
                transport: None,
                completed: false,
                started,
                finished: Instant::now(),
            });
        }
    }
    notes.push(format!("{hangups} hang-ups mid-stream"));

    // Bad bodies: each must be a 4xx with a code, never a 5xx, never billed.
    let mut deep = String::new();
    for _ in 0..5_000 {
        deep.push_str("{\"a\":");
    }
    deep.push('1');
    for _ in 0..5_000 {
        deep.push('}');
    }
    let oversized = format!(
        "{{\"model\":\"mock\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "x".repeat(5 * 1024 * 1024)
    );
    let bodies: [(&str, Vec<u8>); 4] = [
        ("oversized", oversized.into_bytes()),
        ("truncated", br#"{"model":"mock","messages":[{"role":"user","cont"#.to_vec()),
        ("deep", deep.into_bytes()),
        ("non-utf8", b"{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\xc3\x28\"}]}".to_vec()),
    ];
    let mut seen_bad = Vec::new();
    // A connection the edge closed after refusing a body is never reused for the next one.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()?;
    for (what, body) in bodies {
        let mut statuses = std::collections::BTreeMap::<String, usize>::new();
        for _ in 0..5 {
            let started = Instant::now();
            let r = fresh
                .post(format!("{edge}/v1/chat/completions"))
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            let mut o = Outcome {
                status: None,
                request_id: None,
                code: None,
                message: None,
                transport: None,
                completed: false,
                started,
                finished: started,
            };
            if let Err(e) = &r {
                o.transport = Some(load::transport(e));
            }
            if let Ok(r) = r {
                let status = r.status().as_u16();
                o.status = Some(status);
                o.request_id = r
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let v: Value = r.json().await.unwrap_or(Value::Null);
                o.code = v["error"]["code"].as_str().map(str::to_owned);
                if !(400..500).contains(&status) {
                    failures.push(format!("{what} body: {status}"));
                }
            }
            o.finished = Instant::now();
            let code = o.code.clone();
            let status = o.status;
            let label = match (status, &code) {
                (Some(s), Some(c)) => format!("{s} {c}"),
                (Some(s), None) => s.to_string(),
                (None, _) => o.transport.unwrap_or("reset").to_owned(),
            };
            *statuses.entry(label).or_default() += 1;
            record.push(o);
            if status.is_some_and(|s| (400..500).contains(&s)) && code.is_none() {
                failures.push(format!("{what} body: {status:?} without an error code"));
                break;
            }
        }
        let counts: Vec<String> = statuses.iter().map(|(k, n)| format!("{k} x{n}")).collect();
        seen_bad.push(format!("{what}: {}", counts.join(", ")));
    }
    notes.push(format!("bad bodies: {}", seen_bad.join("; ")));

    let rss_during = stack.rss_kib(Svc::Edge(0)).unwrap_or(0);
    for l in loris {
        let _ = l.await;
    }
    let rss_after = stack.rss_kib(Svc::Edge(0)).unwrap_or(0);
    let grew = rss_during.max(rss_after).saturating_sub(rss_before);
    notes.push(format!(
        "edge0 RSS {} MiB before, {} MiB under 300 slowloris connections, {} MiB after",
        rss_before / 1024,
        rss_during / 1024,
        rss_after / 1024
    ));
    // Bounded: 300 half-open connections must not cost more than 64 MiB.
    if grew > 64 * 1024 {
        failures.push(format!("edge RSS grew {} MiB under slowloris", grew / 1024));
    }
    Ok(Abuse { notes, failures })
}

//! The load: a fixed rate of chat requests (half streamed) spread over both edges, each one's
//! fate recorded as the client saw it — status, `x-request-id`, error code, whether a stream
//! reached its end — so the ledger can be checked against exactly what was answered.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// What one request came to, as its client saw it.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// `None`: no response head arrived (refused, reset, or timed out before headers).
    pub status: Option<u16>,
    pub request_id: Option<String>,
    /// The `error.code` of an error body, or of a stream's final error event.
    pub code: Option<String>,
    pub message: Option<String>,
    /// Why no answer head came, when none did: `timeout`, `refused` or `reset`.
    pub transport: Option<&'static str>,
    /// The whole answer arrived (`[DONE]` for a stream).
    pub completed: bool,
    pub started: Instant,
    pub finished: Instant,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.status == Some(200) && self.completed
    }
}

/// Outcomes shared between the load and whoever else sends requests for the same tenant.
#[derive(Clone, Default)]
pub struct Record(Arc<Mutex<Vec<Outcome>>>);

impl Record {
    pub fn push(&self, o: Outcome) {
        if let Ok(mut v) = self.0.lock() {
            v.push(o);
        }
    }

    pub fn take(&self) -> Vec<Outcome> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

pub fn chat_body(stream: bool, n: usize) -> Value {
    json!({
        "model": "mock",
        "stream": stream,
        "messages": [{"role": "user", "content": format!("fault suite request {n}")}],
    })
}

pub fn transport(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "refused"
    } else {
        "reset"
    }
}

/// One chat request, recorded whatever happens to it.
pub async fn chat(
    http: &reqwest::Client,
    edge: &str,
    key: &str,
    stream: bool,
    n: usize,
) -> Outcome {
    let started = Instant::now();
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
    let sent = http
        .post(format!("{edge}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat_body(stream, n))
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            o.transport = Some(transport(&e));
            o.finished = Instant::now();
            return o;
        }
    };
    o.status = Some(resp.status().as_u16());
    o.request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    let mut chunks = resp.bytes_stream();
    let mut broke = false;
    while let Some(c) = chunks.next().await {
        match c {
            Ok(b) => body.extend_from_slice(&b),
            Err(_) => {
                broke = true;
                break;
            }
        }
    }
    o.finished = Instant::now();
    let text = String::from_utf8_lossy(&body);
    if o.status == Some(200) {
        if stream {
            o.completed = !broke && text.trim_end().ends_with("data: [DONE]");
            if !o.completed {
                // A stream cut by the gateway ends with an error event.
                if let Some(ev) = text
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                    .find(|v| v.get("error").is_some())
                {
                    o.code = ev["error"]["code"].as_str().map(str::to_owned);
                    o.message = ev["error"]["message"].as_str().map(str::to_owned);
                }
            }
        } else {
            o.completed = !broke && serde_json::from_str::<Value>(&text).is_ok();
        }
    } else if let Ok(v) = serde_json::from_str::<Value>(&text) {
        o.code = v["error"]["code"].as_str().map(str::to_owned);
        o.message = v["error"]["message"].as_str().map(str::to_owned);
    }
    o
}

/// Sends `rate` requests a second for `duration` (open loop: a slow answer does not slow the
/// sending), alternating edges and streamed/whole answers; at most `max_in_flight` at once, so
/// a stuck stack cannot make the runner grow without bound (a request not sent for that reason
/// is counted in `skipped`).
pub struct LoadPlan {
    pub edges: Vec<String>,
    pub key: String,
    pub rate: u32,
    pub duration: Duration,
    pub max_in_flight: usize,
}

pub struct LoadResult {
    pub skipped: usize,
}

pub async fn run(http: reqwest::Client, plan: LoadPlan, record: Record) -> LoadResult {
    let period = Duration::from_secs_f64(1.0 / f64::from(plan.rate.max(1)));
    let total = (plan.duration.as_secs_f64() * f64::from(plan.rate)) as usize;
    let permits = Arc::new(Semaphore::new(plan.max_in_flight));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total);
    let mut skipped = 0;
    for n in 0..total {
        ticker.tick().await;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let edge = plan.edges[n % plan.edges.len()].clone();
        let (http, key, record) = (http.clone(), plan.key.clone(), record.clone());
        // Streams on one edge and whole answers on the other in turn, both on both.
        let stream = (n / plan.edges.len()).is_multiple_of(2);
        tasks.push(tokio::spawn(async move {
            let o = chat(&http, &edge, &key, stream, n).await;
            record.push(o);
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    LoadResult { skipped }
}

/// After a fault ends: one request every 50 ms to `edge` until one is answered in full;
/// returns how long that took from `since` (`None` if not within `within`).
pub async fn probe_recovery(
    http: &reqwest::Client,
    edge: &str,
    key: &str,
    since: Instant,
    within: Duration,
    record: &Record,
) -> Option<Duration> {
    let mut n = 1_000_000;
    loop {
        let o = chat(http, edge, key, false, n).await;
        let ok = o.ok();
        let finished = o.finished;
        record.push(o);
        if ok {
            return Some(finished.duration_since(since));
        }
        if since.elapsed() > within {
            return None;
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! Runs a bounded number of admissions (+ releases) against Redis and prints admits/s.
//!
//! `cargo run --release -p tollgate-limits --example admit_loop -- [N] [REDIS_URL]`
//! (defaults: 20000, redis://127.0.0.1:6379). Uses a random key prefix; keys expire by TTL.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tollgate_limits::{
    AdmitRequest, Decision, FailureMode, Limiter, LimiterConfig, Scope, ScopeKind,
};

const TASKS: usize = 32;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()
        .context("N must be a number")?
        .unwrap_or(20_000);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let limiter = Limiter::connect(LimiterConfig {
        redis_url: url,
        key_prefix: format!("tgbench-{}", uuid::Uuid::new_v4().simple()),
        timeout: Duration::from_millis(250),
        slot_lease: Duration::from_secs(60),
        failure: FailureMode::Closed,
        replicas: 1,
    })
    .await?;
    if !limiter.ping().await {
        bail!("Redis does not answer");
    }

    // One at a time: the round-trip latency as one request sees it.
    let started = Instant::now();
    run(&limiter, n / 10, 0).await?;
    let serial = started.elapsed();
    println!(
        "serial:     {} admit+release pairs in {serial:.2?} = {:.0}/s",
        n / 10,
        (n / 10) as f64 / serial.as_secs_f64()
    );

    // Many in flight, as under load: throughput through one multiplexed connection.
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(TASKS);
    for t in 0..TASKS {
        let limiter = limiter.clone();
        tasks.push(tokio::spawn(
            async move { run(&limiter, n / TASKS, t).await },
        ));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let total = n / TASKS * TASKS;
    println!(
        "{TASKS} tasks:   {total} admit+release pairs in {elapsed:.2?} = {:.0}/s",
        total as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// Admits and releases `count` requests through three scopes (key, team, tenant).
async fn run(limiter: &Limiter, count: usize, task: usize) -> anyhow::Result<()> {
    let key = format!("key-{task}");
    let scopes = [
        Scope {
            kind: ScopeKind::Key,
            id: &key,
            rpm: u32::MAX,
            concurrency: 1_000,
            tpm: 0,
        },
        Scope {
            kind: ScopeKind::Team,
            id: "team",
            rpm: u32::MAX,
            concurrency: 0,
            tpm: 0,
        },
        Scope {
            kind: ScopeKind::Tenant,
            id: "tenant",
            rpm: u32::MAX,
            concurrency: 0,
            tpm: 0,
        },
    ];
    let mut request_id = String::new();
    for i in 0..count {
        request_id.clear();
        std::fmt::Write::write_fmt(&mut request_id, format_args!("{task}-{i}"))?;
        let req = AdmitRequest {
            tenant_id: "bench",
            request_id: &request_id,
            scopes: &scopes,
            budgets: &[],
            tokens: 0,
        };
        match limiter.admit(&req).await {
            Decision::Admitted {
                ticket,
                degraded: false,
                ..
            } => limiter.release(&ticket).await,
            other => bail!("unexpected decision {other:?}"),
        }
    }
    Ok(())
}

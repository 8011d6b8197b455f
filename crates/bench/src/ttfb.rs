//! Streaming latency: for each request, the time to the first response-body byte (what a chat
//! user waits before text appears) and to the end of the body.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::{Instant, timeout};

use crate::cli::TtfbArgs;
use crate::client::{Target, new_client};
use crate::error::BenchError;
use crate::report::{Report, Summary};
use crate::tally::{Tally, exchange, join_all, micros};

pub(crate) async fn run(args: TtfbArgs) -> Result<Report, BenchError> {
    if args.concurrency == 0 || args.requests == 0 {
        return Err(BenchError::InvalidOption(
            "requests and concurrency must be positive",
        ));
    }
    let target = Arc::new(Target::from_args(&args.target)?);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks = (0..args.concurrency)
        .map(|_| {
            let (target, next) = (target.clone(), next.clone());
            tokio::spawn(worker(target, next, args.requests, args.target.timeout))
        })
        .collect();
    let tally = join_all(tasks).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut report = Report::new("ttfb", &args.target.url, args.concurrency, elapsed);
    report.fill(&tally);
    let first = Summary::of(&tally.first_byte);
    report.ttfb_p50_ms = Some(first.p50_ms);
    report.ttfb_p90_ms = Some(first.p90_ms);
    report.ttfb_p99_ms = Some(first.p99_ms);
    report.ttfb_max_ms = Some(first.max_ms);
    Ok(report)
}

async fn worker(
    target: Arc<Target>,
    next: Arc<AtomicU64>,
    requests: u64,
    limit: std::time::Duration,
) -> Result<Tally, BenchError> {
    let client = new_client();
    let mut tally = Tally::new()?;
    while next.fetch_add(1, Ordering::Relaxed) < requests {
        let sent = Instant::now();
        match timeout(limit, exchange(&client, &target)).await {
            Ok(Ok(x)) => {
                tally.ok(sent.elapsed(), x.bytes);
                if let Some(first) = x.first_byte {
                    tally.first_byte.saturating_record(micros(first - sent));
                }
            }
            Ok(Err(failure)) => tally.error(failure.describe()),
            Err(_) => tally.error(format!("timeout after {limit:?}")),
        }
    }
    Ok(tally)
}

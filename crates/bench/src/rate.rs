//! Open loop: requests are due on a fixed schedule (`i / rps` seconds after the start) whatever
//! the server does, and latency counts from when a request was due, not from when a connection
//! got free to send it, so a slow server cannot hide its queueing (no coordinated omission).
//!
//! Connection tasks take the next due request from a shared counter. A task that is early
//! sleeps until the due time and measures from when it actually woke (the timer's own jitter is
//! the generator's, not the server's); a task that is late (every connection was busy) measures
//! from the due time and counts the request as late.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::{Instant, sleep_until, timeout};

use crate::cli::RateArgs;
use crate::client::{Target, new_client};
use crate::error::BenchError;
use crate::report::Report;
use crate::tally::{Tally, exchange, join_all};

/// Picked up this long after its due time, a request counts as late.
const LATE_AFTER: Duration = Duration::from_millis(1);

/// When each request is due.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schedule {
    start: Instant,
    rps: f64,
    /// Requests due in the whole run (warmup included).
    pub(crate) total: u64,
}

impl Schedule {
    pub(crate) fn new(start: Instant, rps: f64, span: Duration) -> Self {
        let total = (rps * span.as_secs_f64()).round() as u64;
        Self { start, rps, total }
    }

    pub(crate) fn due(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rps)
    }
}

struct Run {
    target: Target,
    schedule: Schedule,
    next: AtomicU64,
    measure_from: Instant,
    /// Past this, due requests are dropped instead of sent, so the run always ends.
    hard_stop: Instant,
    limit: Duration,
}

pub(crate) async fn run(args: RateArgs) -> Result<Report, BenchError> {
    if args.connections == 0 || args.duration.is_zero() || !(args.rps > 0.0 && args.rps.is_finite())
    {
        return Err(BenchError::InvalidOption(
            "rps, connections and duration must be positive",
        ));
    }
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let run = Arc::new(Run {
        target: Target::from_args(&args.target)?,
        schedule: Schedule::new(start, args.rps, args.warmup + args.duration),
        next: AtomicU64::new(0),
        measure_from,
        hard_stop: end + args.target.timeout,
        limit: args.target.timeout,
    });
    let tasks = (0..args.connections)
        .map(|_| tokio::spawn(worker(run.clone())))
        .collect();
    let tally = join_all(tasks).await?;
    let mut report = Report::new(
        "rate",
        &args.target.url,
        args.connections,
        args.duration.as_secs_f64(),
    );
    report.fill(&tally);
    report.target_rps = Some(args.rps);
    report.late = Some(tally.late);
    report.dropped = Some(tally.dropped);
    report.errors += tally.dropped;
    Ok(report)
}

async fn worker(run: Arc<Run>) -> Result<Tally, BenchError> {
    let client = new_client();
    let mut tally = Tally::new()?;
    let total = run.schedule.total;
    loop {
        let i = run.next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        let due = run.schedule.due(i);
        let measured = due >= run.measure_from;
        let now = Instant::now();
        if now > run.hard_stop {
            // Claim every request not yet taken; the ones other tasks took, they drop themselves.
            let untaken = run.next.swap(total, Ordering::Relaxed);
            tally.dropped += 1 + total.saturating_sub(untaken);
            break;
        }
        let origin = if now < due {
            sleep_until(due).await;
            Instant::now()
        } else {
            if measured && now - due > LATE_AFTER {
                tally.late += 1;
            }
            due
        };
        let result = timeout(run.limit, exchange(&client, &run.target)).await;
        if !measured {
            continue;
        }
        match result {
            Ok(Ok(x)) => tally.ok(origin.elapsed(), x.bytes),
            Ok(Err(failure)) => tally.error(failure.describe()),
            Err(_) => tally.error(format!("timeout after {:?}", run.limit)),
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spaces_requests_evenly_and_counts_them() {
        let start = Instant::now();
        let s = Schedule::new(start, 1000.0, Duration::from_secs(10));
        assert_eq!(s.total, 10_000);
        assert_eq!(s.due(0), start);
        assert_eq!(s.due(1) - start, Duration::from_millis(1));
        assert_eq!(s.due(2500) - start, Duration::from_millis(2500));

        let odd = Schedule::new(start, 3.0, Duration::from_millis(2500));
        assert_eq!(odd.total, 8, "7.5 rounds to 8");
        let step = odd.due(1) - odd.due(0);
        assert!((step.as_secs_f64() - 1.0 / 3.0).abs() < 1e-6);
        // No drift: the 8th request is due exactly 7/3 s in, not 7 accumulated rounding errors.
        assert!(((odd.due(7) - start).as_secs_f64() - 7.0 / 3.0).abs() < 1e-6);
    }
}

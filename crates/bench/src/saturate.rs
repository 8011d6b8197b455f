//! Closed loop: every connection task sends its next request as soon as the previous one ends,
//! on its own keep-alive connection, until the duration is up.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use crate::cli::SaturateArgs;
use crate::client::{Target, new_client};
use crate::error::BenchError;
use crate::report::Report;
use crate::tally::{Failure, Tally, exchange, join_all};

pub(crate) async fn run(args: SaturateArgs) -> Result<Report, BenchError> {
    if args.connections == 0 || args.duration.is_zero() {
        return Err(BenchError::InvalidOption(
            "connections and duration must be positive",
        ));
    }
    let target = Arc::new(Target::from_args(&args.target)?);
    let measure_from = Instant::now() + args.warmup;
    let end = measure_from + args.duration;
    let tasks = (0..args.connections)
        .map(|_| {
            tokio::spawn(worker(
                target.clone(),
                measure_from,
                end,
                args.target.timeout,
            ))
        })
        .collect();
    let tally = join_all(tasks).await?;
    let mut report = Report::new(
        "saturate",
        &args.target.url,
        args.connections,
        args.duration.as_secs_f64(),
    );
    report.fill(&tally);
    Ok(report)
}

async fn worker(
    target: Arc<Target>,
    measure_from: Instant,
    end: Instant,
    limit: Duration,
) -> Result<Tally, BenchError> {
    let client = new_client();
    let mut tally = Tally::new()?;
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let deadline = (sent + limit).min(end);
        let result = timeout_at(deadline, exchange(&client, &target)).await;
        let measured = sent >= measure_from;
        match result {
            // Still in flight when the run ended: neither a success nor an error.
            Err(_) if deadline == end => break,
            Err(_) if measured => tally.error(format!("timeout after {limit:?}")),
            Err(_) => {}
            Ok(Ok(x)) if measured => tally.ok(sent.elapsed(), x.bytes),
            Ok(Ok(_)) => {}
            Ok(Err(failure)) => {
                if measured {
                    tally.error(failure.describe());
                }
                if matches!(failure, Failure::Transport(_)) {
                    // Connection refused and the like fail in microseconds: don't spin on them.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
    Ok(tally)
}

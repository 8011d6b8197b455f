//! Hourly housekeeping of the request-log partitions: make today's and tomorrow's ahead of the
//! first write (so no write pays for DDL at midnight), and drop those past retention.

use std::time::Duration;

use chrono::{Days, Utc};
use tollgate_store::{PgPool, logs};

const EVERY: Duration = Duration::from_secs(3600);

/// One round. `retention_days == 0` keeps logs forever.
pub async fn tick(pool: &PgPool, retention_days: u32) {
    let today = Utc::now().date_naive();
    let days: Vec<_> = [Some(today), today.checked_add_days(Days::new(1))]
        .into_iter()
        .flatten()
        .collect();
    if let Err(e) = logs::ensure_partitions(pool, &days).await {
        tracing::warn!(error = %e, "could not create upcoming request log partitions");
    }
    match tollgate_store::responses::purge_expired(pool).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "expired stored responses purged"),
        Err(e) => {
            tracing::warn!(error = %e, "expired stored responses not purged; retrying next hour")
        }
    }
    if retention_days == 0 {
        return;
    }
    match logs::drop_older_than(pool, retention_days).await {
        Ok(0) => {}
        Ok(n) => {
            metrics::counter!("tollgate_logging_partitions_dropped_total").increment(u64::from(n));
            tracing::info!(
                dropped = n,
                retention_days,
                "old request log partitions dropped"
            );
        }
        Err(e) => {
            metrics::counter!("tollgate_logging_retention_failures_total").increment(1);
            tracing::warn!(error = %e, "request log retention failed; retrying next hour");
        }
    }
}

/// Run [`tick`] now and then every hour, forever (the caller aborts it at shutdown).
pub async fn run(pool: PgPool, retention_days: u32) {
    let mut interval = tokio::time::interval(EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        tick(&pool, retention_days).await;
    }
}

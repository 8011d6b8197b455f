//! Request logs, partitioned by UTC day: batches are written with one `UNNEST` insert after the
//! partitions for the batch's days exist, and retention drops whole partitions.
//!
//! Privacy is the logging service's job: this module stores what it is given.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;
use crate::text::{pg_text, pg_text_owned};

/// Partitions are made on demand only for days this close to today; rows outside the window
/// (a skewed clock, a bogus timestamp) land in the default partition instead of creating a
/// table each.
const PARTITION_PAST_DAYS: u64 = 366;
const PARTITION_FUTURE_DAYS: u64 = 2;
const DEFAULT_QUERY_LIMIT: u32 = 100;
const MAX_QUERY_LIMIT: u32 = 1_000;

/// One request's log record.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LogRow {
    pub request_id: Uuid,
    pub tenant_id: Uuid,
    pub team_id: Option<Uuid>,
    pub key_id: String,
    pub model: String,
    pub deployment: String,
    pub provider: String,
    pub http_status: i32,
    pub error_code: Option<String>,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i64,
    pub ttfb_ms: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: Option<Decimal>,
    pub stream: bool,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
}

/// Filters of a log query; always bound to one tenant.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    pub tenant_id: Uuid,
    pub key_id: Option<String>,
    pub request_id: Option<Uuid>,
    /// Inclusive lower bound on `started_at`.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `started_at`.
    pub to: Option<DateTime<Utc>>,
    /// 0 = 100; at most 1000.
    pub limit: u32,
}

fn utc_day(t: DateTime<Utc>) -> NaiveDate {
    t.date_naive()
}

/// Make sure the daily partitions for `days` exist (idempotent; safe across replicas).
pub async fn ensure_partitions(pool: &PgPool, days: &[NaiveDate]) -> Result<(), StoreError> {
    if days.is_empty() {
        return Ok(());
    }
    // One statement per day, each its own transaction, so the partition lock is held briefly.
    for day in days {
        sqlx::query("SELECT tollgate_ensure_log_partition($1)")
            .bind(day)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Write a batch; returns the rows written (a record already stored is skipped, so a retried
/// batch writes nothing twice).
pub async fn write(pool: &PgPool, rows: &[LogRow]) -> Result<u32, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let today = utc_day(Utc::now());
    let lo = today.checked_sub_days(Days::new(PARTITION_PAST_DAYS));
    let hi = today.checked_add_days(Days::new(PARTITION_FUTURE_DAYS));
    let days: Vec<NaiveDate> = rows
        .iter()
        .map(|r| utc_day(r.started_at))
        .filter(|d| lo.is_none_or(|lo| *d >= lo) && hi.is_none_or(|hi| *d <= hi))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if let Err(e) = ensure_partitions(pool, &days).await {
        // The default partition still takes the rows; the next batch tries again.
        if e.is_transient() {
            return Err(e);
        }
        tracing::warn!(error = %e, "could not create request log partitions");
    }

    let n = rows.len();
    let mut request_id = Vec::with_capacity(n);
    let mut tenant_id = Vec::with_capacity(n);
    let mut team_id = Vec::with_capacity(n);
    let mut key_id = Vec::with_capacity(n);
    let mut model = Vec::with_capacity(n);
    let mut deployment = Vec::with_capacity(n);
    let mut provider = Vec::with_capacity(n);
    let mut http_status = Vec::with_capacity(n);
    let mut error_code = Vec::with_capacity(n);
    let mut started_at = Vec::with_capacity(n);
    let mut latency_ms = Vec::with_capacity(n);
    let mut ttfb_ms = Vec::with_capacity(n);
    let mut input_tokens = Vec::with_capacity(n);
    let mut output_tokens = Vec::with_capacity(n);
    let mut cost_usd = Vec::with_capacity(n);
    let mut stream = Vec::with_capacity(n);
    let mut request_body = Vec::with_capacity(n);
    let mut response_body = Vec::with_capacity(n);
    for r in rows {
        request_id.push(r.request_id);
        tenant_id.push(r.tenant_id);
        team_id.push(r.team_id);
        key_id.push(pg_text_owned(&r.key_id));
        model.push(pg_text_owned(&r.model));
        deployment.push(pg_text_owned(&r.deployment));
        provider.push(pg_text_owned(&r.provider));
        http_status.push(r.http_status);
        error_code.push(r.error_code.as_deref().map(pg_text_owned));
        started_at.push(r.started_at);
        latency_ms.push(r.latency_ms.max(0));
        ttfb_ms.push(r.ttfb_ms.max(0));
        input_tokens.push(r.input_tokens.max(0));
        output_tokens.push(r.output_tokens.max(0));
        cost_usd.push(r.cost_usd);
        stream.push(r.stream);
        request_body.push(r.request_body.as_deref().map(pg_text_owned));
        response_body.push(r.response_body.as_deref().map(pg_text_owned));
    }
    let done = sqlx::query(
        "INSERT INTO request_logs (request_id, tenant_id, team_id, key_id, model, deployment, \
             provider, http_status, error_code, started_at, latency_ms, ttfb_ms, input_tokens, \
             output_tokens, cost_usd, stream, request_body, response_body) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::int4[], $9::text[], $10::timestamptz[], $11::int8[], \
             $12::int8[], $13::int8[], $14::int8[], $15::numeric[], $16::bool[], $17::text[], \
             $18::text[]) \
         ON CONFLICT (request_id, started_at) DO NOTHING",
    )
    .bind(request_id)
    .bind(tenant_id)
    .bind(team_id)
    .bind(key_id)
    .bind(model)
    .bind(deployment)
    .bind(provider)
    .bind(http_status)
    .bind(error_code)
    .bind(started_at)
    .bind(latency_ms)
    .bind(ttfb_ms)
    .bind(input_tokens)
    .bind(output_tokens)
    .bind(cost_usd)
    .bind(stream)
    .bind(request_body)
    .bind(response_body)
    .execute(pool)
    .await?;
    Ok(u32::try_from(done.rows_affected()).unwrap_or(u32::MAX))
}

/// The tenant's log records matching `q`, newest first.
pub async fn query(pool: &PgPool, q: &LogQuery) -> Result<Vec<LogRow>, StoreError> {
    let limit = match q.limit {
        0 => DEFAULT_QUERY_LIMIT,
        l => l.min(MAX_QUERY_LIMIT),
    };
    let rows = sqlx::query_as::<_, LogRow>(
        "SELECT request_id, tenant_id, team_id, key_id, model, deployment, provider, \
                http_status, error_code, started_at, latency_ms, ttfb_ms, input_tokens, \
                output_tokens, cost_usd, stream, request_body, response_body \
         FROM request_logs \
         WHERE tenant_id = $1 \
           AND ($2::text IS NULL OR key_id = $2) \
           AND ($3::uuid IS NULL OR request_id = $3) \
           AND ($4::timestamptz IS NULL OR started_at >= $4) \
           AND ($5::timestamptz IS NULL OR started_at < $5) \
         ORDER BY started_at DESC, request_id DESC \
         LIMIT $6",
    )
    .bind(q.tenant_id)
    .bind(q.key_id.as_deref().map(pg_text))
    .bind(q.request_id)
    .bind(q.from)
    .bind(q.to)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Drop the daily partitions (and default-partition rows) older than `days` days before today
/// (UTC). Returns the number of partitions dropped.
pub async fn drop_older_than(pool: &PgPool, days: u32) -> Result<u32, StoreError> {
    let cutoff = utc_day(Utc::now())
        .checked_sub_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MIN);
    let dropped: i32 = sqlx::query_scalar("SELECT tollgate_drop_log_partitions_before($1)")
        .bind(cutoff)
        .fetch_one(pool)
        .await?;
    Ok(u32::try_from(dropped).unwrap_or(0))
}

/// Names of the daily partitions that exist, oldest first (operations and tests).
pub async fn partitions(pool: &PgPool) -> Result<Vec<String>, StoreError> {
    let names = sqlx::query_scalar::<_, String>(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'request_logs'::regclass AND c.relname ~ '^request_logs_p[0-9]{8}$' \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    Ok(names)
}

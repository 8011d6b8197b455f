//! The usage ledger: one row per admitted request, stored exactly once however often the edge
//! sends it, with the daily spend aggregates kept in the same statement.

mod rows;
mod spend;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tollgate_domain::{Money, Outcome, Usage};
use uuid::Uuid;

use crate::StoreError;
use crate::text::{big, pg_text_owned};

pub use rows::{UsageQuery, get, list};
pub use spend::{DailySpend, SpendGroup, SpendQuery, SpendRow, daily, spend};

/// One priced usage event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    pub request_id: Uuid,
    pub tenant_id: Uuid,
    pub team_id: Option<Uuid>,
    pub key_id: String,
    pub user_id: Option<String>,
    pub model: String,
    pub deployment: String,
    pub provider: String,
    pub usage: Usage,
    /// Exact cost at `price_version`.
    pub cost: Money,
    /// `None` when the model had no known price (then `cost` is zero).
    pub price_version: Option<i32>,
    pub http_status: u16,
    pub outcome: Outcome,
    pub stream: bool,
    pub reported_by_provider: bool,
    pub started_at: DateTime<Utc>,
    pub latency_ms: u64,
}

/// Column arrays for one `UNNEST`, in the ledger's column order.
#[derive(Default)]
struct Columns {
    request_id: Vec<Uuid>,
    tenant_id: Vec<Uuid>,
    team_id: Vec<Option<Uuid>>,
    key_id: Vec<String>,
    user_id: Vec<Option<String>>,
    model: Vec<String>,
    deployment: Vec<String>,
    provider: Vec<String>,
    input_tokens: Vec<i64>,
    output_tokens: Vec<i64>,
    cached_input_tokens: Vec<i64>,
    cache_write_tokens: Vec<i64>,
    reasoning_tokens: Vec<i64>,
    cost_picos: Vec<i64>,
    price_version: Vec<Option<i32>>,
    http_status: Vec<i32>,
    outcome: Vec<&'static str>,
    stream: Vec<bool>,
    reported_by_provider: Vec<bool>,
    started_at: Vec<DateTime<Utc>>,
    latency_ms: Vec<i64>,
    billed_unit: Vec<Option<&'static str>>,
    billed_units: Vec<Option<i64>>,
}

impl Columns {
    fn push(&mut self, e: &LedgerEntry) {
        self.request_id.push(e.request_id);
        self.tenant_id.push(e.tenant_id);
        self.team_id.push(e.team_id);
        self.key_id.push(pg_text_owned(&e.key_id));
        self.user_id.push(e.user_id.as_deref().map(pg_text_owned));
        self.model.push(pg_text_owned(&e.model));
        self.deployment.push(pg_text_owned(&e.deployment));
        self.provider.push(pg_text_owned(&e.provider));
        self.input_tokens.push(big(e.usage.input_tokens));
        self.output_tokens.push(big(e.usage.output_tokens));
        self.cached_input_tokens
            .push(big(e.usage.cached_input_tokens));
        self.cache_write_tokens
            .push(big(e.usage.cache_write_tokens));
        self.reasoning_tokens.push(big(e.usage.reasoning_tokens));
        self.cost_picos.push(e.cost.picos());
        self.price_version.push(e.price_version);
        self.http_status.push(i32::from(e.http_status));
        self.outcome.push(e.outcome.as_str());
        self.stream.push(e.stream);
        self.reported_by_provider.push(e.reported_by_provider);
        self.started_at.push(e.started_at);
        self.latency_ms.push(big(e.latency_ms));
        self.billed_unit
            .push(e.usage.units.map(|u| u.unit.as_str()));
        self.billed_units.push(e.usage.units.map(|u| big(u.count)));
    }
}

// One statement, so it is atomic: rows new to the ledger are inserted and only those rows
// (`RETURNING` of `ON CONFLICT DO NOTHING`) are added to `spend_daily`. A replayed batch, or an
// event repeated inside a batch, adds nothing. Rows are inserted in request_id order and
// aggregates in key order so concurrent batches take their locks in the same order.
const RECORD: &str = "\
WITH input AS (
    SELECT * FROM UNNEST(
        $1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::int8[],
        $15::int4[], $16::int4[], $17::text[], $18::bool[], $19::bool[], $20::timestamptz[],
        $21::int8[], $22::text[], $23::int8[])
    AS t(request_id, tenant_id, team_id, key_id, user_id, model, deployment, provider,
         input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
         cost_picos, price_version, http_status, outcome, stream, reported_by_provider,
         started_at, latency_ms, billed_unit, billed_units)
), ins AS (
    INSERT INTO usage_ledger (request_id, tenant_id, team_id, key_id, user_id, model,
        deployment, provider, input_tokens, output_tokens, cached_input_tokens,
        cache_write_tokens, reasoning_tokens, cost_picos, price_version, http_status, outcome,
        stream, reported_by_provider, started_at, latency_ms, billed_unit, billed_units)
    SELECT request_id, tenant_id, team_id, key_id, user_id, model, deployment, provider,
        input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
        cost_picos, price_version, http_status, outcome, stream, reported_by_provider,
        started_at, latency_ms, billed_unit, billed_units
    FROM input ORDER BY request_id
    ON CONFLICT (request_id) DO NOTHING
    RETURNING tenant_id, team_id, key_id, model, started_at, input_tokens, output_tokens,
        cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_picos
), agg AS (
    SELECT tenant_id, team_id, key_id, model, (started_at AT TIME ZONE 'UTC')::date AS day,
        count(*) AS requests, sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens, sum(cached_input_tokens) AS cached_input_tokens,
        sum(cache_write_tokens) AS cache_write_tokens, sum(reasoning_tokens) AS reasoning_tokens,
        sum(cost_picos) AS cost_picos
    FROM ins GROUP BY 1, 2, 3, 4, 5
), upd AS (
    INSERT INTO spend_daily AS s (tenant_id, team_id, key_id, model, day, requests,
        input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
        cost_picos)
    SELECT tenant_id, team_id, key_id, model, day, requests, input_tokens, output_tokens,
        cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_picos
    FROM agg ORDER BY tenant_id, team_id, key_id, model, day
    ON CONFLICT ON CONSTRAINT spend_daily_key DO UPDATE SET
        requests = s.requests + EXCLUDED.requests,
        input_tokens = s.input_tokens + EXCLUDED.input_tokens,
        output_tokens = s.output_tokens + EXCLUDED.output_tokens,
        cached_input_tokens = s.cached_input_tokens + EXCLUDED.cached_input_tokens,
        cache_write_tokens = s.cache_write_tokens + EXCLUDED.cache_write_tokens,
        reasoning_tokens = s.reasoning_tokens + EXCLUDED.reasoning_tokens,
        cost_picos = s.cost_picos + EXCLUDED.cost_picos
)
SELECT count(*) FROM ins";

/// Record a batch; returns `(inserted, duplicates)`. Entries already in the ledger (or repeated
/// in the batch) are duplicates and change nothing. When this returns `Ok`, the rows are
/// committed.
pub async fn record(pool: &PgPool, entries: &[LedgerEntry]) -> Result<(u32, u32), StoreError> {
    if entries.is_empty() {
        return Ok((0, 0));
    }
    let mut c = Columns::default();
    for e in entries {
        c.push(e);
    }
    let inserted: i64 = sqlx::query_scalar(RECORD)
        .bind(c.request_id)
        .bind(c.tenant_id)
        .bind(c.team_id)
        .bind(c.key_id)
        .bind(c.user_id)
        .bind(c.model)
        .bind(c.deployment)
        .bind(c.provider)
        .bind(c.input_tokens)
        .bind(c.output_tokens)
        .bind(c.cached_input_tokens)
        .bind(c.cache_write_tokens)
        .bind(c.reasoning_tokens)
        .bind(c.cost_picos)
        .bind(c.price_version)
        .bind(c.http_status)
        .bind(c.outcome)
        .bind(c.stream)
        .bind(c.reported_by_provider)
        .bind(c.started_at)
        .bind(c.latency_ms)
        .bind(c.billed_unit)
        .bind(c.billed_units)
        .fetch_one(pool)
        .await?;
    let total = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    let inserted = u32::try_from(inserted).unwrap_or(0).min(total);
    Ok((inserted, total - inserted))
}

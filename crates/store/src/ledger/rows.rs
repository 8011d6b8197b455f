//! Reading ledger rows back: one request's exact cost (OpenRouter's `/generation`), and pages of
//! rows for usage exports. Always bound to the tenant.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use tollgate_domain::{Money, Outcome, Units, Usage};
use uuid::Uuid;

use super::LedgerEntry;
use crate::StoreError;

const COLUMNS: &str = "request_id, tenant_id, team_id, key_id, user_id, model, deployment, \
    provider, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, \
    reasoning_tokens, cost_picos, price_version, http_status, outcome, stream, \
    reported_by_provider, started_at, latency_ms, billed_unit, billed_units";

fn count(row: &PgRow, col: &str) -> Result<u64, sqlx::Error> {
    Ok(u64::try_from(row.try_get::<i64, _>(col)?).unwrap_or(0))
}

/// The unit billed besides tokens (the table's CHECK admits only known units).
fn units(row: &PgRow) -> Result<Option<Units>, sqlx::Error> {
    let unit: Option<String> = row.try_get("billed_unit")?;
    let n: Option<i64> = row.try_get("billed_units")?;
    Ok(unit.and_then(|u| Units::from_wire(&u, n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))))
}

fn entry(row: &PgRow) -> Result<LedgerEntry, StoreError> {
    let outcome: String = row.try_get("outcome")?;
    Ok(LedgerEntry {
        request_id: row.try_get("request_id")?,
        tenant_id: row.try_get("tenant_id")?,
        team_id: row.try_get("team_id")?,
        key_id: row.try_get("key_id")?,
        user_id: row.try_get("user_id")?,
        model: row.try_get("model")?,
        deployment: row.try_get("deployment")?,
        provider: row.try_get("provider")?,
        usage: Usage {
            input_tokens: count(row, "input_tokens")?,
            output_tokens: count(row, "output_tokens")?,
            cached_input_tokens: count(row, "cached_input_tokens")?,
            cache_write_tokens: count(row, "cache_write_tokens")?,
            reasoning_tokens: count(row, "reasoning_tokens")?,
            units: units(row)?,
        },
        cost: Money::from_picos(row.try_get("cost_picos")?),
        price_version: row.try_get("price_version")?,
        http_status: u16::try_from(row.try_get::<i32, _>("http_status")?).unwrap_or(0),
        // The table's CHECK constraint admits only known outcomes.
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failed),
        stream: row.try_get("stream")?,
        reported_by_provider: row.try_get("reported_by_provider")?,
        started_at: row.try_get("started_at")?,
        latency_ms: count(row, "latency_ms")?,
    })
}

/// One request's row, if it belongs to `tenant_id`.
pub async fn get(
    pool: &PgPool,
    tenant_id: Uuid,
    request_id: Uuid,
) -> Result<Option<LedgerEntry>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM usage_ledger WHERE tenant_id = $1 AND request_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(request_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(entry).transpose()
}

/// Filters for [`list`]. Rows come oldest first; pass the last row's `(started_at, request_id)`
/// as `after` for the next page.
#[derive(Clone, Debug)]
pub struct UsageQuery {
    pub tenant_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub key_id: Option<String>,
    pub user_id: Option<String>,
    pub model: Option<String>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

/// A page of ledger rows.
pub async fn list(pool: &PgPool, q: &UsageQuery) -> Result<Vec<LedgerEntry>, StoreError> {
    let (after_ts, after_id) = match q.after {
        Some((t, id)) => (Some(t), Some(id)),
        None => (None, None),
    };
    // COLUMNS is a constant; every value is a bound parameter.
    let sql = format!(
        "SELECT {COLUMNS} FROM usage_ledger
         WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3
           AND ($4::text IS NULL OR key_id = $4)
           AND ($5::text IS NULL OR model = $5)
           AND ($6::timestamptz IS NULL OR (started_at, request_id) > ($6, $7::uuid))
           AND ($9::text IS NULL OR user_id = $9)
         ORDER BY started_at, request_id
         LIMIT $8"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(q.tenant_id)
        .bind(q.from)
        .bind(q.to)
        .bind(q.key_id.as_deref())
        .bind(q.model.as_deref())
        .bind(after_ts)
        .bind(after_id)
        .bind(i64::from(q.limit.clamp(1, 10_000)))
        .bind(q.user_id.as_deref())
        .fetch_all(pool)
        .await?;
    rows.iter().map(entry).collect()
}

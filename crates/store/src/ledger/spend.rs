//! Spend reports, computed exactly from the ledger (integer pico-USD summed as NUMERIC), and
//! the daily aggregates for cheap dashboards and budgets.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;
use crate::text::pg_text;

/// What each row of a spend report stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpendGroup {
    /// One row: the tenant.
    #[default]
    Tenant,
    /// Per team id (`""` for keys without a team).
    Team,
    Key,
    /// Per user id (`""` for requests without a user): a user's id, or a JWT caller's user
    /// claim when no user matches it.
    User,
    Model,
    /// Per UTC day, `YYYY-MM-DD`.
    Day,
}

impl SpendGroup {
    fn as_str(self) -> &'static str {
        match self {
            SpendGroup::Tenant => "tenant",
            SpendGroup::Team => "team",
            SpendGroup::Key => "key",
            SpendGroup::User => "user",
            SpendGroup::Model => "model",
            SpendGroup::Day => "day",
        }
    }
}

/// A spend report's filters; always bound to one tenant.
#[derive(Clone, Debug, Default)]
pub struct SpendQuery {
    pub tenant_id: Uuid,
    pub team_id: Option<Uuid>,
    pub key_id: Option<String>,
    /// Only this user's requests (a user id, or a JWT caller's user claim).
    pub user_id: Option<String>,
    pub model: Option<String>,
    /// Inclusive lower bound on `started_at`.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `started_at`.
    pub to: Option<DateTime<Utc>>,
    pub group_by: SpendGroup,
}

/// One group's totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpendRow {
    pub group: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    /// Exact cost in pico-USD (i128: a sum of many i64 rows).
    pub cost_picos: i128,
}

impl SpendRow {
    /// Exact cost in USD, 12 fractional digits.
    pub fn cost_usd(&self) -> Decimal {
        Decimal::try_from_i128_with_scale(self.cost_picos, 12).unwrap_or(Decimal::MAX)
    }

    /// Add another row's totals into this one (for report totals).
    pub fn accumulate(&mut self, other: &SpendRow) {
        self.requests = self.requests.saturating_add(other.requests);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(other.reasoning_tokens);
        self.cost_picos = self.cost_picos.saturating_add(other.cost_picos);
    }
}

#[derive(sqlx::FromRow)]
struct SpendRecord {
    grp: String,
    requests: i64,
    input_tokens: Decimal,
    output_tokens: Decimal,
    cached_input_tokens: Decimal,
    cache_write_tokens: Decimal,
    reasoning_tokens: Decimal,
    cost_picos: Decimal,
}

fn count(d: Decimal) -> u64 {
    d.to_u64().unwrap_or(u64::MAX)
}

fn picos(d: Decimal) -> i128 {
    d.to_i128().unwrap_or(i128::MAX)
}

/// Spend of one tenant, grouped as asked, ordered by group.
pub async fn spend(pool: &PgPool, q: &SpendQuery) -> Result<Vec<SpendRow>, StoreError> {
    let recs = sqlx::query_as::<_, SpendRecord>(
        "SELECT CASE $7::text \
                  WHEN 'tenant' THEN tenant_id::text \
                  WHEN 'team' THEN COALESCE(team_id::text, '') \
                  WHEN 'key' THEN key_id \
                  WHEN 'user' THEN COALESCE(user_id, '') \
                  WHEN 'model' THEN model \
                  ELSE to_char((started_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') \
                END AS grp, \
                count(*) AS requests, \
                COALESCE(sum(input_tokens), 0) AS input_tokens, \
                COALESCE(sum(output_tokens), 0) AS output_tokens, \
                COALESCE(sum(cached_input_tokens), 0) AS cached_input_tokens, \
                COALESCE(sum(cache_write_tokens), 0) AS cache_write_tokens, \
                COALESCE(sum(reasoning_tokens), 0) AS reasoning_tokens, \
                COALESCE(sum(cost_picos), 0) AS cost_picos \
         FROM usage_ledger \
         WHERE tenant_id = $1 \
           AND ($2::uuid IS NULL OR team_id = $2) \
           AND ($3::text IS NULL OR key_id = $3) \
           AND ($4::text IS NULL OR model = $4) \
           AND ($5::timestamptz IS NULL OR started_at >= $5) \
           AND ($6::timestamptz IS NULL OR started_at < $6) \
           AND ($8::text IS NULL OR user_id = $8) \
         GROUP BY 1 ORDER BY 1",
    )
    .bind(q.tenant_id)
    .bind(q.team_id)
    .bind(q.key_id.as_deref().map(pg_text))
    .bind(q.model.as_deref().map(pg_text))
    .bind(q.from)
    .bind(q.to)
    .bind(q.group_by.as_str())
    .bind(q.user_id.as_deref().map(pg_text))
    .fetch_all(pool)
    .await?;
    Ok(recs
        .into_iter()
        .map(|r| SpendRow {
            group: r.grp,
            requests: u64::try_from(r.requests).unwrap_or(0),
            input_tokens: count(r.input_tokens),
            output_tokens: count(r.output_tokens),
            cached_input_tokens: count(r.cached_input_tokens),
            cache_write_tokens: count(r.cache_write_tokens),
            reasoning_tokens: count(r.reasoning_tokens),
            cost_picos: picos(r.cost_picos),
        })
        .collect())
}

/// One row of the daily aggregates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailySpend {
    pub team_id: Option<Uuid>,
    pub key_id: String,
    pub model: String,
    pub day: NaiveDate,
    pub totals: SpendRow,
}

#[derive(sqlx::FromRow)]
struct DailyRecord {
    team_id: Option<Uuid>,
    key_id: String,
    model: String,
    day: NaiveDate,
    requests: i64,
    input_tokens: Decimal,
    output_tokens: Decimal,
    cached_input_tokens: Decimal,
    cache_write_tokens: Decimal,
    reasoning_tokens: Decimal,
    cost_picos: Decimal,
}

/// The tenant's daily aggregates for UTC days in `[from, to]`.
pub async fn daily(
    pool: &PgPool,
    tenant_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DailySpend>, StoreError> {
    let recs = sqlx::query_as::<_, DailyRecord>(
        "SELECT team_id, key_id, model, day, requests, input_tokens, output_tokens, \
                cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_picos \
         FROM spend_daily \
         WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 \
         ORDER BY day, key_id, model",
    )
    .bind(tenant_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(recs
        .into_iter()
        .map(|r| DailySpend {
            team_id: r.team_id,
            key_id: r.key_id,
            model: r.model,
            day: r.day,
            totals: SpendRow {
                group: r.day.format("%Y-%m-%d").to_string(),
                requests: u64::try_from(r.requests).unwrap_or(0),
                input_tokens: count(r.input_tokens),
                output_tokens: count(r.output_tokens),
                cached_input_tokens: count(r.cached_input_tokens),
                cache_write_tokens: count(r.cache_write_tokens),
                reasoning_tokens: count(r.reasoning_tokens),
                cost_picos: picos(r.cost_picos),
            },
        })
        .collect())
}

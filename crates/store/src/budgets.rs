//! Budgets: spending limits per tenant, team or key over calendar periods in a time zone.
//!
//! Periods are computed by Postgres (`date_trunc` in the budget's zone), so daylight-saving
//! changes and month lengths are handled where the zone database lives. The snapshot the edge
//! loads carries each budget's current period and what the ledger already holds for it, which
//! seeds the Redis counter whenever it is missing.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;

/// One budget as the admin API shows it.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Budget {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub scope: String,
    pub scope_id: String,
    pub period: String,
    pub timezone: String,
    pub limit_picos: i64,
    pub created_at: DateTime<Utc>,
    /// Fractions of the limit that fire a soft-limit webhook once per period.
    pub alert_thresholds: Vec<f64>,
}

/// A budget to create. `scope` is `tenant`, `team` or `key`; `period` is `day`, `week` or `month`.
#[derive(Clone, Copy, Debug)]
pub struct NewBudget<'a> {
    pub tenant_id: Uuid,
    pub scope: &'a str,
    pub scope_id: &'a str,
    pub period: &'a str,
    pub timezone: &'a str,
    pub limit_picos: i64,
    pub alert_thresholds: &'a [f64],
}

pub async fn create(pool: &PgPool, b: &NewBudget<'_>) -> Result<Budget, StoreError> {
    let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_timezone_names WHERE name = $1")
        .bind(b.timezone)
        .fetch_optional(pool)
        .await?;
    if known.is_none() {
        return Err(StoreError::Invalid {
            field: "timezone",
            message: "is not a known IANA time zone",
        });
    }
    Ok(sqlx::query_as::<_, Budget>(
        "INSERT INTO budgets (id, tenant_id, scope, scope_id, period, timezone, limit_picos, \
                              alert_thresholds) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING id, tenant_id, scope, scope_id, period, timezone, limit_picos, created_at, \
                   alert_thresholds",
    )
    .bind(Uuid::now_v7())
    .bind(b.tenant_id)
    .bind(b.scope)
    .bind(b.scope_id)
    .bind(b.period)
    .bind(b.timezone)
    .bind(b.limit_picos)
    .bind(b.alert_thresholds)
    .fetch_one(pool)
    .await?)
}

pub async fn list(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<Budget>, StoreError> {
    Ok(sqlx::query_as::<_, Budget>(
        "SELECT id, tenant_id, scope, scope_id, period, timezone, limit_picos, created_at, \
                alert_thresholds \
         FROM budgets WHERE tenant_id = $1 ORDER BY created_at",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?)
}

/// Delete a budget of `tenant_id` (another tenant's is NotFound).
pub async fn delete(pool: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Budget, StoreError> {
    sqlx::query_as::<_, Budget>(
        "DELETE FROM budgets WHERE tenant_id = $1 AND id = $2 \
         RETURNING id, tenant_id, scope, scope_id, period, timezone, limit_picos, created_at, \
                   alert_thresholds",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound { what: "budget" })
}

/// A budget with its current period and the ledger's spend in it so far.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct BudgetState {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub scope: String,
    pub scope_id: String,
    pub limit_picos: i64,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub spent_picos: i64,
}

/// Every budget with its current period (at the database's `now()`) and its spend so far.
pub async fn snapshot(pool: &PgPool) -> Result<Vec<BudgetState>, StoreError> {
    Ok(sqlx::query_as::<_, BudgetState>(
        "WITH p AS ( \
           SELECT b.*, \
             (date_trunc(b.period, now() AT TIME ZONE b.timezone) AT TIME ZONE b.timezone) AS period_start, \
             ((date_trunc(b.period, now() AT TIME ZONE b.timezone) + ('1 ' || b.period)::interval) \
                AT TIME ZONE b.timezone) AS period_end \
           FROM budgets b) \
         SELECT p.id, p.tenant_id, p.scope, p.scope_id, p.limit_picos, p.period_start, p.period_end, \
           COALESCE((SELECT sum(l.cost_picos) FROM usage_ledger l \
             WHERE l.tenant_id = p.tenant_id AND l.started_at >= p.period_start \
               AND l.started_at < p.period_end \
               AND (p.scope = 'tenant' \
                 OR (p.scope = 'team' AND l.team_id::text = p.scope_id) \
                 OR (p.scope = 'key' AND l.key_id = p.scope_id))), 0)::bigint AS spent_picos \
         FROM p ORDER BY p.id",
    )
    .fetch_all(pool)
    .await?)
}

/// A soft-limit alert this replica won the right to send.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct BudgetAlert {
    pub budget_id: Uuid,
    pub tenant_id: Uuid,
    pub scope: String,
    pub scope_id: String,
    pub period: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub limit_picos: i64,
    pub spent_picos: i64,
    pub threshold: f64,
}

/// Claim every soft-limit alert now due: each (budget, current period, threshold) whose settled
/// spend (the ledger's) has reached `threshold × limit` and that no replica has claimed yet.
/// The primary key of `budget_alerts` makes each claim happen once across replicas; only the
/// claims this call made are returned (the caller sends them).
pub async fn claim_alerts(pool: &PgPool) -> Result<Vec<BudgetAlert>, StoreError> {
    Ok(sqlx::query_as::<_, BudgetAlert>(
        "WITH p AS ( \
           SELECT b.*, \
             (date_trunc(b.period, now() AT TIME ZONE b.timezone) AT TIME ZONE b.timezone) AS period_start, \
             ((date_trunc(b.period, now() AT TIME ZONE b.timezone) + ('1 ' || b.period)::interval) \
                AT TIME ZONE b.timezone) AS period_end \
           FROM budgets b WHERE cardinality(b.alert_thresholds) > 0), \
         s AS ( \
           SELECT p.*, COALESCE((SELECT sum(l.cost_picos) FROM usage_ledger l \
             WHERE l.tenant_id = p.tenant_id AND l.started_at >= p.period_start \
               AND l.started_at < p.period_end \
               AND (p.scope = 'tenant' \
                 OR (p.scope = 'team' AND l.team_id::text = p.scope_id) \
                 OR (p.scope = 'key' AND l.key_id = p.scope_id))), 0)::bigint AS spent_picos \
           FROM p), \
         due AS ( \
           SELECT s.id, s.period_start, t.threshold, s.spent_picos \
           FROM s CROSS JOIN LATERAL unnest(s.alert_thresholds) AS t(threshold) \
           WHERE s.spent_picos::numeric >= t.threshold::numeric * s.limit_picos), \
         ins AS ( \
           INSERT INTO budget_alerts (budget_id, period_start, threshold, spent_picos) \
           SELECT id, period_start, threshold, spent_picos FROM due \
           ON CONFLICT ON CONSTRAINT budget_alerts_pkey DO NOTHING \
           RETURNING budget_id, period_start, threshold, spent_picos) \
         SELECT ins.budget_id, s.tenant_id, s.scope, s.scope_id, s.period, ins.period_start, \
                s.period_end, s.limit_picos, ins.spent_picos, ins.threshold \
         FROM ins JOIN s ON s.id = ins.budget_id \
         ORDER BY ins.budget_id, ins.threshold",
    )
    .fetch_all(pool)
    .await?)
}

/// Claim again the alerts claimed more than `stale` ago and never delivered: the replica that
/// claimed one crashed, or its webhook kept failing. Each is re-claimed by exactly one caller
/// (the row lock makes a concurrent caller re-check `fired_at` and skip it); `stale` must
/// exceed a delivery's whole retry schedule so a live sender is not doubled.
pub async fn reclaim_undelivered(
    pool: &PgPool,
    stale: std::time::Duration,
) -> Result<Vec<BudgetAlert>, StoreError> {
    let stale_s = i64::try_from(stale.as_secs()).unwrap_or(i64::MAX);
    Ok(sqlx::query_as::<_, BudgetAlert>(
        "WITH re AS ( \
           UPDATE budget_alerts SET fired_at = now() \
           WHERE delivered_at IS NULL AND fired_at < now() - make_interval(secs => $1) \
           RETURNING budget_id, period_start, threshold, spent_picos) \
         SELECT re.budget_id, b.tenant_id, b.scope, b.scope_id, b.period, re.period_start, \
                (((re.period_start AT TIME ZONE b.timezone) + ('1 ' || b.period)::interval) \
                   AT TIME ZONE b.timezone) AS period_end, \
                b.limit_picos, re.spent_picos, re.threshold \
         FROM re JOIN budgets b ON b.id = re.budget_id \
         ORDER BY re.budget_id, re.threshold",
    )
    .bind(stale_s as f64)
    .fetch_all(pool)
    .await?)
}

/// Record that an alert reached its webhook.
pub async fn alert_delivered(
    pool: &PgPool,
    budget_id: Uuid,
    period_start: DateTime<Utc>,
    threshold: f64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE budget_alerts SET delivered_at = now() \
         WHERE budget_id = $1 AND period_start = $2 AND threshold = $3",
    )
    .bind(budget_id)
    .bind(period_start)
    .bind(threshold)
    .execute(pool)
    .await?;
    Ok(())
}

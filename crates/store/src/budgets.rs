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
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Budget {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub scope: String,
    pub scope_id: String,
    pub period: String,
    pub timezone: String,
    pub limit_picos: i64,
    pub created_at: DateTime<Utc>,
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
        "INSERT INTO budgets (id, tenant_id, scope, scope_id, period, timezone, limit_picos) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, tenant_id, scope, scope_id, period, timezone, limit_picos, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(b.tenant_id)
    .bind(b.scope)
    .bind(b.scope_id)
    .bind(b.period)
    .bind(b.timezone)
    .bind(b.limit_picos)
    .fetch_one(pool)
    .await?)
}

pub async fn list(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<Budget>, StoreError> {
    Ok(sqlx::query_as::<_, Budget>(
        "SELECT id, tenant_id, scope, scope_id, period, timezone, limit_picos, created_at \
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
         RETURNING id, tenant_id, scope, scope_id, period, timezone, limit_picos, created_at",
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

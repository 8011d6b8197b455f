//! Tenants: the unit every key, team, ledger row and log row belongs to.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;
use crate::text::pg_text;

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    /// Whether request and response bodies may be stored in request logs.
    pub log_content: bool,
    pub created_at: DateTime<Utc>,
}

/// Create a tenant; a taken name is [`StoreError::AlreadyExists`].
pub async fn create(pool: &PgPool, name: &str, log_content: bool) -> Result<Tenant, StoreError> {
    let tenant = sqlx::query_as::<_, Tenant>(
        "INSERT INTO tenants (id, name, log_content) VALUES ($1, $2, $3) \
         RETURNING id, name, log_content, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(pg_text(name).as_ref())
    .bind(log_content)
    .fetch_one(pool)
    .await?;
    Ok(tenant)
}

/// Every tenant, by name.
pub async fn list(pool: &PgPool) -> Result<Vec<Tenant>, StoreError> {
    let tenants = sqlx::query_as::<_, Tenant>(
        "SELECT id, name, log_content, created_at FROM tenants ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    Ok(tenants)
}

/// One tenant, or [`StoreError::NotFound`].
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Tenant, StoreError> {
    sqlx::query_as::<_, Tenant>(
        "SELECT id, name, log_content, created_at FROM tenants WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound { what: "tenant" })
}

/// Turn content logging on or off for a tenant (edges see it with the next key snapshot).
pub async fn set_log_content(
    pool: &PgPool,
    id: Uuid,
    log_content: bool,
) -> Result<Tenant, StoreError> {
    sqlx::query_as::<_, Tenant>(
        "UPDATE tenants SET log_content = $2 WHERE id = $1 \
         RETURNING id, name, log_content, created_at",
    )
    .bind(id)
    .bind(log_content)
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound { what: "tenant" })
}

/// Which of `ids` allow content logging now (the logging service checks the tenant's current
/// setting, not only the flag a record carries).
pub async fn with_content_logging(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>, StoreError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let allowed =
        sqlx::query_scalar::<_, Uuid>("SELECT id FROM tenants WHERE id = ANY($1) AND log_content")
            .bind(ids)
            .fetch_all(pool)
            .await?;
    Ok(allowed.into_iter().collect())
}

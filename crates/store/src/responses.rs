//! Stored Responses API answers: written once per response, read by id within a tenant, deleted
//! on request, purged after their expiry. Privacy is the logging service's job: this module
//! stores what it is given.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;

/// One stored response.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct StoredResponse {
    pub tenant_id: Uuid,
    pub id: String,
    pub request_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub model: String,
    /// The Response object as the client received it.
    pub response: serde_json::Value,
    /// The conversation's input items up to this response.
    pub input_items: serde_json::Value,
}

/// Stores `r`; storing the same id again (a retried write) keeps the first.
pub async fn put(pool: &PgPool, r: &StoredResponse) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stored_responses \
         (tenant_id, id, request_id, created_at, expires_at, model, response, input_items) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (tenant_id, id) DO NOTHING",
    )
    .bind(r.tenant_id)
    .bind(&r.id)
    .bind(r.request_id)
    .bind(r.created_at)
    .bind(r.expires_at)
    .bind(&r.model)
    .bind(&r.response)
    .bind(&r.input_items)
    .execute(pool)
    .await?;
    Ok(())
}

/// The tenant's response `id`, unless it has expired.
pub async fn get(
    pool: &PgPool,
    tenant_id: Uuid,
    id: &str,
) -> Result<Option<StoredResponse>, StoreError> {
    Ok(sqlx::query_as::<_, StoredResponse>(
        "SELECT tenant_id, id, request_id, created_at, expires_at, model, response, input_items \
         FROM stored_responses WHERE tenant_id = $1 AND id = $2 AND expires_at > now()",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Deletes the tenant's response `id`; whether there was one.
pub async fn delete(pool: &PgPool, tenant_id: Uuid, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM stored_responses WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes every expired response; how many.
pub async fn purge_expired(pool: &PgPool) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM stored_responses WHERE expires_at <= now()")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

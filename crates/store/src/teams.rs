//! Teams: groups of keys inside one tenant, for spend reports and budgets.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;
use crate::text::pg_text;

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Team {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Create a team in `tenant_id`. An unknown tenant is [`StoreError::NotFound`], a name already
/// used in the tenant [`StoreError::AlreadyExists`].
pub async fn create(pool: &PgPool, tenant_id: Uuid, name: &str) -> Result<Team, StoreError> {
    let team = sqlx::query_as::<_, Team>(
        "INSERT INTO teams (id, tenant_id, name) VALUES ($1, $2, $3) \
         RETURNING id, tenant_id, name, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(pg_text(name).as_ref())
    .fetch_one(pool)
    .await?;
    Ok(team)
}

/// The tenant's teams, by name.
pub async fn list(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<Team>, StoreError> {
    let teams = sqlx::query_as::<_, Team>(
        "SELECT id, tenant_id, name, created_at FROM teams WHERE tenant_id = $1 ORDER BY name",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    Ok(teams)
}

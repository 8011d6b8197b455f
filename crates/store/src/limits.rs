//! Limits: requests per minute, tokens per minute and concurrent requests for one key, user,
//! team or tenant, either for all its models or for one model (a counter of its own). Each
//! number is optional: `None` falls back to the configured default for the scope, `0` means
//! unlimited. The edge loads every row into its snapshot; changes reach it by NOTIFY.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;
use crate::text::pg_text;

/// What a limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitScope {
    Key,
    User,
    Team,
    Tenant,
}

impl LimitScope {
    pub const fn as_str(self) -> &'static str {
        match self {
            LimitScope::Key => "key",
            LimitScope::User => "user",
            LimitScope::Team => "team",
            LimitScope::Tenant => "tenant",
        }
    }

    pub fn parse(s: &str) -> Option<LimitScope> {
        match s {
            "key" => Some(LimitScope::Key),
            "user" => Some(LimitScope::User),
            "team" => Some(LimitScope::Team),
            "tenant" => Some(LimitScope::Tenant),
            _ => None,
        }
    }
}

/// One stored limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub scope: LimitScope,
    pub scope_id: String,
    /// `None` = every model of the scope.
    pub model: Option<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub concurrency: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A limit to set (insert or replace the row of the same scope and model).
#[derive(Clone, Copy, Debug)]
pub struct SetLimit<'a> {
    pub tenant_id: Uuid,
    pub scope: LimitScope,
    pub scope_id: &'a str,
    pub model: Option<&'a str>,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub concurrency: Option<u32>,
}

#[derive(sqlx::FromRow)]
struct Record {
    id: Uuid,
    tenant_id: Uuid,
    scope_kind: String,
    scope_id: String,
    model: Option<String>,
    rpm: Option<i32>,
    tpm: Option<i32>,
    concurrency: Option<i32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn unsigned(v: Option<i32>) -> Option<u32> {
    // The schema keeps every value >= 0.
    v.map(|v| u32::try_from(v).unwrap_or(0))
}

impl From<Record> for Limit {
    fn from(r: Record) -> Self {
        Limit {
            id: r.id,
            tenant_id: r.tenant_id,
            // The schema's CHECK admits only the four kinds.
            scope: LimitScope::parse(&r.scope_kind).unwrap_or(LimitScope::Tenant),
            scope_id: r.scope_id,
            model: r.model,
            rpm: unsigned(r.rpm),
            tpm: unsigned(r.tpm),
            concurrency: unsigned(r.concurrency),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str =
    "id, tenant_id, scope_kind, scope_id, model, rpm, tpm, concurrency, created_at, updated_at";

fn signed(field: &'static str, v: Option<u32>) -> Result<Option<i32>, StoreError> {
    v.map(|v| {
        i32::try_from(v).map_err(|_| StoreError::Invalid {
            field,
            message: "must be at most 2147483647",
        })
    })
    .transpose()
}

/// Whether the scope exists in the tenant (a limit for a missing team would silently never
/// apply; a limit for another tenant's key must not exist at all).
async fn scope_exists(
    pool: &PgPool,
    tenant_id: Uuid,
    scope: LimitScope,
    id: &str,
) -> Result<bool, StoreError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT CASE $2::text \
           WHEN 'tenant' THEN $1::uuid::text = $3 AND EXISTS (SELECT 1 FROM tenants WHERE id = $1) \
           WHEN 'team' THEN EXISTS (SELECT 1 FROM teams WHERE tenant_id = $1 AND id::text = $3) \
           WHEN 'user' THEN EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id::text = $3) \
           ELSE EXISTS (SELECT 1 FROM api_keys WHERE tenant_id = $1 AND key_id = $3) \
         END",
    )
    .bind(tenant_id)
    .bind(scope.as_str())
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(exists)
}

/// Set the limit of one scope (and model): the row is created, or replaced whole. A scope that
/// is not the tenant's is [`StoreError::NotFound`] naming the scope kind.
pub async fn set(pool: &PgPool, l: &SetLimit<'_>) -> Result<Limit, StoreError> {
    let scope_id = pg_text(l.scope_id);
    if !scope_exists(pool, l.tenant_id, l.scope, &scope_id).await? {
        return Err(StoreError::NotFound {
            what: l.scope.as_str(),
        });
    }
    let sql = format!(
        "INSERT INTO limits (id, tenant_id, scope_kind, scope_id, model, rpm, tpm, concurrency) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT ON CONSTRAINT limits_scope_key DO UPDATE SET \
           rpm = EXCLUDED.rpm, tpm = EXCLUDED.tpm, concurrency = EXCLUDED.concurrency, \
           updated_at = now() \
         RETURNING {COLUMNS}"
    );
    let rec = sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::now_v7())
        .bind(l.tenant_id)
        .bind(l.scope.as_str())
        .bind(scope_id.as_ref())
        .bind(l.model.map(pg_text))
        .bind(signed("rpm", l.rpm)?)
        .bind(signed("tpm", l.tpm)?)
        .bind(signed("concurrency", l.concurrency)?)
        .fetch_one(pool)
        .await?;
    Ok(rec.into())
}

/// The tenant's limits, by scope, scope id and model (all-models rows first).
pub async fn list(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<Limit>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM limits WHERE tenant_id = $1 \
         ORDER BY scope_kind, scope_id, model NULLS FIRST"
    );
    let recs = sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .fetch_all(pool)
        .await?;
    Ok(recs.into_iter().map(Limit::from).collect())
}

/// Delete one limit of `tenant_id` (another tenant's is NotFound); the scope falls back to the
/// configured defaults.
pub async fn delete(pool: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Limit, StoreError> {
    let sql = format!("DELETE FROM limits WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}");
    sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .map(Limit::from)
        .ok_or(StoreError::NotFound { what: "limit" })
}

/// Every limit of every tenant, for the edge's snapshot.
pub async fn snapshot(pool: &PgPool) -> Result<Vec<Limit>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM limits ORDER BY id");
    let recs = sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    Ok(recs.into_iter().map(Limit::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team_limit<'a>(tenant_id: Uuid, team: &'a str, model: Option<&'static str>) -> SetLimit<'a> {
        SetLimit {
            tenant_id,
            scope: LimitScope::Team,
            scope_id: team,
            model,
            rpm: Some(10),
            tpm: None,
            concurrency: Some(0),
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn setting_twice_replaces_and_models_have_rows_of_their_own(pool: PgPool) {
        let acme = crate::tenants::create(&pool, "acme", false)
            .await
            .unwrap()
            .id;
        let team = crate::teams::create(&pool, acme, "blue")
            .await
            .unwrap()
            .id
            .to_string();
        let first = set(&pool, &team_limit(acme, &team, None)).await.unwrap();
        let second = set(
            &pool,
            &SetLimit {
                rpm: Some(20),
                ..team_limit(acme, &team, None)
            },
        )
        .await
        .unwrap();
        assert_eq!(first.id, second.id);
        assert_eq!(
            (second.rpm, second.tpm, second.concurrency),
            (Some(20), None, Some(0))
        );
        let per_model = set(&pool, &team_limit(acme, &team, Some("mock")))
            .await
            .unwrap();
        assert_ne!(per_model.id, first.id);
        let all = list(&pool, acme).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].model, None);
        assert_eq!(all[1].model.as_deref(), Some("mock"));
        assert_eq!(snapshot(&pool).await.unwrap().len(), 2);
        delete(&pool, acme, per_model.id).await.unwrap();
        assert!(matches!(
            delete(&pool, acme, per_model.id).await.unwrap_err(),
            StoreError::NotFound { what: "limit" }
        ));
        assert_eq!(list(&pool, acme).await.unwrap().len(), 1);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn limits_only_name_scopes_of_the_tenant(pool: PgPool) {
        let acme = crate::tenants::create(&pool, "acme", false)
            .await
            .unwrap()
            .id;
        let other = crate::tenants::create(&pool, "other", false)
            .await
            .unwrap()
            .id;
        let theirs = crate::teams::create(&pool, other, "red")
            .await
            .unwrap()
            .id
            .to_string();
        let e = set(&pool, &team_limit(acme, &theirs, None))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound { what: "team" }), "{e:?}");
        fn tenant_scope(acme: Uuid, id: &str) -> SetLimit<'_> {
            SetLimit {
                tenant_id: acme,
                scope: LimitScope::Tenant,
                scope_id: id,
                model: None,
                rpm: Some(1),
                tpm: None,
                concurrency: None,
            }
        }
        let other_s = other.to_string();
        assert!(set(&pool, &tenant_scope(acme, &other_s)).await.is_err());
        let acme_s = acme.to_string();
        set(&pool, &tenant_scope(acme, &acme_s)).await.unwrap();
        // Another tenant cannot delete it.
        let mine = list(&pool, acme).await.unwrap();
        assert!(delete(&pool, other, mine[0].id).await.is_err());
    }
}

//! Users: people (or services) inside one tenant, optionally in one of its teams. Keys may be
//! issued to a user; JWT callers are matched to a user by `external_id`. Disabling a user stops
//! its keys on every edge (the key snapshot leaves them out) without revoking them one by one.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::StoreError;
use crate::text::pg_text;

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub team_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A user to create. At least one of `external_id` and `email` is required; each is unique in
/// the tenant.
#[derive(Clone, Copy, Debug)]
pub struct NewUser<'a> {
    pub tenant_id: Uuid,
    pub team_id: Option<Uuid>,
    pub external_id: Option<&'a str>,
    pub email: Option<&'a str>,
    pub name: &'a str,
}

const COLUMNS: &str = "id, tenant_id, team_id, external_id, email, name, created_at, disabled_at";

/// The constraints of `users` (and `api_keys_user_fkey`) as typed errors. The crate-wide
/// mapping knows the older tables; these are named here, next to the SQL that can hit them.
pub(crate) fn constraint_error(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        match db.constraint().unwrap_or_default() {
            "users_pkey" | "users_external_id_key" | "users_email_key" => {
                return StoreError::AlreadyExists { what: "user" };
            }
            "api_keys_user_fkey" => return StoreError::NotFound { what: "user" },
            "users_tenant_fkey" => return StoreError::NotFound { what: "tenant" },
            "users_team_fkey" => return StoreError::NotFound { what: "team" },
            "users_identity_check" => {
                return StoreError::Invalid {
                    field: "external_id",
                    message: "give an external_id or an email",
                };
            }
            _ => {}
        }
    }
    StoreError::from(e)
}

fn blank_to_none(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Create a user. An unknown tenant, or a team that is not the tenant's, is
/// [`StoreError::NotFound`]; a taken `external_id` or `email` is [`StoreError::AlreadyExists`].
pub async fn create(pool: &PgPool, u: &NewUser<'_>) -> Result<User, StoreError> {
    let sql = format!(
        "INSERT INTO users (id, tenant_id, team_id, external_id, email, name) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    );
    sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::now_v7())
        .bind(u.tenant_id)
        .bind(u.team_id)
        .bind(blank_to_none(u.external_id).map(pg_text))
        .bind(blank_to_none(u.email).map(pg_text))
        .bind(pg_text(u.name.trim()).as_ref())
        .fetch_one(pool)
        .await
        .map_err(constraint_error)
}

/// The tenant's users, disabled ones included, oldest first.
pub async fn list(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY created_at, id");
    Ok(sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .fetch_all(pool)
        .await?)
}

/// One user of `tenant_id`; another tenant's, like a missing one, is [`StoreError::NotFound`].
pub async fn get(pool: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<User, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2");
    sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::NotFound { what: "user" })
}

/// Disable a user (idempotent: the first time is kept). Its keys stop working with the next
/// snapshot reload, which this change itself triggers.
pub async fn disable(pool: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<User, StoreError> {
    let sql = format!(
        "UPDATE users SET disabled_at = COALESCE(disabled_at, now()) \
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::NotFound { what: "user" })
}

/// What an edge needs to map a JWT caller's user claim to a user.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SnapshotUser {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub team_id: Option<Uuid>,
    pub external_id: String,
    pub disabled: bool,
}

/// Every user with an `external_id` (the only ones a JWT can name).
pub async fn snapshot(pool: &PgPool) -> Result<Vec<SnapshotUser>, StoreError> {
    Ok(sqlx::query_as::<_, SnapshotUser>(
        "SELECT id, tenant_id, team_id, external_id, disabled_at IS NOT NULL AS disabled \
         FROM users WHERE external_id IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn tenant(pool: &PgPool, name: &str) -> Uuid {
        crate::tenants::create(pool, name, false).await.unwrap().id
    }

    fn new(tenant_id: Uuid, external_id: &str) -> NewUser<'_> {
        NewUser {
            tenant_id,
            team_id: None,
            external_id: Some(external_id),
            email: None,
            name: "Ada",
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn users_are_unique_per_tenant_and_invisible_to_other_tenants(pool: PgPool) {
        let acme = tenant(&pool, "acme").await;
        let other = tenant(&pool, "other").await;
        let u = create(&pool, &new(acme, "ada")).await.unwrap();
        assert_eq!(u.external_id.as_deref(), Some("ada"));
        assert!(u.disabled_at.is_none());
        // Same external id in another tenant is fine; twice in one tenant is not.
        create(&pool, &new(other, "ada")).await.unwrap();
        let dup = create(&pool, &new(acme, "ada")).await.unwrap_err();
        assert!(
            matches!(dup, StoreError::AlreadyExists { what: "user" }),
            "{dup:?}"
        );
        let none = create(
            &pool,
            &NewUser {
                external_id: Some("  "),
                ..new(acme, "")
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(none, StoreError::Invalid { .. }), "{none:?}");
        assert!(matches!(
            get(&pool, other, u.id).await.unwrap_err(),
            StoreError::NotFound { what: "user" }
        ));
        assert_eq!(list(&pool, acme).await.unwrap(), vec![u.clone()]);
        let d = disable(&pool, acme, u.id).await.unwrap();
        let again = disable(&pool, acme, u.id).await.unwrap();
        assert_eq!(d.disabled_at, again.disabled_at);
        assert!(d.disabled_at.is_some());
        let snap = snapshot(&pool).await.unwrap();
        assert!(snap.iter().any(|s| s.id == u.id && s.disabled));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_users_team_must_be_of_its_tenant(pool: PgPool) {
        let acme = tenant(&pool, "acme").await;
        let other = tenant(&pool, "other").await;
        let team = crate::teams::create(&pool, other, "blue").await.unwrap();
        let e = create(
            &pool,
            &NewUser {
                team_id: Some(team.id),
                ..new(acme, "bob")
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::NotFound { what: "team" }), "{e:?}");
    }
}

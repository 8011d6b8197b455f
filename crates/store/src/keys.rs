//! API keys: created by billing's admin RPCs, read by every edge replica as an in-memory
//! snapshot that is reloaded whenever Postgres notifies a change.
//!
//! Only the keyed hash of a key is stored; the secret exists once, in the creation answer.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::StoreError;
use crate::text::pg_text;

/// The channel the `api_keys` and `tenants` triggers notify (see `migrations/`).
pub const CHANNEL: &str = "tollgate_keys";

/// A key to store. `key_hash` is the hex HMAC from `tollgate_domain::KeyHasher`.
#[derive(Clone, Copy, Debug)]
pub struct NewKey<'a> {
    pub key_id: &'a str,
    pub key_hash: &'a str,
    pub tenant_id: Uuid,
    pub team_id: Option<Uuid>,
    pub name: &'a str,
    /// 0 = the configured default.
    pub rpm_limit: u32,
    /// 0 = the configured default.
    pub concurrency_limit: u32,
}

/// A stored key as the admin API shows it (never its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    pub key_id: String,
    pub tenant_id: Uuid,
    pub team_id: Option<Uuid>,
    pub name: String,
    pub rpm_limit: u32,
    pub concurrency_limit: u32,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct KeyRecord {
    key_id: String,
    tenant_id: Uuid,
    team_id: Option<Uuid>,
    name: String,
    rpm_limit: i32,
    concurrency_limit: i32,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<KeyRecord> for KeyRow {
    fn from(r: KeyRecord) -> Self {
        KeyRow {
            key_id: r.key_id,
            tenant_id: r.tenant_id,
            team_id: r.team_id,
            name: r.name,
            // The schema keeps both limits >= 0.
            rpm_limit: u32::try_from(r.rpm_limit).unwrap_or(0),
            concurrency_limit: u32::try_from(r.concurrency_limit).unwrap_or(0),
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        }
    }
}

fn limit(field: &'static str, v: u32) -> Result<i32, StoreError> {
    i32::try_from(v).map_err(|_| StoreError::Invalid {
        field,
        message: "must be at most 2147483647",
    })
}

/// Store a new key. An unknown tenant, or a team that is not the tenant's, is
/// [`StoreError::NotFound`]; a reused `key_id` is [`StoreError::AlreadyExists`].
pub async fn create(pool: &PgPool, key: &NewKey<'_>) -> Result<KeyRow, StoreError> {
    let rec = sqlx::query_as::<_, KeyRecord>(
        "INSERT INTO api_keys \
           (key_id, tenant_id, team_id, name, key_hash, rpm_limit, concurrency_limit) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING key_id, tenant_id, team_id, name, rpm_limit, concurrency_limit, \
                   revoked_at, created_at",
    )
    .bind(key.key_id)
    .bind(key.tenant_id)
    .bind(key.team_id)
    .bind(pg_text(key.name).as_ref())
    .bind(key.key_hash)
    .bind(limit("rpm_limit", key.rpm_limit)?)
    .bind(limit("concurrency_limit", key.concurrency_limit)?)
    .fetch_one(pool)
    .await?;
    Ok(rec.into())
}

/// The tenant's keys, revoked ones included, newest first.
pub async fn list(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<KeyRow>, StoreError> {
    let recs = sqlx::query_as::<_, KeyRecord>(
        "SELECT key_id, tenant_id, team_id, name, rpm_limit, concurrency_limit, revoked_at, \
                created_at \
         FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, key_id",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    Ok(recs.into_iter().map(KeyRow::from).collect())
}

/// Revoke a key of `tenant_id`. Idempotent (the first revocation time is kept). Another
/// tenant's key, like a missing one, is [`StoreError::NotFound`].
pub async fn revoke(pool: &PgPool, tenant_id: Uuid, key_id: &str) -> Result<KeyRow, StoreError> {
    sqlx::query_as::<_, KeyRecord>(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) \
         WHERE tenant_id = $1 AND key_id = $2 \
         RETURNING key_id, tenant_id, team_id, name, rpm_limit, concurrency_limit, \
                   revoked_at, created_at",
    )
    .bind(tenant_id)
    .bind(pg_text(key_id).as_ref())
    .fetch_optional(pool)
    .await?
    .map(KeyRow::from)
    .ok_or(StoreError::NotFound { what: "key" })
}

/// What an edge replica needs to authenticate a key from memory.
#[derive(Clone, PartialEq, Eq)]
pub struct SnapshotKey {
    pub key_id: String,
    pub key_hash: String,
    pub tenant_id: Uuid,
    pub team_id: Option<Uuid>,
    pub name: String,
    pub rpm_limit: u32,
    pub concurrency_limit: u32,
    /// The tenant's content-logging setting.
    pub log_content: bool,
}

// The hash is not a secret in itself, but there is no reason to print it either.
impl std::fmt::Debug for SnapshotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotKey")
            .field("key_id", &self.key_id)
            .field("tenant_id", &self.tenant_id)
            .field("team_id", &self.team_id)
            .field("name", &self.name)
            .field("rpm_limit", &self.rpm_limit)
            .field("concurrency_limit", &self.concurrency_limit)
            .field("log_content", &self.log_content)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct SnapshotRecord {
    key_id: String,
    key_hash: String,
    tenant_id: Uuid,
    team_id: Option<Uuid>,
    name: String,
    rpm_limit: i32,
    concurrency_limit: i32,
    log_content: bool,
}

/// Every key that is not revoked, of every tenant, with its tenant's `log_content`.
pub async fn snapshot(pool: &PgPool) -> Result<Vec<SnapshotKey>, StoreError> {
    let recs = sqlx::query_as::<_, SnapshotRecord>(
        "SELECT k.key_id, k.key_hash, k.tenant_id, k.team_id, k.name, k.rpm_limit, \
                k.concurrency_limit, t.log_content \
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
         WHERE k.revoked_at IS NULL \
         ORDER BY k.key_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(recs
        .into_iter()
        .map(|r| SnapshotKey {
            key_id: r.key_id,
            key_hash: r.key_hash,
            tenant_id: r.tenant_id,
            team_id: r.team_id,
            name: r.name,
            rpm_limit: u32::try_from(r.rpm_limit).unwrap_or(0),
            concurrency_limit: u32::try_from(r.concurrency_limit).unwrap_or(0),
            log_content: r.log_content,
        })
        .collect())
}

/// A subscription to key and tenant changes (Postgres `LISTEN tollgate_keys`). Holds one of
/// the pool's connections for as long as it lives.
///
/// Every `recv` means "reload the snapshot": either a change was notified, or the listening
/// connection was lost and re-established, in which case notifications may have been missed.
pub struct KeyChanges(PgListener);

impl KeyChanges {
    pub async fn listen(pool: &PgPool) -> Result<Self, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(KeyChanges(listener))
    }

    /// Wait for the next reason to reload. Returns an error only when Postgres cannot be
    /// reached; calling again retries the connection.
    pub async fn recv(&mut self) -> Result<(), StoreError> {
        // `None`: the connection dropped; it reconnects (and re-LISTENs) on the next call.
        // Anything may have changed meanwhile, so that too is a reason to reload.
        self.0.try_recv().await?;
        // Coalesce a burst (a bulk revoke) into one reload.
        while self.0.next_buffered().is_some() {}
        Ok(())
    }
}

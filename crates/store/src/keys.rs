//! API keys: created by billing's admin RPCs, read by every edge replica as an in-memory
//! snapshot that is reloaded whenever Postgres notifies a change.
//!
//! Only the keyed hash of a key is stored; the secret exists once, in the creation answer.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;
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
    /// `None` = never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Public model names or aliases; empty = every model.
    pub allowed_models: &'a [String],
    pub metadata: &'a BTreeMap<String, String>,
}

/// A stored key as the admin API shows it (never its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    pub key_id: String,
    pub tenant_id: Uuid,
    pub team_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub name: String,
    pub rpm_limit: u32,
    pub concurrency_limit: u32,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub allowed_models: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// The key this one replaced by rotation.
    pub rotated_from: Option<String>,
}

/// The columns a [`KeyRecord`] reads, for every statement that returns a key (a macro so the
/// statements stay `&'static str`).
macro_rules! key_columns {
    () => {
        "key_id, tenant_id, team_id, name, rpm_limit, concurrency_limit, revoked_at, \
         created_at, expires_at, allowed_models, metadata, rotated_from, user_id"
    };
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
    expires_at: Option<DateTime<Utc>>,
    allowed_models: Vec<String>,
    metadata: Json<BTreeMap<String, String>>,
    rotated_from: Option<String>,
    user_id: Option<Uuid>,
}

impl From<KeyRecord> for KeyRow {
    fn from(r: KeyRecord) -> Self {
        KeyRow {
            key_id: r.key_id,
            tenant_id: r.tenant_id,
            team_id: r.team_id,
            user_id: r.user_id,
            name: r.name,
            // The schema keeps both limits >= 0.
            rpm_limit: u32::try_from(r.rpm_limit).unwrap_or(0),
            concurrency_limit: u32::try_from(r.concurrency_limit).unwrap_or(0),
            revoked_at: r.revoked_at,
            created_at: r.created_at,
            expires_at: r.expires_at,
            allowed_models: r.allowed_models,
            metadata: r.metadata.0,
            rotated_from: r.rotated_from,
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
    insert(pool, key, None, None).await
}

/// [`create`] for a key issued to `user_id` (a user of the key's tenant; another tenant's, like
/// a missing one, is [`StoreError::NotFound`] naming the user).
pub async fn create_for_user(
    pool: &PgPool,
    key: &NewKey<'_>,
    user_id: Option<Uuid>,
) -> Result<KeyRow, StoreError> {
    insert(pool, key, None, user_id).await
}

async fn insert<'e>(
    db: impl sqlx::PgExecutor<'e>,
    key: &NewKey<'_>,
    rotated_from: Option<&str>,
    user_id: Option<Uuid>,
) -> Result<KeyRow, StoreError> {
    let models: Vec<String> = key
        .allowed_models
        .iter()
        .map(|m| pg_text(m).into_owned())
        .collect();
    let metadata: BTreeMap<String, String> = key
        .metadata
        .iter()
        .map(|(k, v)| (pg_text(k).into_owned(), pg_text(v).into_owned()))
        .collect();
    let rec = sqlx::query_as::<_, KeyRecord>(concat!(
        "INSERT INTO api_keys \
           (key_id, tenant_id, team_id, name, key_hash, rpm_limit, concurrency_limit, \
            expires_at, allowed_models, metadata, rotated_from, user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         RETURNING ",
        key_columns!()
    ))
    .bind(key.key_id)
    .bind(key.tenant_id)
    .bind(key.team_id)
    .bind(pg_text(key.name).as_ref())
    .bind(key.key_hash)
    .bind(limit("rpm_limit", key.rpm_limit)?)
    .bind(limit("concurrency_limit", key.concurrency_limit)?)
    .bind(key.expires_at)
    .bind(&models)
    .bind(Json(&metadata))
    .bind(rotated_from)
    .bind(user_id)
    .fetch_one(db)
    .await
    .map_err(crate::users::constraint_error)?;
    Ok(rec.into())
}

/// One key of `tenant_id`, revoked or not. Another tenant's key is [`StoreError::NotFound`].
pub async fn get(pool: &PgPool, tenant_id: Uuid, key_id: &str) -> Result<KeyRow, StoreError> {
    sqlx::query_as::<_, KeyRecord>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys WHERE tenant_id = $1 AND key_id = $2"
    ))
    .bind(tenant_id)
    .bind(pg_text(key_id).as_ref())
    .fetch_optional(pool)
    .await?
    .map(KeyRow::from)
    .ok_or(StoreError::NotFound { what: "key" })
}

/// The new key's identity in a rotation; everything else is copied from the old key.
#[derive(Clone, Copy, Debug)]
pub struct Replacement<'a> {
    pub key_id: &'a str,
    pub key_hash: &'a str,
}

/// Rotate `old_key_id` of `tenant_id`: store a replacement with the same team, name, limits,
/// allowed models and metadata (and no expiry), and bring the old key's expiry forward to
/// `now + overlap` (never later than an expiry it already had). One transaction, so a failure
/// leaves the old key untouched. Returns `(old, new)`.
///
/// Another tenant's key, like a missing one, is [`StoreError::NotFound`]; a revoked key cannot be
/// rotated ([`StoreError::Invalid`]); a reused new `key_id` is [`StoreError::AlreadyExists`].
pub async fn rotate(
    pool: &PgPool,
    tenant_id: Uuid,
    old_key_id: &str,
    new: Replacement<'_>,
    overlap: std::time::Duration,
) -> Result<(KeyRow, KeyRow), StoreError> {
    let overlap_ms = i64::try_from(overlap.as_millis()).map_err(|_| StoreError::Invalid {
        field: "overlap",
        message: "is too long",
    })?;
    let mut tx = pool.begin().await?;
    let old: KeyRow = sqlx::query_as::<_, KeyRecord>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys WHERE tenant_id = $1 AND key_id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(pg_text(old_key_id).as_ref())
    .fetch_optional(&mut *tx)
    .await?
    .map(KeyRow::from)
    .ok_or(StoreError::NotFound { what: "key" })?;
    if old.revoked_at.is_some() {
        return Err(StoreError::Invalid {
            field: "key_id",
            message: "is revoked and cannot be rotated",
        });
    }
    let fresh = insert(
        &mut *tx,
        &NewKey {
            key_id: new.key_id,
            key_hash: new.key_hash,
            tenant_id,
            team_id: old.team_id,
            name: &old.name,
            rpm_limit: old.rpm_limit,
            concurrency_limit: old.concurrency_limit,
            expires_at: None,
            allowed_models: &old.allowed_models,
            metadata: &old.metadata,
        },
        Some(&old.key_id),
        old.user_id,
    )
    .await?;
    let old = sqlx::query_as::<_, KeyRecord>(concat!(
        "UPDATE api_keys \
         SET expires_at = LEAST(expires_at, now() + make_interval(secs => $3::float8 / 1000)) \
         WHERE tenant_id = $1 AND key_id = $2 \
         RETURNING ",
        key_columns!()
    ))
    .bind(tenant_id)
    .bind(&old.key_id)
    .bind(overlap_ms)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((old.into(), fresh))
}

/// The tenant's keys, revoked ones included, newest first.
pub async fn list(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<KeyRow>, StoreError> {
    let recs = sqlx::query_as::<_, KeyRecord>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys WHERE tenant_id = $1 \
         ORDER BY created_at DESC, key_id"
    ))
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    Ok(recs.into_iter().map(KeyRow::from).collect())
}

/// Revoke a key of `tenant_id`. Idempotent (the first revocation time is kept). Another
/// tenant's key, like a missing one, is [`StoreError::NotFound`].
pub async fn revoke(pool: &PgPool, tenant_id: Uuid, key_id: &str) -> Result<KeyRow, StoreError> {
    sqlx::query_as::<_, KeyRecord>(concat!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) \
         WHERE tenant_id = $1 AND key_id = $2 \
         RETURNING ",
        key_columns!()
    ))
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
    /// The key's user; the edge bills and limits the key's requests under it.
    pub user_id: Option<Uuid>,
    pub name: String,
    pub rpm_limit: u32,
    pub concurrency_limit: u32,
    /// The tenant's content-logging setting.
    pub log_content: bool,
    /// `None` = never expires. The edge checks it against its clock on every request.
    pub expires_at: Option<DateTime<Utc>>,
    /// Public model names or aliases; empty = every model.
    pub allowed_models: Vec<String>,
}

// The hash is not a secret in itself, but there is no reason to print it either.
impl std::fmt::Debug for SnapshotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotKey")
            .field("key_id", &self.key_id)
            .field("tenant_id", &self.tenant_id)
            .field("team_id", &self.team_id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("rpm_limit", &self.rpm_limit)
            .field("concurrency_limit", &self.concurrency_limit)
            .field("log_content", &self.log_content)
            .field("expires_at", &self.expires_at)
            .field("allowed_models", &self.allowed_models)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct SnapshotRecord {
    key_id: String,
    key_hash: String,
    tenant_id: Uuid,
    team_id: Option<Uuid>,
    user_id: Option<Uuid>,
    name: String,
    rpm_limit: i32,
    concurrency_limit: i32,
    log_content: bool,
    expires_at: Option<DateTime<Utc>>,
    allowed_models: Vec<String>,
}

/// Every key that is not revoked (nor expired for more than 7 days, nor issued to a disabled
/// user), of every tenant, with its tenant's `log_content`. Recently expired keys stay so their
/// holders are told `expired_api_key` rather than `invalid_api_key`.
pub async fn snapshot(pool: &PgPool) -> Result<Vec<SnapshotKey>, StoreError> {
    let recs = sqlx::query_as::<_, SnapshotRecord>(
        "SELECT k.key_id, k.key_hash, k.tenant_id, k.team_id, k.user_id, k.name, k.rpm_limit, \
                k.concurrency_limit, t.log_content, k.expires_at, k.allowed_models \
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
         LEFT JOIN users u ON u.id = k.user_id \
         WHERE k.revoked_at IS NULL AND u.disabled_at IS NULL \
           AND (k.expires_at IS NULL OR k.expires_at > now() - interval '7 days') \
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
            user_id: r.user_id,
            name: r.name,
            rpm_limit: u32::try_from(r.rpm_limit).unwrap_or(0),
            concurrency_limit: u32::try_from(r.concurrency_limit).unwrap_or(0),
            log_content: r.log_content,
            expires_at: r.expires_at,
            allowed_models: r.allowed_models,
        })
        .collect())
}

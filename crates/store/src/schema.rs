//! Is the database's schema the one this build was made for?
//!
//! Migrations are applied by `tollgatectl migrate` (an init container before each new version
//! serves, compose's one-shot). A service must still not run against a schema it does not
//! understand: an older one (the migration did not run) breaks its queries at the first request
//! that needs a new column; a newer one (a rollback of the binary, or an old pod restarting
//! after an upgrade) may break them too, or worse, write what the new schema no longer means.
//! So each service that uses Postgres compares sqlx's `_sqlx_migrations` table with the
//! migrations embedded at build time ([`crate::MIGRATOR`]) at start and refuses a difference,
//! naming the migration.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::PgPool;

use crate::{MIGRATOR, StoreError};

/// How the database's schema differs from this build's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaMismatch {
    #[error(
        "the database has no Tollgate schema (no _sqlx_migrations table): run `tollgatectl migrate`"
    )]
    NotMigrated,
    #[error(
        "the database schema is older than this build: migration {version} ({description}) is not \
         applied ({pending} pending): run `tollgatectl migrate` from this version"
    )]
    Older {
        version: i64,
        description: String,
        pending: usize,
    },
    #[error(
        "the database schema is newer than this build: migration {version} ({description}) is applied \
         but this build does not know it: run the version that applied it, or a newer one"
    )]
    Newer { version: i64, description: String },
    #[error(
        "migration {version} ({description}) failed part-way and is marked unsuccessful: repair the \
         database, then run `tollgatectl migrate`"
    )]
    Failed { version: i64, description: String },
    #[error(
        "migration {version} ({description}) differs from the one that was applied (checksum): this \
         build and the database disagree on what it did"
    )]
    Modified { version: i64, description: String },
}

/// Compares the applied migrations with the embedded ones; `Ok` only when they are the same
/// set, each applied successfully and unchanged.
pub async fn check_schema(pool: &PgPool) -> Result<(), StoreError> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await?;
    if !exists {
        return Err(SchemaMismatch::NotMigrated.into());
    }
    let applied: Vec<(i64, String, bool, Vec<u8>)> = sqlx::query_as(
        "SELECT version, description, success, checksum FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await?;
    compare(&applied)?;
    Ok(())
}

/// [`check_schema`], waiting while Postgres is unreachable (a service may start before its
/// database): each failed try is logged, then tried again every `retry`.
pub async fn await_schema(pool: &PgPool, retry: Duration) -> Result<(), StoreError> {
    loop {
        match check_schema(pool).await {
            Err(StoreError::Unavailable(e)) => {
                tracing::warn!(error = %e, "Postgres is unreachable; the schema check waits for it");
                tokio::time::sleep(retry).await;
            }
            other => return other,
        }
    }
}

fn compare(applied: &[(i64, String, bool, Vec<u8>)]) -> Result<(), SchemaMismatch> {
    let known: BTreeMap<i64, &sqlx::migrate::Migration> = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| (m.version, m))
        .collect();
    let mut seen = 0;
    for (version, description, success, checksum) in applied {
        let Some(m) = known.get(version) else {
            return Err(SchemaMismatch::Newer {
                version: *version,
                description: description.clone(),
            });
        };
        if !success {
            return Err(SchemaMismatch::Failed {
                version: *version,
                description: description.clone(),
            });
        }
        if m.checksum.as_ref() != checksum.as_slice() {
            return Err(SchemaMismatch::Modified {
                version: *version,
                description: description.clone(),
            });
        }
        seen += 1;
    }
    if let Some(m) = known
        .values()
        .find(|m| !applied.iter().any(|a| a.0 == m.version))
    {
        return Err(SchemaMismatch::Older {
            version: m.version,
            description: m.description.to_string(),
            pending: known.len() - seen,
        });
    }
    Ok(())
}

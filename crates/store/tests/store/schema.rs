//! `check_schema` against a real database: a service must refuse a schema older or newer than
//! the migrations it embeds, and say which migration differs.

use sqlx::PgPool;
use tollgate_store::{MIGRATOR, SchemaMismatch, StoreError, check_schema};

fn mismatch(r: Result<(), StoreError>) -> SchemaMismatch {
    match r {
        Err(StoreError::Schema(m)) => m,
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
}

fn last_migration() -> &'static sqlx::migrate::Migration {
    MIGRATOR.iter().max_by_key(|m| m.version).unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_database_never_migrated_is_refused(pool: PgPool) {
    let m = mismatch(check_schema(&pool).await);
    assert_eq!(m, SchemaMismatch::NotMigrated);
    assert!(m.to_string().contains("tollgatectl migrate"), "{m}");
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn the_schema_of_this_build_is_accepted(pool: PgPool) {
    check_schema(&pool).await.unwrap();
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn a_schema_missing_the_last_migration_is_older(pool: PgPool) {
    let last = last_migration();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(last.version)
        .execute(&pool)
        .await
        .unwrap();
    let m = mismatch(check_schema(&pool).await);
    assert_eq!(
        m,
        SchemaMismatch::Older {
            version: last.version,
            description: last.description.to_string(),
            pending: 1,
        }
    );
    let text = m.to_string();
    assert!(
        text.contains("older") && text.contains(&last.version.to_string()),
        "{text}"
    );
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn a_schema_with_a_migration_this_build_does_not_know_is_newer(pool: PgPool) {
    let future = last_migration().version + 1;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from the future', true, '\\x00'::bytea, 0)",
    )
    .bind(future)
    .execute(&pool)
    .await
    .unwrap();
    let m = mismatch(check_schema(&pool).await);
    assert_eq!(
        m,
        SchemaMismatch::Newer {
            version: future,
            description: "from the future".into(),
        }
    );
    assert!(m.to_string().contains("newer"), "{m}");
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn a_changed_or_failed_migration_is_refused(pool: PgPool) {
    let first = MIGRATOR.iter().min_by_key(|m| m.version).unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea WHERE version = $1")
        .bind(first.version)
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        mismatch(check_schema(&pool).await),
        SchemaMismatch::Modified { version, .. } if version == first.version
    ));
    sqlx::query("UPDATE _sqlx_migrations SET checksum = $2, success = false WHERE version = $1")
        .bind(first.version)
        .bind(first.checksum.as_ref())
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        mismatch(check_schema(&pool).await),
        SchemaMismatch::Failed { version, .. } if version == first.version
    ));
}

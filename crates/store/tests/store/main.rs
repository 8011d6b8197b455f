//! Store tests against a real Postgres: each `#[sqlx::test]` gets a fresh database with the
//! project's migrations applied. `DATABASE_URL` defaults to the local tollgate role (`.env`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod budgets;
mod key_lifecycle;
mod keys;
mod ledger;
mod logs;
mod prices;
mod schema;

use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn migrations_create_every_table(pool: PgPool) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for t in [
        "api_keys",
        "prices",
        "request_logs_default",
        "spend_daily",
        "teams",
        "tenants",
        "usage_ledger",
    ] {
        assert!(tables.iter().any(|x| x == t), "missing {t} in {tables:?}");
    }
    // Running them again is a no-op, as the one-shot migration job does on every deploy.
    tollgate_store::migrate(&pool).await.unwrap();
}

pub async fn tenant(pool: &PgPool, name: &str) -> Uuid {
    tollgate_store::tenants::create(pool, name, false)
        .await
        .unwrap()
        .id
}

//! `tollgatectl migrate` against the real Postgres: a fresh database gets the schema, a second
//! run is a no-op, and a bad URL fails without echoing the password.

// Test helpers outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::{Connection, PgConnection};

#[allow(clippy::disallowed_methods)]
fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://tollgate:tollgate@127.0.0.1:5432/tollgate".into())
}

/// The admin URL with its database swapped for `db`.
fn url_for(db: &str) -> String {
    let base = admin_url();
    let (head, tail) = base.rsplit_once('/').unwrap();
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{head}/{db}{query}")
}

async fn tollgatectl(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgatectl"))
        .env_remove("DATABASE_URL")
        .env_remove("TOLLGATE_CONFIG")
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_creates_the_schema_once() {
    let db = format!("tollgatectl_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
    // DDL takes no bind parameters; `db` is our own uuid-derived name.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
        .execute(&mut admin)
        .await
        .unwrap();

    let url = url_for(&db);
    let first = tollgatectl(&["migrate", "--database-url", &url]).await;
    let second = tollgatectl(&["migrate", "--database-url", &url]).await;

    let mut conn = PgConnection::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{db}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();

    for o in [&first, &second] {
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{stderr}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), "Migrations applied.\n");
    }
    let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    assert_eq!(
        applied, on_disk as i64,
        "every migration applied exactly once"
    );
    assert!(tables > 1, "the schema has tables besides _sqlx_migrations");
}

#[tokio::test]
async fn a_database_that_refuses_us_fails_without_the_password() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("postgres://tollgate:hunter2-secret@127.0.0.1:{port}/tollgate");
    let o = tollgatectl(&["migrate", "--database-url", &url]).await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("migrations failed"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

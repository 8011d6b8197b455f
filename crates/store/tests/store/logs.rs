use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use tollgate_store::logs::{self, LogQuery, LogRow};
use uuid::Uuid;

use crate::tenant;

fn row(tenant_id: Uuid, key: &str, at: DateTime<Utc>) -> LogRow {
    LogRow {
        request_id: Uuid::now_v7(),
        tenant_id,
        team_id: None,
        key_id: key.into(),
        model: "gpt-4o".into(),
        deployment: "mock/gpt-4o".into(),
        provider: "mock".into(),
        http_status: 200,
        error_code: None,
        started_at: at,
        latency_ms: 42,
        ttfb_ms: 7,
        input_tokens: 10,
        output_tokens: 20,
        cost_usd: Some(Decimal::new(123, 9)),
        stream: true,
        request_body: Some("{\"a\":\"b\0c\"}".into()),
        response_body: None,
    }
}

fn partition_of(t: DateTime<Utc>) -> String {
    format!("request_logs_p{}", t.format("%Y%m%d"))
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn partitions_are_made_per_day_and_queries_see_only_their_tenant(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let other = tenant(&pool, "other").await;
    let now = Utc::now();
    let yesterday = now - Duration::days(1);
    let batch = vec![
        row(acme, "k1", now),
        row(acme, "k2", yesterday),
        row(other, "k3", now),
    ];
    assert_eq!(logs::write(&pool, &batch).await.unwrap(), 3);
    // A retried batch writes nothing twice.
    assert_eq!(logs::write(&pool, &batch).await.unwrap(), 0);

    let parts = logs::partitions(&pool).await.unwrap();
    assert!(parts.contains(&partition_of(now)), "{parts:?}");
    assert!(parts.contains(&partition_of(yesterday)), "{parts:?}");
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM request_logs_default")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(in_default, 0);

    let mine = logs::query(
        &pool,
        &LogQuery {
            tenant_id: acme,
            ..LogQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|r| r.tenant_id == acme));
    // Newest first; NUL made storable.
    assert_eq!(mine[0].key_id, "k1");
    assert_eq!(
        mine[0].request_body.as_deref(),
        Some("{\"a\":\"b\u{FFFD}c\"}")
    );
    assert_eq!(mine[0].cost_usd, Some(Decimal::new(123, 9)));

    let by_key = logs::query(
        &pool,
        &LogQuery {
            tenant_id: acme,
            key_id: Some("k2".into()),
            ..LogQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_key.len(), 1);
    // Another tenant's request id finds nothing.
    let theirs = logs::query(
        &pool,
        &LogQuery {
            tenant_id: acme,
            request_id: Some(batch[2].request_id),
            ..LogQuery::default()
        },
    )
    .await
    .unwrap();
    assert!(theirs.is_empty());
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn concurrent_writers_share_one_partition(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let at = Utc::now() - Duration::days(3);
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(
                async move { logs::write(&pool, &[row(acme, &format!("k{i}"), at)]).await },
            )
        })
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap().unwrap(), 1);
    }
    let parts = logs::partitions(&pool).await.unwrap();
    assert_eq!(parts, vec![partition_of(at)]);
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn retention_drops_old_partitions_and_keeps_recent_ones(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let now = Utc::now();
    let old = now - Duration::days(40);
    let far = now - Duration::days(2_000); // outside the partition window: default partition
    logs::write(
        &pool,
        &[
            row(acme, "new", now),
            row(acme, "old", old),
            row(acme, "ancient", far),
        ],
    )
    .await
    .unwrap();
    assert_eq!(logs::partitions(&pool).await.unwrap().len(), 2);

    assert_eq!(logs::drop_older_than(&pool, 30).await.unwrap(), 1);
    assert_eq!(
        logs::partitions(&pool).await.unwrap(),
        vec![partition_of(now)]
    );
    let left = logs::query(
        &pool,
        &LogQuery {
            tenant_id: acme,
            ..LogQuery::default()
        },
    )
    .await
    .unwrap();
    let keys: Vec<&str> = left.iter().map(|r| r.key_id.as_str()).collect();
    assert_eq!(keys, vec!["new"]);
    // Idempotent.
    assert_eq!(logs::drop_older_than(&pool, 30).await.unwrap(), 0);
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn rows_in_the_default_partition_move_when_their_day_gets_a_partition(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let at = Utc::now() - Duration::days(5);
    // As if partition creation had failed for this row: it lands in the default partition.
    sqlx::query(
        "INSERT INTO request_logs (request_id, tenant_id, key_id, model, deployment, provider, \
           http_status, started_at, latency_ms, ttfb_ms, input_tokens, output_tokens, stream) \
         VALUES ($1, $2, 'k', 'm', 'd', 'p', 200, $3, 0, 0, 0, 0, false)",
    )
    .bind(Uuid::now_v7())
    .bind(acme)
    .bind(at)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(logs::write(&pool, &[row(acme, "k2", at)]).await.unwrap(), 1);
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM request_logs_default")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(in_default, 0);
    let in_part: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}",
        partition_of(at)
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(in_part, 2);
}

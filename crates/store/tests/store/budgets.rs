use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use sqlx::PgPool;
use tollgate_domain::{Money, Outcome, Usage};
use tollgate_store::StoreError;
use tollgate_store::budgets::{self, NewBudget};
use tollgate_store::ledger::{self, LedgerEntry};
use uuid::Uuid;

use crate::tenant;

fn row(tenant_id: Uuid, key: &str, at: DateTime<Utc>, picos: i64) -> LedgerEntry {
    LedgerEntry {
        request_id: Uuid::now_v7(),
        tenant_id,
        team_id: None,
        key_id: key.into(),
        user_id: None,
        model: "m".into(),
        deployment: "d".into(),
        provider: "p".into(),
        usage: Usage::default(),
        cost: Money::from_picos(picos),
        price_version: Some(1),
        http_status: 200,
        outcome: Outcome::Completed,
        stream: false,
        reported_by_provider: true,
        started_at: at,
        latency_ms: 1,
    }
}

fn new<'a>(
    tenant_id: Uuid,
    scope: &'a str,
    scope_id: &'a str,
    period: &'a str,
    tz: &'a str,
) -> NewBudget<'a> {
    NewBudget {
        tenant_id,
        scope,
        scope_id,
        period,
        timezone: tz,
        limit_picos: 1_000_000,
        alert_thresholds: &[],
    }
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn a_snapshot_holds_the_current_period_and_its_spend_only(pool: PgPool) {
    let t = tenant(&pool, "budgeted").await;
    let now = Utc::now();
    // Spend: two rows now for key k1, one for k2, one far in the past (outside every period).
    ledger::record(
        &pool,
        &[
            row(t, "k1", now, 300),
            row(t, "k1", now, 200),
            row(t, "k2", now, 7),
            row(t, "k1", now - Duration::days(400), 99_999),
        ],
    )
    .await
    .unwrap();
    budgets::create(&pool, &new(t, "key", "k1", "month", "UTC"))
        .await
        .unwrap();
    budgets::create(
        &pool,
        &new(t, "tenant", &t.to_string(), "day", "Asia/Tokyo"),
    )
    .await
    .unwrap();

    let snap = budgets::snapshot(&pool).await.unwrap();
    assert_eq!(snap.len(), 2);
    let key = snap.iter().find(|b| b.scope == "key").unwrap();
    assert_eq!(key.spent_picos, 500, "only k1's rows in this month");
    assert_eq!(key.period_start.day(), 1);
    assert_eq!(key.period_start.hour(), 0);
    assert!(key.period_start <= now && now < key.period_end);
    let tenant_day = snap.iter().find(|b| b.scope == "tenant").unwrap();
    assert_eq!(tenant_day.spent_picos, 507, "every key of the tenant today");
    // Tokyo midnight is 15:00 UTC the day before.
    assert_eq!(tenant_day.period_start.hour(), 15);
    assert_eq!(
        tenant_day.period_end - tenant_day.period_start,
        Duration::days(1)
    );
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn bad_budgets_are_refused_with_the_field(pool: PgPool) {
    let t = tenant(&pool, "strict").await;
    let e = budgets::create(&pool, &new(t, "key", "k", "month", "Mars/Olympus"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Invalid {
                field: "timezone",
                ..
            }
        ),
        "{e:?}"
    );
    let e = budgets::create(&pool, &new(t, "key", "k", "fortnight", "UTC"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Invalid {
                field: "period",
                ..
            }
        ),
        "{e:?}"
    );
    budgets::create(&pool, &new(t, "key", "k", "day", "UTC"))
        .await
        .unwrap();
    let e = budgets::create(&pool, &new(t, "key", "k", "day", "UTC"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::AlreadyExists { what: "budget" }),
        "{e:?}"
    );
    let other = tenant(&pool, "other").await;
    let b = &budgets::list(&pool, t).await.unwrap()[0];
    assert!(matches!(
        budgets::delete(&pool, other, b.id).await,
        Err(StoreError::NotFound { .. })
    ));
    budgets::delete(&pool, t, b.id).await.unwrap();
    assert!(budgets::list(&pool, t).await.unwrap().is_empty());
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn a_soft_limit_alert_is_claimed_once_per_threshold_and_period(pool: PgPool) {
    let t = tenant(&pool, "alerted").await;
    let b = budgets::create(
        &pool,
        &NewBudget {
            alert_thresholds: &[0.5, 0.8, 1.0],
            ..new(t, "key", "k1", "month", "UTC")
        },
    )
    .await
    .unwrap();
    assert_eq!(b.alert_thresholds, [0.5, 0.8, 1.0]);
    // Nothing spent: nothing due.
    assert!(budgets::claim_alerts(&pool).await.unwrap().is_empty());

    // 85% of the 1_000_000-pico limit: 0.5 and 0.8 are due, 1.0 is not.
    ledger::record(
        &pool,
        &[
            row(t, "k1", Utc::now(), 850_000),
            row(t, "k2", Utc::now(), 900_000),
        ],
    )
    .await
    .unwrap();
    let claims = (0..4).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move { budgets::claim_alerts(&pool).await.unwrap() })
    });
    let mut won = Vec::new();
    for c in claims {
        won.extend(c.await.unwrap());
    }
    let mut thresholds: Vec<f64> = won.iter().map(|a| a.threshold).collect();
    thresholds.sort_by(f64::total_cmp);
    assert_eq!(thresholds, [0.5, 0.8], "each claimed by exactly one caller");
    assert!(
        won.iter()
            .all(|a| a.budget_id == b.id && a.spent_picos == 850_000)
    );
    assert!(budgets::claim_alerts(&pool).await.unwrap().is_empty());

    // Claimed but never delivered (the claiming replica died): claimed again once the claim
    // is stale, by exactly one caller; a delivered alert never is.
    let stale = std::time::Duration::from_secs(600);
    assert!(
        budgets::reclaim_undelivered(&pool, stale)
            .await
            .unwrap()
            .is_empty(),
        "fresh claims are left to their sender"
    );
    sqlx::query("UPDATE budget_alerts SET fired_at = now() - interval '1 hour'")
        .execute(&pool)
        .await
        .unwrap();
    let delivered = won.iter().find(|a| a.threshold == 0.5).unwrap();
    budgets::alert_delivered(&pool, b.id, delivered.period_start, 0.5)
        .await
        .unwrap();
    let again = (0..4).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move { budgets::reclaim_undelivered(&pool, stale).await.unwrap() })
    });
    let mut reclaimed = Vec::new();
    for c in again {
        reclaimed.extend(c.await.unwrap());
    }
    assert_eq!(reclaimed.len(), 1, "{reclaimed:?}");
    let r = &reclaimed[0];
    assert_eq!(
        (r.threshold, r.budget_id, r.spent_picos),
        (0.8, b.id, 850_000)
    );
    let first = won.iter().find(|a| a.threshold == 0.8).unwrap();
    assert_eq!(
        (r.period_start, r.period_end),
        (first.period_start, first.period_end)
    );
    assert_eq!(r.limit_picos, first.limit_picos);
}

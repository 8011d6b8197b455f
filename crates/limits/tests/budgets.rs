//! Budgets against the real Redis: reservations hold under concurrency, settlement replaces the
//! estimate with the real cost, the ledger's figure seeds a missing counter, and with Redis away
//! a budgeted request is refused rather than let through.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::redis_url;

use std::time::Duration;

use tollgate_limits::{
    AdmitRequest, BudgetCheck, Decision, FailureMode, LimitKind, Limiter, LimiterConfig, ScopeKind,
};

async fn limiter(url: String) -> Limiter {
    Limiter::connect(LimiterConfig {
        redis_url: url,
        key_prefix: format!("tgtest-{}", uuid::Uuid::new_v4().simple()),
        timeout: Duration::from_millis(500),
        slot_lease: Duration::from_secs(60),
        failure: FailureMode::Open,
        replicas: 1,
    })
    .await
    .unwrap()
}

fn budget(seed: i64, reserve: i64) -> BudgetCheck<'static> {
    BudgetCheck {
        kind: ScopeKind::Key,
        id: "k1",
        period: 1_795_000_000,
        limit_nanos: 1_000,
        seed_nanos: seed,
        reserve_nanos: reserve,
        resets_in: Duration::from_secs(3600),
    }
}

async fn admit(l: &Limiter, b: BudgetCheck<'static>) -> Decision {
    let rid = uuid::Uuid::now_v7().to_string();
    l.admit(&AdmitRequest {
        tenant_id: "acme",
        request_id: &rid,
        scopes: &[],
        budgets: &[b],
        tokens: 0,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_requests_against_a_budget_that_fits_four_admit_four() {
    let l = limiter(redis_url()).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let l = l.clone();
            tokio::spawn(async move { admit(&l, budget(0, 250)).await })
        })
        .collect();
    let mut admitted = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Decision::Admitted { ticket, .. } => admitted.push(ticket),
            Decision::Limited {
                kind: LimitKind::Budget,
                scope: ScopeKind::Key,
                retry_after,
                budget: Some(0),
                ..
            } => {
                assert_eq!(
                    retry_after,
                    Duration::from_secs(3600),
                    "retry when the period resets"
                );
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((admitted.len(), refused), (4, 16));

    // The four cost less than estimated: settling frees room for more.
    for t in &admitted {
        l.settle(t, Some(100)).await;
    }
    // Spent 400 of 1000: two more reservations of 250 fit, the third does not.
    assert!(matches!(
        admit(&l, budget(0, 250)).await,
        Decision::Admitted { .. }
    ));
    assert!(matches!(
        admit(&l, budget(0, 250)).await,
        Decision::Admitted { .. }
    ));
    assert!(matches!(
        admit(&l, budget(0, 250)).await,
        Decision::Limited {
            kind: LimitKind::Budget,
            ..
        }
    ));
}

#[tokio::test]
async fn the_ledgers_figure_seeds_a_missing_counter() {
    let l = limiter(redis_url()).await;
    // The ledger already holds 900 of 1000 for this period.
    assert!(matches!(
        admit(&l, budget(900, 200)).await,
        Decision::Limited {
            kind: LimitKind::Budget,
            ..
        }
    ));
    assert!(matches!(
        admit(&l, budget(900, 100)).await,
        Decision::Admitted { .. }
    ));
    // Once the counter exists, a (stale) seed does not reset it.
    assert!(matches!(
        admit(&l, budget(0, 1)).await,
        Decision::Limited {
            kind: LimitKind::Budget,
            ..
        }
    ));
}

#[tokio::test]
async fn a_cost_above_the_estimate_is_charged_in_full() {
    let l = limiter(redis_url()).await;
    let Decision::Admitted { ticket, .. } = admit(&l, budget(0, 100)).await else {
        panic!("first request fits")
    };
    assert!(ticket.holds_budget());
    l.settle(&ticket, Some(950)).await;
    // 950 spent: a 100 reservation no longer fits.
    assert!(matches!(
        admit(&l, budget(0, 100)).await,
        Decision::Limited {
            kind: LimitKind::Budget,
            ..
        }
    ));
}

#[tokio::test]
async fn without_redis_budgeted_requests_are_refused_even_when_limits_fail_open() {
    let l = limiter("redis://127.0.0.1:1".into()).await;
    assert!(matches!(
        admit(&l, budget(0, 1)).await,
        Decision::Unavailable { .. }
    ));
}

//! Admission while Redis is unreachable (nothing listens on 127.0.0.1:1), and configuration
//! refused at connect.

// A test binary: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::{DOWN_URL, admit, conc, config, key, prefix, rid};

use std::time::Duration;

use tollgate_limits::{Decision, FailureMode, LimitKind, Limiter};

#[tokio::test]
async fn redis_down_open_admits_this_replicas_share_and_says_degraded() {
    let mut cfg = config(DOWN_URL.into(), &prefix());
    cfg.replicas = 2;
    let l = Limiter::connect(cfg)
        .await
        .expect("connect must not fail when Redis is down");
    assert!(!l.ping().await);
    assert!(l.is_degraded());
    for expected_remaining in (0..5).rev() {
        match admit(&l, &rid(), &key(10)).await {
            Decision::Admitted {
                degraded, headers, ..
            } => {
                assert!(degraded);
                assert_eq!(
                    (headers.limit_requests, headers.remaining_requests),
                    (5, expected_remaining)
                );
            }
            other => panic!("expected degraded admission, got {other:?}"),
        }
    }
    match admit(&l, &rid(), &key(10)).await {
        Decision::Limited {
            kind,
            limit,
            retry_after,
            ..
        } => {
            assert_eq!((kind, limit), (LimitKind::Rpm, 5));
            assert!(retry_after > Duration::from_secs(55));
        }
        other => panic!("local share is 10 / 2 replicas: {other:?}"),
    }
    // Local concurrency slots are released locally, and idempotently.
    let Decision::Admitted { ticket, .. } = admit(&l, "r1", &conc(2)).await else {
        panic!()
    };
    assert!(ticket.is_local());
    assert!(matches!(
        admit(&l, "r2", &conc(2)).await,
        Decision::Limited {
            kind: LimitKind::Concurrency,
            ..
        }
    ));
    l.release(&ticket).await;
    l.release(&ticket).await;
    assert!(matches!(
        admit(&l, "r3", &conc(2)).await,
        Decision::Admitted { .. }
    ));
}

#[tokio::test]
async fn redis_down_closed_is_unavailable() {
    let mut cfg = config(DOWN_URL.into(), &prefix());
    cfg.failure = FailureMode::Closed;
    let l = Limiter::connect(cfg).await.unwrap();
    match admit(&l, &rid(), &key(10)).await {
        Decision::Unavailable { retry_after } => assert!(retry_after > Duration::ZERO),
        other => panic!("closed mode admitted without Redis: {other:?}"),
    }
    // A request with no limits needs no Redis and is admitted whatever the mode.
    assert!(matches!(
        admit(&l, &rid(), &key(0)).await,
        Decision::Admitted {
            degraded: false,
            ..
        }
    ));
}

#[tokio::test]
async fn bad_configuration_is_refused_at_connect() {
    let mut cfg = config(DOWN_URL.into(), "{tg}");
    assert!(Limiter::connect(cfg.clone()).await.is_err());
    cfg.key_prefix = "tg".into();
    cfg.redis_url = "not a url".into();
    let err = Limiter::connect(cfg).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid Redis URL");
}

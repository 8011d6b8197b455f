//! Tokens per minute, team and per-model scopes against the real Redis at REDIS_URL (default
//! redis://127.0.0.1:6379), each test under its own random key prefix; and tpm in the local
//! limiter while Redis is unreachable.

// A test binary: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::{config, prefix, redis_url, rid};

use std::time::Duration;

use redis::AsyncCommands;
use tollgate_limits::{
    AdmitRequest, Decision, LimitKind, Limiter, RateHeaders, Scope, ScopeKind, Ticket,
};

fn scope(kind: ScopeKind, id: &str, rpm: u32, tpm: u32) -> Scope<'_> {
    Scope {
        kind,
        id,
        rpm,
        concurrency: 0,
        tpm,
    }
}

async fn admit(l: &Limiter, scopes: &[Scope<'_>], tokens: u64) -> Decision {
    let request_id = rid();
    l.admit(&AdmitRequest {
        tenant_id: "acme",
        request_id: &request_id,
        scopes,
        budgets: &[],
        tokens,
    })
    .await
}

async fn admitted(l: &Limiter, scopes: &[Scope<'_>], tokens: u64) -> (Ticket, RateHeaders) {
    match admit(l, scopes, tokens).await {
        Decision::Admitted {
            ticket, headers, ..
        } => (ticket, headers),
        other => panic!("expected admission, got {other:?}"),
    }
}

#[tokio::test]
async fn tpm_reserves_refuses_and_settles_to_the_actual_tokens() {
    let l = Limiter::connect(config(redis_url(), &prefix()))
        .await
        .unwrap();
    let key = [scope(ScopeKind::Key, "k1", 0, 1000)];
    let (first, h) = admitted(&l, &key, 400).await;
    assert_eq!((h.limit_tokens, h.remaining_tokens), (1000, 600));
    assert!(h.reset_tokens > Duration::from_secs(55) && h.reset_tokens <= Duration::from_secs(60));
    // No rpm limit: the request headers stay empty.
    assert_eq!(h.limit_requests, 0);
    let (_second, h) = admitted(&l, &key, 400).await;
    assert_eq!(h.remaining_tokens, 200);
    match admit(&l, &key, 400).await {
        Decision::Limited {
            kind,
            scope,
            limit,
            retry_after,
            headers,
            ..
        } => {
            assert_eq!((kind, scope, limit), (LimitKind::Tpm, ScopeKind::Key, 1000));
            assert!(retry_after > Duration::from_secs(55), "{retry_after:?}");
            assert!(retry_after <= Duration::from_secs(60), "{retry_after:?}");
            assert_eq!(
                (headers.limit_tokens, headers.remaining_tokens),
                (1000, 200)
            );
        }
        other => panic!("expected a tpm limit, got {other:?}"),
    }
    // The first request really used 100 tokens: 300 come back, so 400 fit again.
    l.settle_usage(&first, None, Some(100)).await;
    let (_third, h) = admitted(&l, &key, 400).await;
    assert_eq!(h.remaining_tokens, 100);
    // A request that used more than it reserved counts the excess.
    let (fourth, _) = admitted(&l, &[scope(ScopeKind::Key, "k2", 0, 1000)], 100).await;
    l.settle_usage(&fourth, None, Some(700)).await;
    let (_, h) = admitted(&l, &[scope(ScopeKind::Key, "k2", 0, 1000)], 100).await;
    assert_eq!(h.remaining_tokens, 200);
}

#[tokio::test]
async fn returned_tokens_never_take_the_window_below_zero() {
    let p = prefix();
    let l = Limiter::connect(config(redis_url(), &p)).await.unwrap();
    let key = [scope(ScopeKind::Key, "k1", 0, 1000)];
    let (ticket, _) = admitted(&l, &key, 500).await;
    // The window lost its count (expiry, eviction): returning 500 unused tokens must not leave
    // -500 behind, which would let 1500 tokens through this minute.
    let mut raw = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = raw.del(format!("{p}:{{t:acme}}:tpm:key:k1")).await.unwrap();
    l.settle_usage(&ticket, None, Some(0)).await;
    let (_, h) = admitted(&l, &key, 900).await;
    assert_eq!(h.remaining_tokens, 100);
    assert!(matches!(
        admit(&l, &key, 200).await,
        Decision::Limited {
            kind: LimitKind::Tpm,
            ..
        }
    ));
}

#[tokio::test]
async fn a_request_larger_than_the_limit_passes_only_through_an_empty_window() {
    let l = Limiter::connect(config(redis_url(), &prefix()))
        .await
        .unwrap();
    let key = [scope(ScopeKind::Key, "k1", 0, 100)];
    let (_, h) = admitted(&l, &key, 5000).await;
    assert_eq!(h.remaining_tokens, 0);
    assert!(matches!(
        admit(&l, &key, 1).await,
        Decision::Limited {
            kind: LimitKind::Tpm,
            ..
        }
    ));
}

#[tokio::test]
async fn a_team_limit_is_shared_by_the_keys_of_the_team() {
    let l = Limiter::connect(config(redis_url(), &prefix()))
        .await
        .unwrap();
    let via = |key: &'static str| {
        [
            scope(ScopeKind::Key, key, 100, 0),
            scope(ScopeKind::Team, "blue", 3, 0),
        ]
    };
    admitted(&l, &via("k1"), 0).await;
    admitted(&l, &via("k2"), 0).await;
    let (_, h) = admitted(&l, &via("k1"), 0).await;
    // The tightest rpm scope is the team's.
    assert_eq!((h.limit_requests, h.remaining_requests), (3, 0));
    match admit(&l, &via("k2"), 0).await {
        Decision::Limited {
            kind, scope, limit, ..
        } => assert_eq!((kind, scope, limit), (LimitKind::Rpm, ScopeKind::Team, 3)),
        other => panic!("expected the team's limit, got {other:?}"),
    }
    // Another team is untouched.
    admitted(&l, &[scope(ScopeKind::Team, "green", 3, 0)], 0).await;
}

#[tokio::test]
async fn a_per_model_limit_applies_to_that_model_only() {
    let l = Limiter::connect(config(redis_url(), &prefix()))
        .await
        .unwrap();
    let for_model = |model: &'static str| {
        [
            scope(ScopeKind::Key, "k1", 100, 10_000),
            scope(ScopeKind::KeyModel, model, 2, 500),
        ]
    };
    admitted(&l, &for_model("k1/big"), 100).await;
    let (_, h) = admitted(&l, &for_model("k1/big"), 100).await;
    assert_eq!((h.limit_requests, h.remaining_requests), (2, 0));
    assert_eq!((h.limit_tokens, h.remaining_tokens), (500, 300));
    match admit(&l, &for_model("k1/big"), 100).await {
        Decision::Limited { kind, scope, .. } => {
            assert_eq!((kind, scope), (LimitKind::Rpm, ScopeKind::KeyModel));
        }
        other => panic!("expected the model's limit, got {other:?}"),
    }
    let (_, h) = admitted(&l, &for_model("k1/small"), 100).await;
    assert_eq!((h.limit_requests, h.remaining_requests), (2, 1));
    // The key's own window counted all three admitted requests' tokens.
    let (_, h) = admitted(&l, &[scope(ScopeKind::Key, "k1", 100, 10_000)], 100).await;
    assert_eq!(h.remaining_tokens, 10_000 - 400);
}

#[tokio::test]
async fn a_refusal_reserves_no_tokens_anywhere() {
    let l = Limiter::connect(config(redis_url(), &prefix()))
        .await
        .unwrap();
    admitted(&l, &[scope(ScopeKind::Tenant, "acme", 1, 0)], 0).await;
    let both = [
        scope(ScopeKind::Key, "k1", 0, 1000),
        scope(ScopeKind::Tenant, "acme", 1, 0),
    ];
    match admit(&l, &both, 1000).await {
        Decision::Limited { kind, scope, .. } => {
            assert_eq!((kind, scope), (LimitKind::Rpm, ScopeKind::Tenant));
        }
        other => panic!("expected the tenant's limit, got {other:?}"),
    }
    // All 1000 tokens of the key are still there.
    let (_, h) = admitted(&l, &[scope(ScopeKind::Key, "k1", 0, 1000)], 1000).await;
    assert_eq!((h.limit_tokens, h.remaining_tokens), (1000, 0));
    // And a tpm refusal takes no request from an rpm window either.
    let both = [
        scope(ScopeKind::Key, "k1", 0, 1000),
        scope(ScopeKind::Team, "t1", 5, 0),
    ];
    assert!(matches!(
        admit(&l, &both, 10).await,
        Decision::Limited {
            kind: LimitKind::Tpm,
            ..
        }
    ));
    let (_, h) = admitted(&l, &[scope(ScopeKind::Team, "t1", 5, 0)], 0).await;
    assert_eq!(h.remaining_requests, 4);
}

#[tokio::test]
async fn redis_down_the_local_limiter_keeps_this_replicas_share_of_tpm() {
    let mut cfg = config(common::DOWN_URL.into(), &prefix());
    cfg.replicas = 2;
    let l = Limiter::connect(cfg).await.unwrap();
    assert!(l.is_degraded());
    let key = [scope(ScopeKind::Key, "k1", 0, 1000)];
    let first = match admit(&l, &key, 300).await {
        Decision::Admitted {
            ticket,
            headers,
            degraded,
        } => {
            assert!(degraded);
            assert_eq!((headers.limit_tokens, headers.remaining_tokens), (500, 200));
            ticket
        }
        other => panic!("expected degraded admission, got {other:?}"),
    };
    match admit(&l, &key, 300).await {
        Decision::Limited {
            kind,
            limit,
            retry_after,
            ..
        } => {
            assert_eq!((kind, limit), (LimitKind::Tpm, 500));
            assert!(retry_after > Duration::from_secs(55), "{retry_after:?}");
        }
        other => panic!("local share is 1000 / 2 replicas: {other:?}"),
    }
    // Settled to 50 real tokens: 250 come back and 300 fit again.
    l.settle_usage(&first, None, Some(50)).await;
    match admit(&l, &key, 300).await {
        Decision::Admitted { headers, .. } => assert_eq!(headers.remaining_tokens, 150),
        other => panic!("expected admission after settlement, got {other:?}"),
    }
}

#[tokio::test]
async fn settlement_corrects_the_reservations_own_bucket() {
    let p = prefix();
    let l = Limiter::connect(config(redis_url(), &p)).await.unwrap();
    let key = [scope(ScopeKind::Key, "k1", 0, 1000)];
    let (ticket, _) = admitted(&l, &key, 500).await;
    // Even when settlement runs in a later second, the correction joins the reservation, so no
    // negative bucket is left to outlive it and undercount the window.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    l.settle_usage(&ticket, None, Some(120)).await;
    let mut raw = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let fields: std::collections::HashMap<String, i64> = raw
        .hgetall(format!("{p}:{{t:acme}}:tpm:key:k1"))
        .await
        .unwrap();
    let buckets: Vec<i64> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "n" && k.as_str() != "lo")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(buckets, [120]);
    assert_eq!(fields["n"], 120);
}

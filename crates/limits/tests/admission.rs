//! Admission against the real Redis at REDIS_URL (default redis://127.0.0.1:6379), each test
//! under its own random key prefix.

// A test binary: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::{admit, conc, config, key, prefix, redis_url, rid};

use std::time::Duration;

use redis::AsyncCommands;
use tollgate_limits::{Decision, LimitKind, Limiter, Scope, ScopeKind};

async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn rpm_admits_exactly_the_limit_then_limits_with_retry_after() {
    let l = Limiter::connect(config(redis_url(), &prefix()))
        .await
        .unwrap();
    for expected_remaining in (0..10).rev() {
        match admit(&l, &rid(), &key(10)).await {
            Decision::Admitted {
                headers, degraded, ..
            } => {
                assert!(!degraded);
                assert_eq!(headers.limit_requests, 10);
                assert_eq!(headers.remaining_requests, expected_remaining);
                assert!(headers.reset_requests > Duration::ZERO);
                assert!(headers.reset_requests <= Duration::from_secs(60));
            }
            other => panic!("expected admission, got {other:?}"),
        }
    }
    match admit(&l, &rid(), &key(10)).await {
        Decision::Limited {
            kind,
            scope,
            limit,
            retry_after,
            headers,
            budget: None,
        } => {
            assert_eq!((kind, scope, limit), (LimitKind::Rpm, ScopeKind::Key, 10));
            // All ten landed within the last second or two, so they leave the window in ~60 s.
            assert!(retry_after > Duration::from_secs(55), "{retry_after:?}");
            assert!(retry_after <= Duration::from_secs(60), "{retry_after:?}");
            assert_eq!(
                (headers.limit_requests, headers.remaining_requests),
                (10, 0)
            );
            assert_eq!(headers.reset_requests, retry_after);
        }
        other => panic!("expected a limit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_redis_admit_exactly_the_limit() {
    let p = prefix();
    let replicas = [
        Limiter::connect(config(redis_url(), &p)).await.unwrap(),
        Limiter::connect(config(redis_url(), &p)).await.unwrap(),
    ];
    let mut tasks = Vec::new();
    for l in &replicas {
        for _ in 0..8 {
            let l = l.clone();
            tasks.push(tokio::spawn(async move {
                let mut admitted = 0u32;
                for _ in 0..40 {
                    match admit(&l, &rid(), &key(100)).await {
                        Decision::Admitted { degraded, .. } => {
                            assert!(!degraded);
                            admitted += 1;
                        }
                        Decision::Limited {
                            kind: LimitKind::Rpm,
                            ..
                        } => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
                admitted
            }));
        }
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 100, "640 attempts from 2 replicas against 100/min");
}

#[tokio::test]
async fn concurrency_slots_are_held_until_released() {
    let p = prefix();
    let l = Limiter::connect(config(redis_url(), &p)).await.unwrap();
    let mut tickets = Vec::new();
    for _ in 0..3 {
        let Decision::Admitted {
            ticket, headers, ..
        } = admit(&l, &rid(), &conc(3)).await
        else {
            panic!("slot refused below the limit")
        };
        assert!(ticket.holds_slots() && !ticket.is_local());
        assert_eq!(headers.limit_requests, 0, "no rpm scope: headers stay zero");
        tickets.push(ticket);
    }
    match admit(&l, &rid(), &conc(3)).await {
        Decision::Limited {
            kind,
            limit,
            retry_after,
            ..
        } => {
            assert_eq!((kind, limit), (LimitKind::Concurrency, 3));
            assert!(retry_after > Duration::ZERO);
        }
        other => panic!("4th concurrent request admitted: {other:?}"),
    }

    l.release(&tickets[0]).await;
    let Decision::Admitted { ticket: fourth, .. } = admit(&l, &rid(), &conc(3)).await else {
        panic!("release did not free a slot")
    };
    // Releasing the same ticket again frees nothing more.
    l.release(&tickets[0]).await;
    assert!(matches!(
        admit(&l, &rid(), &conc(3)).await,
        Decision::Limited { .. }
    ));
    let mut r = raw().await;
    let held: u32 = r
        .zcard(format!("{p}:{{t:acme}}:conc:key:k1"))
        .await
        .unwrap();
    assert_eq!(held, 3);

    for t in tickets.iter().skip(1).chain([&fourth]) {
        l.release(t).await;
    }
    let held: u32 = r
        .zcard(format!("{p}:{{t:acme}}:conc:key:k1"))
        .await
        .unwrap();
    assert_eq!(held, 0);
}

#[tokio::test]
async fn a_lease_nobody_releases_expires_by_itself() {
    let mut cfg = config(redis_url(), &prefix());
    cfg.slot_lease = Duration::from_millis(300);
    let l = Limiter::connect(cfg).await.unwrap();
    // Admitted and never released, as if its replica crashed.
    assert!(matches!(
        admit(&l, &rid(), &conc(1)).await,
        Decision::Admitted { .. }
    ));
    assert!(matches!(
        admit(&l, &rid(), &conc(1)).await,
        Decision::Limited { .. }
    ));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(matches!(
        admit(&l, &rid(), &conc(1)).await,
        Decision::Admitted { .. }
    ));
}

#[tokio::test]
async fn a_refusing_scope_reserves_nothing_in_the_others() {
    let p = prefix();
    let l = Limiter::connect(config(redis_url(), &p)).await.unwrap();
    let both = [
        Scope {
            kind: ScopeKind::Key,
            id: "k1",
            rpm: 10,
            concurrency: 5,
            tpm: 0,
        },
        Scope {
            kind: ScopeKind::Tenant,
            id: "acme",
            rpm: 1,
            concurrency: 0,
            tpm: 0,
        },
    ];
    assert!(matches!(
        admit(&l, &rid(), &both).await,
        Decision::Admitted { .. }
    ));
    match admit(&l, &rid(), &both).await {
        Decision::Limited {
            kind,
            scope,
            limit,
            headers,
            ..
        } => {
            assert_eq!((kind, scope, limit), (LimitKind::Rpm, ScopeKind::Tenant, 1));
            // Tightest rpm scope is the tenant's.
            assert_eq!((headers.limit_requests, headers.remaining_requests), (1, 0));
        }
        other => panic!("tenant scope should refuse: {other:?}"),
    }
    let mut r = raw().await;
    let counted: u32 = r
        .hget(format!("{p}:{{t:acme}}:rpm:key:k1"), "n")
        .await
        .unwrap();
    let held: u32 = r
        .zcard(format!("{p}:{{t:acme}}:conc:key:k1"))
        .await
        .unwrap();
    assert_eq!(
        (counted, held),
        (1, 1),
        "the refused request left the key's counters alone"
    );
    let key_only = [both[0]];
    let Decision::Admitted { headers, .. } = admit(&l, &rid(), &key_only).await else {
        panic!("key scope has room")
    };
    assert_eq!(headers.remaining_requests, 8);
}

#[tokio::test]
async fn the_window_slides_by_the_second() {
    let p = prefix();
    let l = Limiter::connect(config(redis_url(), &p)).await.unwrap();
    let mut r = raw().await;
    let (now, _): (i64, i64) = redis::cmd("TIME").query_async(&mut r).await.unwrap();
    let k = format!("{p}:{{t:acme}}:rpm:key:k1");
    // 5 requests 70 s ago (outside the window) and 5 requests 30 s ago (inside).
    let _: () = redis::cmd("HSET")
        .arg(&k)
        .arg(now - 70)
        .arg(5)
        .arg(now - 30)
        .arg(5)
        .arg("n")
        .arg(10)
        .arg("lo")
        .arg(now - 70)
        .query_async(&mut r)
        .await
        .unwrap();
    let Decision::Admitted { headers, .. } = admit(&l, &rid(), &key(10)).await else {
        panic!("requests older than a minute still counted")
    };
    assert_eq!(headers.remaining_requests, 4);
    // The next slot frees when the 30-second-old bucket leaves: in about 30 s.
    assert!(
        headers.reset_requests > Duration::from_secs(28),
        "{headers:?}"
    );
    assert!(
        headers.reset_requests <= Duration::from_secs(31),
        "{headers:?}"
    );
    let old: Option<u32> = r.hget(&k, now - 70).await.unwrap();
    assert_eq!(old, None, "expired bucket pruned");
    for _ in 0..4 {
        assert!(matches!(
            admit(&l, &rid(), &key(10)).await,
            Decision::Admitted { .. }
        ));
    }
    match admit(&l, &rid(), &key(10)).await {
        Decision::Limited { retry_after, .. } => {
            assert!(
                retry_after > Duration::from_secs(28) && retry_after <= Duration::from_secs(31)
            );
        }
        other => panic!("window full: {other:?}"),
    }
}

#[tokio::test]
async fn keys_are_hash_tagged_by_tenant_and_expire() {
    let p = prefix();
    let l = Limiter::connect(config(redis_url(), &p)).await.unwrap();
    let scopes = [
        Scope {
            kind: ScopeKind::Key,
            id: "k1",
            rpm: 10,
            concurrency: 2,
            tpm: 0,
        },
        Scope {
            kind: ScopeKind::Team,
            id: "blue",
            rpm: 100,
            concurrency: 20,
            tpm: 0,
        },
        Scope {
            kind: ScopeKind::Tenant,
            id: "acme",
            rpm: 1000,
            concurrency: 0,
            tpm: 0,
        },
        Scope {
            kind: ScopeKind::User,
            id: "u-{1}",
            rpm: 0,
            concurrency: 0,
            tpm: 0,
        },
    ];
    assert!(matches!(
        admit(&l, &rid(), &scopes).await,
        Decision::Admitted { .. }
    ));
    let mut r = raw().await;
    let mut keys: Vec<String> = Vec::new();
    let mut iter: redis::AsyncIter<String> = r.scan_match(format!("{p}:*")).await.unwrap();
    while let Some(k) = iter.next_item().await {
        keys.push(k.unwrap());
    }
    drop(iter);
    // The replicas' heartbeat set is one key per deployment, not per tenant; it expires too.
    // (The set of replicas deciding locally shares its hash tag and exists only while one does.)
    let heartbeat = format!("{p}:{{edges}}");
    assert!(!keys.contains(&format!("{heartbeat}:local")), "{keys:?}");
    keys.retain(|k| *k != heartbeat);
    let ttl: i64 = r.pttl(&heartbeat).await.unwrap();
    assert!(ttl > 0 && ttl <= 3_000, "{heartbeat} has ttl {ttl}");
    keys.sort();
    let expected: Vec<String> = [
        "conc:key:k1",
        "conc:team:blue",
        "rpm:key:k1",
        "rpm:team:blue",
        "rpm:tenant:acme",
    ]
    .iter()
    .map(|s| format!("{p}:{{t:acme}}:{s}"))
    .collect();
    assert_eq!(keys, expected, "unlimited scopes create no keys");
    for k in &keys {
        // Redis Cluster hashes the text inside the first {...}: the tenant, for every key.
        let open = k.find('{').unwrap();
        let close = open + k[open..].find('}').unwrap();
        assert_eq!(&k[open + 1..close], "t:acme");
        let ttl: i64 = r.pttl(k).await.unwrap();
        assert!(ttl > 0 && ttl <= 61_000, "{k} has ttl {ttl}");
    }
}

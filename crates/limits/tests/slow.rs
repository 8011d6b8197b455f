//! Admission while Redis answers, but slowly (a delaying TCP proxy in front of it): requests
//! wait no longer than the admission budget, fall back to the local limiter, and the local
//! shares keep the limit within the documented bound (the crate docs, "Failure").

// A test binary: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::{admit, config, key, prefix, redis_url, rid};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_limits::{AdmitRequest, Decision, Limiter};

const BUDGET: Duration = Duration::from_millis(50);

/// Forwards to Redis, holding every reply for `delay` (settable while running).
struct SlowRedis {
    url: String,
    delay_ms: Arc<AtomicU64>,
}

impl SlowRedis {
    async fn start() -> SlowRedis {
        let target: SocketAddr = redis_url()
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = delay_ms.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let delay = delay.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        // The fault injected: the reply arrives late.
                        let d = delay.load(Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(d)).await;
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        SlowRedis { url, delay_ms }
    }

    fn slow_down(&self, d: Duration) {
        self.delay_ms
            .store(d.as_millis().try_into().unwrap(), Ordering::Relaxed);
    }
}

async fn admit_within(l: &Limiter, limit: u32) -> Decision {
    let (rid, scopes) = (rid(), key(limit));
    l.admit_within(
        &AdmitRequest {
            tenant_id: "acme",
            request_id: &rid,
            scopes: &scopes,
            budgets: &[],
            tokens: 0,
        },
        BUDGET,
    )
    .await
}

fn admitted(d: &Decision) -> bool {
    matches!(d, Decision::Admitted { .. })
}

#[tokio::test]
async fn a_slow_redis_costs_an_admission_its_budget_not_the_timeout() {
    let redis = SlowRedis::start().await;
    let mut cfg = config(redis.url.clone(), &prefix());
    cfg.timeout = Duration::from_secs(1);
    let l = Limiter::connect(cfg).await.unwrap();
    assert!(!l.is_degraded());
    redis.slow_down(Duration::from_millis(300));
    let started = Instant::now();
    let first = admit_within(&l, 10).await;
    let took = started.elapsed();
    assert!(
        matches!(first, Decision::Admitted { degraded: true, .. }),
        "{first:?}"
    );
    assert!(took < Duration::from_millis(250), "waited {took:?}");
    // The next ones do not wait at all: slowness is a flag, like an outage.
    let started = Instant::now();
    let next = admit_within(&l, 10).await;
    assert!(matches!(next, Decision::Admitted { degraded: true, .. }));
    assert!(started.elapsed() < BUDGET, "{:?}", started.elapsed());

    // Fast again: admissions go back to Redis.
    redis.slow_down(Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(10);
    while l.is_degraded() {
        assert!(Instant::now() < deadline, "never back on Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let d = admit_within(&l, 10).await;
    assert!(
        matches!(
            d,
            Decision::Admitted {
                degraded: false,
                ..
            }
        ),
        "{d:?}"
    );
}

#[tokio::test]
async fn a_replica_that_turns_degraded_has_only_the_rest_of_its_share() {
    let redis = SlowRedis::start().await;
    let l = Limiter::connect(config(redis.url.clone(), &prefix()))
        .await
        .unwrap();
    // Six of ten through Redis...
    for _ in 0..6 {
        let d = admit_within(&l, 10).await;
        assert!(
            matches!(
                d,
                Decision::Admitted {
                    degraded: false,
                    ..
                }
            ),
            "{d:?}"
        );
    }
    // ...then Redis turns slow: the local share (10 for one replica) counts those six.
    redis.slow_down(Duration::from_millis(300));
    let mut more = 0;
    for _ in 0..20 {
        if admitted(&admit_within(&l, 10).await) {
            more += 1;
        }
    }
    assert_eq!(more, 4, "six through Redis and four locally make the limit");
}

#[tokio::test]
async fn local_shares_follow_the_replicas_alive_in_redis() {
    let p = prefix();
    let a = Limiter::connect(config(redis_url(), &p)).await.unwrap();
    let b = Limiter::connect(config(redis_url(), &p)).await.unwrap();
    // b registered after a and counted both at once; a counts b at its next heartbeat.
    assert_eq!(b.live_edges(), 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.live_edges() != 2 {
        assert!(Instant::now() < deadline, "a never counted b");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A replica on its own prefix (another deployment) is not counted.
    let alone = Limiter::connect(config(redis_url(), &prefix()))
        .await
        .unwrap();
    assert_eq!(alone.live_edges(), 1);
    drop(alone);

    // Degraded, each of the two admits half of the limit.
    let redis = SlowRedis::start().await;
    let c = Limiter::connect(config(redis.url.clone(), &p))
        .await
        .unwrap();
    assert_eq!(c.live_edges(), 3);
    redis.slow_down(Duration::from_millis(300));
    let mut n = 0;
    for _ in 0..20 {
        if admitted(&admit_within(&c, 9).await) {
            n += 1;
        }
    }
    assert_eq!(n, 3, "a third of 9 for one of three replicas");
    // The plain admit path is unchanged: budget = the configured timeout.
    assert!(admitted(&admit(&b, &rid(), &key(9)).await));
}

#[tokio::test]
async fn redis_back_counts_what_was_admitted_without_it() {
    let redis = SlowRedis::start().await;
    let l = Limiter::connect(config(redis.url.clone(), &prefix()))
        .await
        .unwrap();
    redis.slow_down(Duration::from_millis(300));
    // The whole limit goes out locally while Redis is slow...
    let mut local = 0;
    for _ in 0..15 {
        if admitted(&admit_within(&l, 10).await) {
            local += 1;
        }
    }
    assert_eq!(local, 10);
    // ...and once Redis is fast again it refuses: it was told about those ten.
    redis.slow_down(Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(10);
    while l.is_degraded() {
        assert!(Instant::now() < deadline, "never back on Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let back = admit_within(&l, 10).await;
    assert!(
        matches!(back, Decision::Limited { .. }),
        "Redis admitted past the limit after the outage: {back:?}"
    );
}

#[tokio::test]
async fn redis_keeps_the_share_of_a_replica_still_deciding_locally() {
    let p = prefix();
    let redis = SlowRedis::start().await;
    let a = Limiter::connect(config(redis_url(), &p)).await.unwrap();
    let b = Limiter::connect(config(redis.url.clone(), &p))
        .await
        .unwrap();
    assert_eq!(b.live_edges(), 2);
    // b's Redis turns slow: b admits its half (5 of 10) locally, and says so at its heartbeats.
    redis.slow_down(Duration::from_millis(300));
    let mut on_b = 0;
    for _ in 0..8 {
        if admitted(&admit_within(&b, 10).await) {
            on_b += 1;
        }
    }
    assert_eq!(on_b, 5, "half of 10 for one of two replicas");
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.replicas_deciding_locally() != 1 {
        assert!(
            Instant::now() < deadline,
            "a never heard that b decides locally"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Redis hands a only what b cannot use: 10 - 5, less the one admission b gave up waiting
    // for (the proxy delays only the reply, so Redis counted it as well as b's local window).
    let mut on_a = 0;
    for _ in 0..8 {
        if admitted(&admit_within(&a, 10).await) {
            on_a += 1;
        }
    }
    assert_eq!(on_a, 4, "a took b's share too");
    // b comes back, writes its five back, and says it is on Redis: the limit is spent exactly.
    redis.slow_down(Duration::ZERO);
    while b.is_degraded() || a.replicas_deciding_locally() != 0 {
        assert!(Instant::now() < deadline, "b never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!admitted(&admit_within(&a, 10).await));
    assert!(!admitted(&admit_within(&b, 10).await));
}

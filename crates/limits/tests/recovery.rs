//! A limiter started while Redis is unreachable reconnects by itself once it is back.
//! Redis "comes back" by starting a TCP relay to the real Redis on the port the limiter uses.

// A test binary: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tollgate_limits::{
    AdmitRequest, Decision, FailureMode, Limiter, LimiterConfig, Scope, ScopeKind,
};

#[allow(clippy::disallowed_methods)]
fn redis_addr() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    url.trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_string()
}

async fn relay(listener: TcpListener, upstream: String) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[tokio::test]
async fn starts_degraded_and_recovers_when_redis_appears() {
    // Reserve a free port, then leave it closed: Redis is "down".
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let l = Limiter::connect(LimiterConfig {
        redis_url: format!("redis://127.0.0.1:{port}"),
        key_prefix: format!("tgtest-{}", uuid::Uuid::new_v4().simple()),
        timeout: Duration::from_millis(300),
        slot_lease: Duration::from_secs(60),
        failure: FailureMode::Open,
        replicas: 1,
    })
    .await
    .unwrap();
    let scopes = [Scope {
        kind: ScopeKind::Key,
        id: "k1",
        rpm: 100,
        concurrency: 0,
        tpm: 0,
    }];
    let req = AdmitRequest {
        tenant_id: "acme",
        request_id: "r0",
        scopes: &scopes,
        budgets: &[],
        tokens: 0,
    };
    assert!(matches!(
        l.admit(&req).await,
        Decision::Admitted { degraded: true, .. }
    ));

    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let relay = tokio::spawn(relay(listener, redis_addr()));
    let deadline = Instant::now() + Duration::from_secs(15);
    while l.is_degraded() {
        assert!(Instant::now() < deadline, "limiter never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(l.ping().await);
    let req = AdmitRequest {
        tenant_id: "acme",
        request_id: "r1",
        scopes: &scopes,
        budgets: &[],
        tokens: 0,
    };
    match l.admit(&req).await {
        // 98: the degraded admission was counted locally, then written back to Redis on
        // recovery (so Redis does not hand out the whole limit again), then this one.
        Decision::Admitted {
            degraded: false,
            headers,
            ..
        } => assert_eq!(headers.remaining_requests, 98),
        other => panic!("expected admission through Redis, got {other:?}"),
    }
    relay.abort();
}

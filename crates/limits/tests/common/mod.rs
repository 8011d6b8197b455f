//! Helpers shared by the limiter's test binaries (each binary uses a subset).
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use tollgate_limits::{
    AdmitRequest, Decision, FailureMode, Limiter, LimiterConfig, Scope, ScopeKind,
};

/// Nothing listens here: a Redis that is down.
pub const DOWN_URL: &str = "redis://127.0.0.1:1";

#[allow(clippy::disallowed_methods)]
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn config(url: String, prefix: &str) -> LimiterConfig {
    LimiterConfig {
        redis_url: url,
        key_prefix: prefix.into(),
        timeout: Duration::from_millis(500),
        slot_lease: Duration::from_secs(60),
        failure: FailureMode::Open,
        replicas: 1,
    }
}

/// A key prefix of its own, so tests sharing one Redis never see each other's keys.
pub fn prefix() -> String {
    format!("tgtest-{}", uuid::Uuid::new_v4().simple())
}

pub fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Key `k1` limited to `limit` requests per minute.
pub fn key(limit: u32) -> [Scope<'static>; 1] {
    [Scope {
        kind: ScopeKind::Key,
        id: "k1",
        rpm: limit,
        concurrency: 0,
        tpm: 0,
    }]
}

/// Key `k1` limited to `limit` concurrent requests.
pub fn conc(limit: u32) -> [Scope<'static>; 1] {
    [Scope {
        kind: ScopeKind::Key,
        id: "k1",
        rpm: 0,
        concurrency: limit,
        tpm: 0,
    }]
}

/// Admit one request of tenant `acme` with no budgets and no tokens.
pub async fn admit(l: &Limiter, request_id: &str, scopes: &[Scope<'_>]) -> Decision {
    l.admit(&AdmitRequest {
        tenant_id: "acme",
        request_id,
        scopes,
        budgets: &[],
        tokens: 0,
    })
    .await
}

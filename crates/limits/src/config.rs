//! How a [`crate::Limiter`] is set up.

use std::time::Duration;

/// What admission does while Redis is unreachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureMode {
    /// Keep admitting through a local per-replica limiter at `limit / replicas` (degraded).
    Open,
    /// Refuse with [`crate::Decision::Unavailable`] (the edge answers 503 with Retry-After).
    Closed,
}

#[derive(Clone, Debug)]
pub struct LimiterConfig {
    /// `redis://` or `rediss://` URL; never logged (it may hold a password).
    pub redis_url: String,
    /// First part of every key, so deployments (and tests) can share one Redis. No braces.
    pub key_prefix: String,
    /// Deadline of one Redis round trip; past it the call counts as a failure.
    pub timeout: Duration,
    /// A concurrency slot whose holder never released it (crashed replica) frees itself after this.
    pub slot_lease: Duration,
    pub failure: FailureMode,
    /// Edge replicas sharing Redis; while degraded each replica admits `limit / replicas` (at least 1).
    pub replicas: u32,
}

//! Admission limits: the one Redis round trip on the edge's request path.
//!
//! This crate owns the Redis side of admission: the Lua script that checks and reserves every
//! scope of a request at once (requests per minute, tokens per minute and concurrent requests, per
//! key, team, tenant, user or key-and-model), the release of concurrency slots after the last byte, and the local per-replica
//! limiter that stands in while Redis is unreachable. It must not read configuration files,
//! touch Postgres, or know about HTTP; the edge turns a [`Decision`] into headers and status.
//!
//! # Counting
//!
//! Requests per minute use a **sliding window of per-second buckets**: a hash per scope with one
//! counter per second, a running total and the oldest live second. A request is admitted when
//! the requests counted in the last 60 seconds (to the second) are below the limit. Compared
//! with a fixed minute window it never lets 2x the limit through across a minute boundary, and
//! unlike a log of timestamps its memory is bounded by 60 fields whatever the limit. The count
//! is exact to within one second of bucket edge, so N/min across any number of replicas admits
//! N per rolling minute. Time is Redis's own (`TIME` inside the script), so replicas with skewed
//! clocks still agree.
//!
//! Tokens per minute use the same window, counting tokens: admission reserves the request's
//! [`AdmitRequest::tokens`] (prompt estimate + output allowance) and [`Limiter::settle_usage`]
//! adds `actual - reserved` into the bucket the reservation was counted in, so both leave the
//! window together (a correction in the current bucket would outlive the reservation and
//! undercount the window while the request ran); once that bucket has left the window, the actual
//! tokens are counted whole in the current one. No bucket, so no window, counts below 0. A scope refuses when its count plus the reservation exceeds the limit,
//! except that an empty window admits one request however large, so it is slowed, not barred.
//!
//! Concurrency is a **lease**: a sorted set per scope of request id -> expiry. Admission prunes
//! expired members first, so slots held by a crashed replica free themselves after `slot_lease`.
//!
//! All keys of one admission carry the tenant as hash tag (`<prefix>:{t:<tenant>}:...`), so the
//! script works on Redis Cluster, and every key has a TTL.
//!
//! # Failure
//!
//! When Redis errors or times out, [`FailureMode::Open`] admits through a local limiter at
//! `limit / replicas` and reports `degraded`; [`FailureMode::Closed`] answers
//! [`Decision::Unavailable`]. Either way `tollgate_limits_degraded_total` counts it; round trips
//! are timed in the `tollgate_limits_redis_seconds` histogram.
//!
//! Slow counts as down. An admission without budgets waits for Redis at most its budget
//! ([`Limiter::admit_within`], the edge's `edge.limits.admit_timeout`, 50 ms by default where a
//! healthy local Redis answers in well under 1 ms); past it, it and the admissions after it are
//! decided locally until a probe ping answers within the budget again. Admissions with budgets
//! wait the full timeout: they have no local fallback.
//!
//! `replicas` is the larger of the configured `replicas` and the edges alive in Redis: every
//! limiter registers itself in a heartbeat set (`<prefix>:{edges}`, every second, 3 s TTL) and
//! keeps the last count it read, so a deployment that scaled out without changing its config
//! still divides by the edges really there. Each replica's local window also counts the requests
//! Redis admitted through it, so turning degraded mid-window leaves it only the rest of its share.
//!
//! ## The bound while Redis is slow or away (requests per minute)
//!
//! With limit `L`, `N` the divisor above (at least the edges sharing Redis) and the share
//! `s = max(1, L / N)` (integer division), the requests admitted in any rolling minute are:
//!
//! - at most `L` while Redis answers within the budget (exact, see "Counting");
//! - at most `N * s <= L` if Redis was slow or away for every edge for the whole minute;
//! - at most `L` when it comes and goes for every edge at once (an outage of Redis itself), or
//!   when some edges find it slow while the others do not, given every edge has had a heartbeat
//!   through since (below);
//! - at most `L + (N - 1) * s` (< `2L` when `L >= N`) otherwise: an edge cut off from Redis
//!   while the others reach it, for the moments before its heartbeats stop counting it.
//!
//! Three rules give the exact cases:
//!
//! 1. An edge never admits locally past `s`, counting what Redis admitted through it.
//! 2. An edge deciding locally says so at every heartbeat (the set `<prefix>:{edges}:local`),
//!    and every admission through Redis leaves `k * s` of each rpm limit aside for the `k` edges
//!    that said so (ARGV of `admit.lua`). While another edge decides locally, heartbeats come
//!    every 100 ms, so its share comes back soon after it has rejoined.
//! 3. An edge coming back to Redis (after failed admissions or a failed heartbeat, so an idle
//!    edge is not forgotten) first says it decides locally, then waits until as many edges as it
//!    last counted have beaten since Redis returned (or a heartbeat lifetime has passed: the
//!    missing are gone), so what the others say is current; then it counts its local
//!    admissions into Redis's windows (`writeback.lua`, in the current second: counted up to a
//!    minute longer than they happened, never shorter), goes back to Redis, and only then says
//!    it no longer decides locally. Redis never hands out a share an edge may still admit
//!    locally, and never forgets what was admitted without it.
//!
//! Without rules 2 and 3 (before them), the first edge back took the whole limit from Redis
//! while the other was still on its local share: a fault run admitted 353 for a limit of 300.
//! While an edge decides locally, the others may admit less than the limit (its share waits for
//! it, used or not); never more.
//!
//! It assumes every edge counted the others (an edge that starts while Redis is unreachable
//! divides by the configured `replicas` until its first heartbeat goes through) and that the
//! write-back got through (if not, it is retried at the next recovery; meanwhile Redis may
//! admit up to what it missed on top). Tokens per minute and concurrency keep the older rule:
//! each replica's share, counted from what it admitted locally.

mod config;
mod decision;
mod error;
mod keys;
mod limiter;
mod local;
mod script;

pub use config::{FailureMode, LimiterConfig};
pub use decision::{
    AdmitRequest, BudgetCheck, Decision, LimitKind, RateHeaders, Scope, ScopeKind, Ticket,
};
pub use error::LimitsError;
pub use limiter::Limiter;

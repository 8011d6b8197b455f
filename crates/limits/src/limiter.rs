//! The limiter: one Redis round trip per admission, a local fallback while Redis is away.
//!
//! Health is a flag, not a per-request retry: after one failed call the limiter stops sending
//! admissions to Redis (so requests do not each pay the timeout during an outage) and a single
//! background probe pings Redis until it answers, then admissions go back to Redis.
//!
//! Slowness is a second flag. Admissions without budgets have a short budget
//! ([`Limiter::admit_within`]); one that runs past it sends rate-limit-only admissions to the
//! local limiter until a probe ping answers within that budget again. Admissions with budgets
//! keep going to Redis with the full timeout while it answers at all: they would fail closed
//! otherwise, and a slow answer is better than a 503.
//!
//! A heartbeat registers this replica in Redis every [`HEARTBEAT_INTERVAL`] and reads how many
//! are alive; the local shares divide by that count (see the crate docs for the bound).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ErrorKind, Script, ServerErrorKind, Value};

use crate::config::{FailureMode, LimiterConfig};
use crate::decision::{AdmitRequest, Decision, LimitKind, RateHeaders, Scope, Ticket};
use crate::error::{CallError, LimitsError};
use crate::keys::budget_key;
use crate::keys::prefix_is_valid;
use crate::local::LocalLimiter;
use crate::script::{
    ADMIT_LUA, Reply, admit_cmd, parse_reply, release_pipe, settle_budgets, settle_tokens,
    writeback_cmd,
};

/// How often the background probe pings Redis while admission is degraded.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Retry-After for [`Decision::Unavailable`]: about when the probe will have looked again.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(1);
/// How often each replica registers itself and counts the live ones.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// A replica not heard from for this long no longer counts as alive.
const HEARTBEAT_TTL: Duration = Duration::from_secs(3);
/// Deadline of one heartbeat: off the request path, so it may wait for a slow Redis.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(1);

/// Registers `ARGV[1]` as alive until now + `ARGV[2]` ms (Redis's clock), forgets the expired,
/// and answers how many are alive.
const HEARTBEAT_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('ZCARD', KEYS[1])
";

/// Admission limiter. Cheap to clone (an `Arc` inside); share one per process.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    script: Script,
    prefix: Box<str>,
    timeout: Duration,
    lease: Duration,
    failure: FailureMode,
    local: LocalLimiter,
    healthy: AtomicBool,
    /// False while Redis answers admissions slower than their budget.
    fast: AtomicBool,
    /// The last admission budget asked for, in nanoseconds: what "fast again" means to the probe.
    budget_ns: AtomicU64,
    probing: AtomicBool,
    heartbeat: Script,
    /// This replica's member in the heartbeat set.
    edge_id: Box<str>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL is left out: it may hold a password.
        f.debug_struct("Limiter")
            .field("key_prefix", &self.inner.prefix)
            .field("failure", &self.inner.failure)
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

impl Limiter {
    /// Builds the limiter. Fails only on a bad configuration: if Redis is unreachable the
    /// limiter starts degraded and a background probe reconnects.
    pub async fn connect(cfg: LimiterConfig) -> Result<Limiter, LimitsError> {
        if !prefix_is_valid(&cfg.key_prefix) {
            return Err(LimitsError::InvalidConfig(
                "key_prefix must be non-empty and hold no '{' or '}'",
            ));
        }
        if cfg.replicas == 0 {
            return Err(LimitsError::InvalidConfig("replicas must be at least 1"));
        }
        if cfg.timeout.is_zero() || cfg.slot_lease.is_zero() {
            return Err(LimitsError::InvalidConfig(
                "timeout and slot_lease must be positive",
            ));
        }
        let client = Client::open(cfg.redis_url.as_str()).map_err(LimitsError::InvalidUrl)?;
        let manager_cfg = ConnectionManagerConfig::new()
            // Each call has its own deadline; this only backs up the longest of them.
            .set_response_timeout(Some(cfg.timeout.max(HEARTBEAT_TIMEOUT)))
            // A connect may take longer than one call's deadline; it goes on across calls.
            .set_connection_timeout(Some(cfg.timeout.max(Duration::from_secs(1))))
            .set_number_of_retries(1)
            .set_max_delay(PROBE_INTERVAL);
        // Lazy: connecting happens on first use, so a Redis that is down cannot fail startup.
        let conn = ConnectionManager::new_lazy_with_config(client, manager_cfg)
            .map_err(LimitsError::Client)?;
        let limiter = Limiter {
            inner: Arc::new(Inner {
                conn,
                script: Script::new(ADMIT_LUA),
                prefix: cfg.key_prefix.into(),
                timeout: cfg.timeout,
                lease: cfg.slot_lease,
                failure: cfg.failure,
                local: LocalLimiter::new(cfg.replicas, cfg.slot_lease),
                healthy: AtomicBool::new(true),
                fast: AtomicBool::new(true),
                budget_ns: AtomicU64::new(nanos(cfg.timeout)),
                probing: AtomicBool::new(false),
                heartbeat: Script::new(HEARTBEAT_LUA),
                edge_id: edge_id().into(),
            }),
        };
        match limiter.inner.ping_once().await {
            // Registered before the first request, so the others count this replica at once.
            Ok(_) => limiter.inner.beat().await,
            Err(err) => limiter.mark_down(&err),
        }
        // Not tracked: it holds only a weak reference and ends with the limiter.
        tokio::spawn(heartbeat(Arc::downgrade(&limiter.inner)));
        Ok(limiter)
    }

    /// Checks every scope and budget and reserves in all of them or in none, in one Redis round
    /// trip. Budgets never fall back to the local limiter: with Redis away, a request that has a
    /// budget is refused as unavailable (spending cannot be bounded without the shared counter).
    pub async fn admit(&self, req: &AdmitRequest<'_>) -> Decision {
        self.admit_within(req, self.inner.timeout).await
    }

    /// [`Limiter::admit`] where an admission without budgets waits at most `budget` (capped by
    /// the configured timeout) for Redis before it is decided locally, as if Redis were down.
    /// Admissions with budgets wait the full timeout: they have no local fallback.
    pub async fn admit_within(&self, req: &AdmitRequest<'_>, budget: Duration) -> Decision {
        if !req.scopes.iter().any(Scope::is_limited) && req.budgets.is_empty() {
            return Decision::Admitted {
                ticket: Ticket::default(),
                headers: RateHeaders::default(),
                degraded: false,
            };
        }
        let budget_keys: Vec<(Box<str>, i64)> = req
            .budgets
            .iter()
            .map(|b| {
                let key = budget_key(&self.inner.prefix, req.tenant_id, b.kind, b.id, b.period);
                (key.into_boxed_str(), b.reserve_nanos)
            })
            .collect();
        let rate_only = req.budgets.is_empty();
        let deadline = if rate_only {
            let d = budget.min(self.inner.timeout);
            self.inner.budget_ns.store(nanos(d), Ordering::Relaxed);
            d
        } else {
            self.inner.timeout
        };
        let healthy = self.inner.healthy.load(Ordering::Acquire);
        let fast = self.inner.fast.load(Ordering::Acquire);
        let reason = if healthy && (fast || !rate_only) {
            match self.inner.call_admit(req, &budget_keys, deadline).await {
                Ok(reply) => {
                    let decision = decide(req, reply, budget_keys);
                    if matches!(decision, Decision::Admitted { .. }) {
                        self.inner.local.count_admitted(req);
                    }
                    return decision;
                }
                Err(err) => {
                    if matches!(err, CallError::Timeout) {
                        self.forget_timed_out(req);
                    }
                    if matches!(err, CallError::Timeout) && deadline < self.inner.timeout {
                        self.mark_slow(deadline);
                        "slow"
                    } else {
                        self.mark_down(&err);
                        err.reason()
                    }
                }
            }
        } else if healthy {
            "slow"
        } else {
            "down"
        };
        metrics::counter!("tollgate_limits_degraded_total", "reason" => reason).increment(1);
        if !req.budgets.is_empty() {
            return Decision::Unavailable {
                retry_after: UNAVAILABLE_RETRY,
            };
        }
        match self.inner.failure {
            FailureMode::Open => self.inner.local.admit(req),
            FailureMode::Closed => Decision::Unavailable {
                retry_after: UNAVAILABLE_RETRY,
            },
        }
    }

    /// Frees the concurrency slots a ticket holds and keeps its budget reservations as spent
    /// (the cautious choice when the real cost is unknown). Idempotent for slots.
    pub async fn release(&self, ticket: &Ticket) {
        self.settle(ticket, None).await;
    }

    /// Frees the concurrency slots a ticket holds and replaces its budget reservations with the
    /// real cost (`actual_nanos`; `None` keeps the reservation). Call once per ticket: slot
    /// removal is idempotent, budget corrections are not. If Redis cannot be reached the slots
    /// free themselves when their lease runs out; the budget keeps the reservation.
    pub async fn settle(&self, ticket: &Ticket, actual_nanos: Option<i64>) {
        self.settle_usage(ticket, actual_nanos, None).await;
    }

    /// [`Limiter::settle`] that also corrects the tokens-per-minute reservation: `actual_tokens`
    /// (input + output) replaces the reserved tokens in every tpm window (in the reservation's
    /// bucket while it is in the window; see the crate docs). `None` keeps the reservation
    /// counted. Call once per ticket.
    pub async fn settle_usage(
        &self,
        ticket: &Ticket,
        actual_nanos: Option<i64>,
        actual_tokens: Option<u64>,
    ) {
        let budgets = actual_nanos.is_some() && ticket.holds_budget();
        let tokens = actual_tokens.is_some() && ticket.holds_tokens();
        if !ticket.holds_slots() && !budgets && !tokens {
            return;
        }
        if ticket.local {
            self.inner.local.release(ticket, actual_tokens);
            return;
        }
        if let Err(err) = self
            .inner
            .call_release(ticket, actual_nanos, actual_tokens)
            .await
        {
            metrics::counter!("tollgate_limits_release_failed_total").increment(1);
            tracing::debug!(error = %err, "concurrency release failed; the lease will expire instead");
            self.mark_down(&err);
        }
    }

    /// True when Redis answers a PING within the timeout (for readiness).
    pub async fn ping(&self) -> bool {
        self.inner.ping_once().await.is_ok()
    }

    /// The divisor of the local shares: `max(replicas, live edges last counted in Redis)`.
    pub fn live_edges(&self) -> u32 {
        self.inner.local.replicas()
    }

    /// True while admissions are decided without Redis.
    pub fn is_degraded(&self) -> bool {
        !self.inner.healthy.load(Ordering::Acquire) || !self.inner.fast.load(Ordering::Acquire)
    }

    fn mark_slow(&self, budget: Duration) {
        if self.inner.fast.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                ?budget,
                failure_mode = ?self.inner.failure,
                "Redis slower than the admission budget: rate limits degraded until it is fast again"
            );
        }
        if !self.inner.probing.swap(true, Ordering::AcqRel) {
            tokio::spawn(probe(Arc::downgrade(&self.inner)));
        }
    }

    fn mark_down(&self, err: &CallError) {
        if self.inner.healthy.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                error = %err,
                failure_mode = ?self.inner.failure,
                "Redis unreachable: rate limits degraded until it answers again"
            );
        }
        if !self.inner.probing.swap(true, Ordering::AcqRel) {
            // Not tracked: the probe holds only a weak reference and ends with the limiter.
            tokio::spawn(probe(Arc::downgrade(&self.inner)));
        }
    }

    /// A timed-out admission may still run in Redis and take concurrency slots nobody will
    /// release; remove them best-effort instead of waiting for the lease. The ZREMs follow the
    /// script on the same connection, so Redis sees them after it.
    fn forget_timed_out(&self, req: &AdmitRequest<'_>) {
        let ticket = Ticket::for_scopes(req, false, Vec::new());
        if ticket.holds_slots() {
            let inner = Arc::clone(&self.inner);
            tokio::spawn(async move {
                let _ = inner.call_release(&ticket, None, None).await;
            });
        }
    }
}

impl Inner {
    async fn call_admit(
        &self,
        req: &AdmitRequest<'_>,
        budget_keys: &[(Box<str>, i64)],
        deadline: Duration,
    ) -> Result<Reply, CallError> {
        let cmd = admit_cmd(&self.script, &self.prefix, req, budget_keys, self.lease);
        let mut conn = self.conn.clone();
        let started = Instant::now();
        let result = tokio::time::timeout(deadline, async {
            match cmd.query_async::<Value>(&mut conn).await {
                // Redis restarted or flushed its scripts: load ours and try once more.
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    self.script.load_async(&mut conn).await?;
                    cmd.query_async::<Value>(&mut conn).await
                }
                other => other,
            }
        })
        .await;
        metrics::histogram!("tollgate_limits_redis_seconds", "op" => "admit")
            .record(started.elapsed().as_secs_f64());
        let value = result.map_err(|_| CallError::Timeout)??;
        parse_reply(&value, req)
    }

    async fn call_release(
        &self,
        ticket: &Ticket,
        actual_nanos: Option<i64>,
        actual_tokens: Option<u64>,
    ) -> Result<(), CallError> {
        let mut pipe = release_pipe(&self.prefix, ticket);
        if let Some(actual) = actual_nanos {
            settle_budgets(&mut pipe, ticket, actual);
        }
        if let Some(actual) = actual_tokens {
            settle_tokens(&mut pipe, &self.prefix, ticket, actual);
        }
        let mut conn = self.conn.clone();
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, pipe.exec_async(&mut conn)).await;
        metrics::histogram!("tollgate_limits_redis_seconds", "op" => "release")
            .record(started.elapsed().as_secs_f64());
        Ok(result.map_err(|_| CallError::Timeout)??)
    }

    /// Pings once; answers how long Redis took.
    async fn ping_once(&self) -> Result<Duration, CallError> {
        let mut conn = self.conn.clone();
        let started = Instant::now();
        let pong = tokio::time::timeout(
            self.timeout,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        pong.map_err(|_| CallError::Timeout)?
            .map_err(CallError::from)?;
        Ok(started.elapsed())
    }

    /// Counts the requests admitted locally into Redis's windows, one pipeline of `EVAL`s (the
    /// scopes of different tenants live in different cluster slots). What does not get through
    /// is kept for the next recovery. Returns whether everything got through.
    async fn write_back(&self) -> bool {
        let pending = self.local.take_unsynced();
        if pending.is_empty() {
            return true;
        }
        let mut pipe = redis::Pipeline::with_capacity(pending.len());
        for (tenant, kind, id, n) in &pending {
            pipe.add_command(writeback_cmd(&self.prefix, tenant, *kind, id, *n))
                .ignore();
        }
        let mut conn = self.conn.clone();
        let done = tokio::time::timeout(self.timeout, pipe.exec_async(&mut conn)).await;
        if !matches!(done, Ok(Ok(()))) {
            metrics::counter!("tollgate_limits_writeback_failed_total").increment(1);
            tracing::warn!(
                scopes = pending.len(),
                "could not count the locally admitted requests in Redis; kept for the next try"
            );
            for (tenant, kind, id, n) in &pending {
                self.local.give_back(tenant, *kind, id, *n);
            }
            return false;
        }
        true
    }

    /// Registers this replica as alive and takes the count of live ones as the divisor of the
    /// local shares. A failed beat keeps the last count: during an outage the shares stay what
    /// they were when Redis was last seen.
    async fn beat(&self) {
        let key = format!("{}:edges", self.prefix);
        let ttl_ms = u64::try_from(HEARTBEAT_TTL.as_millis()).unwrap_or(u64::MAX);
        let mut inv = self.heartbeat.key(key);
        inv.arg(&*self.edge_id).arg(ttl_ms);
        let mut conn = self.conn.clone();
        let live =
            tokio::time::timeout(HEARTBEAT_TIMEOUT, inv.invoke_async::<u32>(&mut conn)).await;
        match live {
            Ok(Ok(n)) => self.local.set_live_edges(n),
            Ok(Err(e)) => tracing::debug!(error = %e, "limiter heartbeat failed"),
            Err(_) => tracing::debug!("limiter heartbeat timed out"),
        }
    }
}

fn decide(req: &AdmitRequest<'_>, reply: Reply, budget_keys: Vec<(Box<str>, i64)>) -> Decision {
    match reply {
        Reply::Admitted { headers, now_s } => {
            let mut ticket = Ticket::for_scopes(req, false, budget_keys);
            ticket.counted_at = now_s;
            Decision::Admitted {
                ticket,
                headers,
                degraded: false,
            }
        }
        Reply::Refused {
            headers,
            scope,
            kind: LimitKind::Budget,
            retry_after,
        } => Decision::Limited {
            kind: LimitKind::Budget,
            scope: req.budgets[scope].kind,
            limit: 0,
            retry_after,
            headers,
            budget: Some(scope),
        },
        Reply::Refused {
            headers,
            scope,
            kind,
            retry_after,
        } => {
            let s = &req.scopes[scope];
            Decision::Limited {
                kind,
                scope: s.kind,
                limit: match kind {
                    LimitKind::Rpm => s.rpm,
                    LimitKind::Tpm => s.tpm,
                    LimitKind::Concurrency | LimitKind::Budget => s.concurrency,
                },
                retry_after,
                headers,
                budget: None,
            }
        }
    }
}

/// Pings until Redis answers, then puts admission back on Redis. `probing` is cleared before
/// `healthy` is set, so a failure racing with recovery always finds a probe to restart it.
/// Slowness is cleared the same way, once a ping answers within the last admission budget.
async fn probe(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let Some(inner) = inner.upgrade() else { return };
        let Ok(took) = inner.ping_once().await else {
            continue;
        };
        let budget = Duration::from_nanos(inner.budget_ns.load(Ordering::Relaxed));
        // Only slowness needs a fast answer; recovering from an error needs any answer.
        if took <= budget || inner.fast.load(Ordering::Acquire) {
            // Redis first learns what was admitted without it, or it would admit the whole
            // limit again on top (see the bound in the crate docs); until it has, admission
            // stays local.
            if !inner.write_back().await {
                continue;
            }
            inner.probing.store(false, Ordering::Release);
            inner.fast.store(true, Ordering::Release);
            inner.healthy.store(true, Ordering::Release);
            // Requests admitted locally while the first write-back was in flight.
            if !inner.write_back().await {
                tracing::warn!("some locally admitted requests are not yet counted in Redis");
            }
            tracing::info!("Redis answers again in time: rate limits back on Redis");
            return;
        }
        // Answering, but slowly: admissions with budgets may use it again; the rest stay local.
        inner.healthy.store(true, Ordering::Release);
    }
}

/// Registers the replica every [`HEARTBEAT_INTERVAL`] for as long as the limiter lives.
async fn heartbeat(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
        let Some(inner) = inner.upgrade() else { return };
        inner.beat().await;
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Unique enough among the replicas sharing one Redis: process, start time, and a counter for
/// several limiters in one process (tests).
fn edge_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{started}-{n}", std::process::id())
}

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
//! are alive; the local shares divide by that count (see the crate docs for the bound). It also
//! says whether this replica decides locally, so the others keep that replica's share out of
//! Redis's reach until it has written back; and a replica coming back to Redis first waits until
//! every live replica has said so since Redis returned ([`Inner::rejoin`]). Together they keep a
//! limit exact across an outage instead of within one share of it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
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
    ADMIT_LUA, Reply, Reserve, admit_cmd, parse_reply, release_pipe, settle_budgets, settle_tokens,
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
/// The heartbeat's pace while another replica decides locally, so this one stops keeping that
/// replica's share aside soon after it has written back; and the pace of the rejoin wait.
const FAST_BEAT_INTERVAL: Duration = Duration::from_millis(100);

/// Registers `ARGV[1]` as alive until now + `ARGV[2]` ms (Redis's clock) and, when `ARGV[3]` is
/// 1, as deciding locally (else not), forgets the expired, and answers
/// `{ live, others deciding locally, live that beat at or after ARGV[4] ms, now ms }`.
/// Both keys carry one hash tag (one cluster slot).
const HEARTBEAT_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, ttl = ARGV[1], tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, id)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[2], now + ttl, id)
  redis.call('PEXPIRE', KEYS[2], ttl)
else
  redis.call('ZREM', KEYS[2], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local others = redis.call('ZCARD', KEYS[2])
if redis.call('ZSCORE', KEYS[2], id) then others = others - 1 end
local fresh = redis.call('ZCOUNT', KEYS[1], tonumber(ARGV[4]) + ttl, '+inf')
return { redis.call('ZCARD', KEYS[1]), others, fresh, now }
";

/// What one heartbeat learnt.
#[derive(Clone, Copy, Debug)]
struct Beat {
    live: u32,
    /// Other replicas deciding locally.
    others_local: u32,
    /// Live replicas that beat at or after the time asked about.
    fresh: u32,
    /// Redis's clock, ms.
    now_ms: u64,
}

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
    /// True while a probe brings this replica back to Redis ([`Inner::rejoin`] and the
    /// write-backs after it).
    rejoining: AtomicBool,
    /// True while the last local admissions are written back after admission returned to
    /// Redis: this replica's share stays aside in its own Redis admissions meanwhile.
    syncing: AtomicBool,
    /// Set by [`Limiter::leave`]: the heartbeat stops.
    left: AtomicBool,
    heartbeat: Script,
    /// This replica's member in the heartbeat set.
    edge_id: Box<str>,
    /// Other replicas deciding locally, from the last heartbeat: their shares are kept out of
    /// what Redis hands out.
    others_local: AtomicU32,
    /// Live replicas as last counted while this one was on Redis: how many must have beaten
    /// since Redis returned before this one trusts what the others say ([`Inner::rejoin`]).
    last_live: AtomicU32,
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
                rejoining: AtomicBool::new(false),
                syncing: AtomicBool::new(false),
                left: AtomicBool::new(false),
                heartbeat: Script::new(HEARTBEAT_LUA),
                edge_id: edge_id().into(),
                others_local: AtomicU32::new(0),
                last_live: AtomicU32::new(1),
            }),
        };
        match limiter.inner.ping_once().await {
            // Registered before the first request, so the others count this replica at once.
            Ok(_) => {
                let _ = limiter.inner.beat(false, 0).await;
            }
            Err(err) => limiter.inner.mark_down(&err),
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
        let rejoining = self.inner.rejoining.load(Ordering::Acquire);
        let reason = if healthy && ((fast && !rejoining) || !rate_only) {
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
                        self.inner.mark_slow(deadline);
                        "slow"
                    } else {
                        self.inner.mark_down(&err);
                        err.reason()
                    }
                }
            }
        } else if healthy && rejoining {
            "rejoin"
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
            self.inner.mark_down(&err);
        }
    }

    /// Takes this replica out of the live set (a graceful stop), so the others' shares grow at
    /// once instead of after the heartbeat lifetime, and stops its heartbeat. Best effort: a
    /// replica that cannot say goodbye is forgotten after [`HEARTBEAT_TTL`].
    pub async fn leave(&self) {
        self.inner.left.store(true, Ordering::Release);
        let mut pipe = redis::pipe();
        pipe.zrem(self.inner.edges_key(), &*self.inner.edge_id)
            .ignore()
            .zrem(self.inner.local_edges_key(), &*self.inner.edge_id)
            .ignore();
        let mut conn = self.inner.conn.clone();
        let _ = tokio::time::timeout(HEARTBEAT_TIMEOUT, pipe.exec_async(&mut conn)).await;
    }

    /// True when Redis answers a PING within the timeout (for readiness).
    pub async fn ping(&self) -> bool {
        self.inner.ping_once().await.is_ok()
    }

    /// The divisor of the local shares: `max(replicas, live edges last counted in Redis)`.
    pub fn live_edges(&self) -> u32 {
        self.inner.local.replicas()
    }

    /// Other replicas that said at their last heartbeat that they decide locally: their shares
    /// of every requests-per-minute limit are kept out of what Redis hands out through this one.
    pub fn replicas_deciding_locally(&self) -> u32 {
        self.inner.others_local.load(Ordering::Relaxed)
    }

    /// True while admissions are decided without Redis.
    pub fn is_degraded(&self) -> bool {
        self.inner.deciding_locally()
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
    fn mark_slow(self: &Arc<Self>, budget: Duration) {
        if self.fast.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                ?budget,
                failure_mode = ?self.failure,
                "Redis slower than the admission budget: rate limits degraded until it is fast again"
            );
            // The others hear now, not at the next heartbeat, that this replica decides
            // locally, and keep its share aside (a slow Redis still takes a beat).
            let me = Arc::downgrade(self);
            tokio::spawn(async move {
                if let Some(inner) = me.upgrade() {
                    let _ = inner.beat(true, 0).await;
                }
            });
        }
        if !self.probing.swap(true, Ordering::AcqRel) {
            tokio::spawn(probe(Arc::downgrade(self)));
        }
    }

    fn mark_down(self: &Arc<Self>, err: &CallError) {
        if self.healthy.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                error = %err,
                failure_mode = ?self.failure,
                "Redis unreachable: rate limits degraded until it answers again"
            );
        }
        if !self.probing.swap(true, Ordering::AcqRel) {
            // Not tracked: the probe holds only a weak reference and ends with the limiter.
            tokio::spawn(probe(Arc::downgrade(self)));
        }
    }

    /// True from the moment this replica admits without Redis until everything it admitted so
    /// is counted there.
    fn deciding_locally(&self) -> bool {
        !self.healthy.load(Ordering::Acquire)
            || !self.fast.load(Ordering::Acquire)
            || self.rejoining.load(Ordering::Acquire)
    }

    /// The shares Redis must leave alone: the other replicas deciding locally, and this one
    /// while it does (an admission with budgets goes to Redis even then).
    fn reserve(&self) -> Reserve {
        let own = u32::from(self.deciding_locally() || self.syncing.load(Ordering::Acquire));
        Reserve {
            local_edges: self.others_local.load(Ordering::Relaxed) + own,
            divisor: self.local.replicas(),
        }
    }

    async fn call_admit(
        &self,
        req: &AdmitRequest<'_>,
        budget_keys: &[(Box<str>, i64)],
        deadline: Duration,
    ) -> Result<Reply, CallError> {
        let cmd = admit_cmd(
            &self.script,
            &self.prefix,
            req,
            budget_keys,
            self.lease,
            self.reserve(),
        );
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

    /// The live replicas: member -> expiry (ms, Redis's clock).
    fn edges_key(&self) -> String {
        format!("{}:{{edges}}", self.prefix)
    }

    /// The replicas deciding locally (same hash tag as [`Inner::edges_key`]).
    fn local_edges_key(&self) -> String {
        format!("{}:{{edges}}:local", self.prefix)
    }

    /// Registers this replica as alive (and as deciding locally when `local`) and takes the
    /// count of live ones as the divisor of the local shares, and the count of the others
    /// deciding locally as the shares to keep out of Redis's reach. While this replica decides
    /// locally the divisor only grows: replicas not yet heard from since an outage are not gone.
    /// A failed beat keeps the last counts.
    async fn beat(&self, local: bool, since_ms: u64) -> Result<Beat, CallError> {
        let ttl_ms = u64::try_from(HEARTBEAT_TTL.as_millis()).unwrap_or(u64::MAX);
        let mut inv = self.heartbeat.key(self.edges_key());
        inv.key(self.local_edges_key())
            .arg(&*self.edge_id)
            .arg(ttl_ms)
            .arg(u8::from(local))
            .arg(since_ms);
        let mut conn = self.conn.clone();
        let reply =
            tokio::time::timeout(HEARTBEAT_TIMEOUT, inv.invoke_async::<Vec<u64>>(&mut conn))
                .await
                .map_err(|_| CallError::Timeout)??;
        let [live, others_local, fresh, now_ms] = reply[..] else {
            return Err(CallError::BadReply);
        };
        let beat = Beat {
            live: u32::try_from(live).unwrap_or(u32::MAX),
            others_local: u32::try_from(others_local).unwrap_or(u32::MAX),
            fresh: u32::try_from(fresh).unwrap_or(u32::MAX),
            now_ms,
        };
        self.others_local
            .store(beat.others_local, Ordering::Relaxed);
        if local {
            self.local.raise_live_edges(beat.live);
        } else {
            self.local.set_live_edges(beat.live);
            self.last_live.store(beat.live, Ordering::Relaxed);
        }
        Ok(beat)
    }

    /// Before a replica that decided locally goes back to Redis: tells the others it decides
    /// locally (so they keep its share aside), then waits until every replica alive before the
    /// outage has beaten since Redis answered again, or until a heartbeat lifetime has passed
    /// (those not heard from by then are gone). After that the others' own word on whether they
    /// decide locally is current, so Redis never hands out a share a replica may still admit
    /// locally: without the wait, the first replica back used the whole limit while another
    /// was still on its local share.
    /// Answers how long it waited.
    async fn rejoin(&self) -> Result<Duration, CallError> {
        let started = Instant::now();
        let since = self.beat(true, 0).await?.now_ms;
        let ttl_ms = u64::try_from(HEARTBEAT_TTL.as_millis()).unwrap_or(u64::MAX);
        // The configured count too: an outage right after start may come before the first
        // heartbeat that counted every replica.
        let expected = self
            .last_live
            .load(Ordering::Relaxed)
            .max(self.local.configured());
        loop {
            let beat = self.beat(true, since).await?;
            if beat.fresh >= expected || beat.now_ms >= since.saturating_add(ttl_ms) {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(FAST_BEAT_INTERVAL).await;
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
        let in_time = took <= budget || inner.fast.load(Ordering::Acquire);
        if in_time {
            // Set before `healthy`: rate-only admissions stay local until the rejoin is done.
            inner.rejoining.store(true, Ordering::Release);
        }
        // Answering: admissions with budgets may use Redis again (keeping this replica's share
        // aside while it decides locally).
        inner.healthy.store(true, Ordering::Release);
        if !in_time {
            continue;
        }
        let rejoined = match inner.rejoin().await {
            // Redis first learns what was admitted without it, or it would admit the whole
            // limit again on top (see the bound in the crate docs); until it has, admission
            // stays local.
            Ok(waited) => inner.write_back().await.then_some(waited),
            Err(err) => {
                tracing::debug!(error = %err, "rejoin interrupted; probing again");
                None
            }
        };
        let Some(waited) = rejoined else {
            inner.healthy.store(false, Ordering::Release);
            inner.rejoining.store(false, Ordering::Release);
            continue;
        };
        inner.probing.store(false, Ordering::Release);
        inner.fast.store(true, Ordering::Release);
        // Requests admitted locally while the first write-back was in flight. Local admission
        // stops first (`rejoining` cleared), so the write-back sees every one of them; until it
        // is done this replica's share stays aside in its own Redis admissions (`syncing`).
        inner.syncing.store(true, Ordering::Release);
        inner.rejoining.store(false, Ordering::Release);
        if !inner.write_back().await {
            tracing::warn!("some locally admitted requests are not yet counted in Redis");
        }
        inner.syncing.store(false, Ordering::Release);
        // The others stop keeping this replica's share aside.
        let _ = inner.beat(false, 0).await;
        tracing::info!(
            ?waited,
            others_local = inner.others_local.load(Ordering::Relaxed),
            "Redis answers again in time: rate limits back on Redis"
        );
        return;
    }
}

/// Registers the replica every [`HEARTBEAT_INTERVAL`] (faster while another decides locally)
/// for as long as the limiter lives. A heartbeat Redis does not answer is an outage like any
/// other: this replica turns local and rejoins through the probe, even if no request noticed.
async fn heartbeat(inner: Weak<Inner>) {
    loop {
        let pace = match inner.upgrade() {
            Some(i) if i.others_local.load(Ordering::Relaxed) > 0 => FAST_BEAT_INTERVAL,
            Some(_) => HEARTBEAT_INTERVAL,
            None => return,
        };
        tokio::time::sleep(pace).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.left.load(Ordering::Acquire) {
            return;
        }
        let local = inner.deciding_locally();
        if let Err(err) = inner.beat(local, 0).await {
            tracing::debug!(error = %err, "limiter heartbeat failed");
            inner.mark_down(&err);
        }
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

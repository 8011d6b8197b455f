//! What this replica knows about a deployment's health: calls in flight, the circuit breaker,
//! time to first token (peak-EWMA) and the rate-limit headroom the provider announced.
//!
//! All atomics, no locks: read on every decision, written once per call. Races between two
//! writers lose at most one sample, which the next call corrects. The state outlives config
//! reloads (it is carried over by deployment id) but not restarts.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A latency sample older than this no longer describes the deployment: it is scored as
/// unknown (0), so a deployment that was slow once gets probed again.
const STALE_MS: u64 = 10_000;
/// Peak-EWMA decay time: a faster sample pulls the average down with weight 1 - e^(-Δt/τ).
const DECAY_MS: f64 = 5_000.0;
/// Smallest weight of a faster sample, so bursts of calls still converge.
const MIN_ALPHA: f64 = 0.1;
/// Rate-limit headroom (remaining / limit) under which a deployment gets less traffic.
const HEADROOM_LOW: u32 = 200;
/// The least share of its weight a deployment near its limit keeps (so headroom is re-read).
const HEADROOM_FLOOR: u32 = 50;

/// Milliseconds since this process first asked (monotonic).
pub(crate) fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    // +1 so that 0 always means "not set" in the fields below.
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4)
}

/// When a deployment is ejected, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct CircuitPolicy {
    pub failures: u32,
    pub ejection: Duration,
    pub ejection_max: Duration,
}

/// Whether a deployment can take a call now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Closed,
    /// The ejection ran out: one probe call may go through.
    HalfOpen,
    /// Ejected until the given time (ms), or half-open with its probe already in flight.
    Open(u64),
}

pub struct Health {
    deployment: String,
    inflight: AtomicU32,
    failures: AtomicU32,
    ejections: AtomicU32,
    /// 0 = closed; else when the ejection ends (then half-open).
    open_until: AtomicU64,
    closed_at: AtomicU64,
    probing: AtomicBool,
    ewma_us: AtomicU64,
    ewma_at: AtomicU64,
    /// remaining / limit in ‰ as last announced by the provider, valid until `headroom_until`.
    headroom: AtomicU32,
    headroom_until: AtomicU64,
}

impl Health {
    pub(crate) fn new(deployment: &str) -> Health {
        Health {
            deployment: deployment.to_owned(),
            inflight: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            closed_at: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            ewma_us: AtomicU64::new(0),
            ewma_at: AtomicU64::new(0),
            headroom: AtomicU32::new(1000),
            headroom_until: AtomicU64::new(0),
        }
    }

    pub(crate) fn state(&self, now: u64) -> State {
        match self.open_until.load(Relaxed) {
            0 => State::Closed,
            until if now < until || self.probing.load(Relaxed) => State::Open(until),
            _ => State::HalfOpen,
        }
    }

    pub(crate) fn inflight(&self) -> u32 {
        self.inflight.load(Relaxed)
    }

    /// Start a call. `None` when the circuit is open, or half-open with another call probing.
    pub(crate) fn begin(&self, now: u64) -> Option<InFlight<'_>> {
        let probe = match self.state(now) {
            State::Closed => false,
            State::Open(_) => return None,
            State::HalfOpen => {
                if self
                    .probing
                    .compare_exchange(false, true, Relaxed, Relaxed)
                    .is_err()
                {
                    return None;
                }
                transition(&self.deployment, "half_open");
                true
            }
        };
        self.inflight.fetch_add(1, Relaxed);
        Some(InFlight {
            health: self,
            probe,
        })
    }

    /// A call that worked: closes the circuit if it was the probe.
    pub(crate) fn success(&self) {
        self.failures.store(0, Relaxed);
        if self.probing.swap(false, Relaxed) {
            self.open_until.store(0, Relaxed);
            self.closed_at.store(now_ms(), Relaxed);
            transition(&self.deployment, "closed");
        }
    }

    /// An active health check passed: an ejected deployment whose ejection ran out comes back
    /// without waiting for a client call to probe it.
    pub(crate) fn check_passed(&self, now: u64) {
        self.failures.store(0, Relaxed);
        if self.state(now) == State::HalfOpen {
            self.open_until.store(0, Relaxed);
            self.closed_at.store(now, Relaxed);
            transition(&self.deployment, "closed");
        }
    }

    /// A call that failed because of the deployment (connect error, timeout, 5xx, cut stream).
    pub(crate) fn failure(&self, policy: &CircuitPolicy, now: u64) {
        let n = self.failures.fetch_add(1, Relaxed).saturating_add(1);
        // A failed probe re-ejects at once; otherwise the threshold trips a closed circuit.
        let probe_failed = self.probing.swap(false, Relaxed);
        if probe_failed || n >= policy.failures && self.open_until.load(Relaxed) == 0 {
            self.eject(policy, now);
        }
    }

    fn eject(&self, policy: &CircuitPolicy, now: u64) {
        // Ejections grow while the deployment keeps failing soon after coming back; a long
        // healthy spell starts the count again.
        let closed_at = self.closed_at.load(Relaxed);
        if closed_at != 0 && now.saturating_sub(closed_at) > ms(policy.ejection_max) {
            self.ejections.store(0, Relaxed);
        }
        let k = self.ejections.fetch_add(1, Relaxed).min(16);
        let span = ms(policy.ejection)
            .saturating_mul(1 << k)
            .min(ms(policy.ejection_max).max(ms(policy.ejection)));
        self.open_until
            .store(now.saturating_add(span.max(1)), Relaxed);
        self.failures.store(0, Relaxed);
        transition(&self.deployment, "open");
        tracing::warn!(deployment = %self.deployment, ejected_ms = span, "deployment ejected");
    }

    /// A time-to-first-token sample: peaks are taken at once, improvements decay in.
    pub(crate) fn observe_ttft(&self, ttft: Duration, now: u64) {
        let sample = u64::try_from(ttft.as_micros()).unwrap_or(u64::MAX);
        let old = self.ewma_us.load(Relaxed);
        let at = self.ewma_at.load(Relaxed);
        let next = if old == 0 || sample >= old || now.saturating_sub(at) > STALE_MS {
            sample
        } else {
            let dt = now.saturating_sub(at) as f64;
            let alpha = (1.0 - (-dt / DECAY_MS).exp()).max(MIN_ALPHA);
            (old as f64 + (sample as f64 - old as f64) * alpha) as u64
        };
        self.ewma_us.store(next.max(1), Relaxed);
        self.ewma_at.store(now, Relaxed);
    }

    /// Lower is better: peak-EWMA of TTFT × (calls in flight + 1), raised near a rate limit.
    /// 0 when unknown or stale, so unexplored deployments are tried.
    pub(crate) fn latency_score(&self, now: u64) -> u64 {
        if now.saturating_sub(self.ewma_at.load(Relaxed)) > STALE_MS {
            return 0;
        }
        let load = u64::from(self.inflight()) + 1;
        self.ewma_us.load(Relaxed).saturating_mul(load) * 1000 / u64::from(self.share(now))
    }

    /// Record `remaining / limit` from the provider's `x-ratelimit-*` headers.
    pub(crate) fn set_headroom(&self, permille: u32, until: u64) {
        self.headroom.store(permille.min(1000), Relaxed);
        self.headroom_until.store(until, Relaxed);
    }

    /// Share of its normal traffic the deployment should get, in ‰: 1000 unless the provider
    /// said it is near its limit.
    pub(crate) fn share(&self, now: u64) -> u32 {
        if now >= self.headroom_until.load(Relaxed) {
            return 1000;
        }
        let h = self.headroom.load(Relaxed);
        if h >= HEADROOM_LOW {
            1000
        } else {
            (h * 1000 / HEADROOM_LOW).max(HEADROOM_FLOOR)
        }
    }
}

/// A call in flight on a deployment; dropping it ends the call. A probe dropped without a
/// verdict (the edge went away) frees the half-open slot for the next call.
pub(crate) struct InFlight<'a> {
    health: &'a Health,
    probe: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.health.inflight.fetch_sub(1, Relaxed);
        if self.probe && self.health.open_until.load(Relaxed) != 0 {
            self.health.probing.store(false, Relaxed);
        }
    }
}

fn transition(deployment: &str, state: &'static str) {
    metrics::counter!(
        "tollgate_routing_circuit_transitions_total",
        "deployment" => deployment.to_owned(),
        "state" => state,
    )
    .increment(1);
    metrics::gauge!("tollgate_routing_circuit_open", "deployment" => deployment.to_owned())
        .set(if state == "closed" { 0.0 } else { 1.0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: CircuitPolicy = CircuitPolicy {
        failures: 5,
        ejection: Duration::from_secs(30),
        ejection_max: Duration::from_secs(300),
    };

    #[test]
    fn five_consecutive_failures_eject_and_a_success_resets_the_count() {
        let h = Health::new("d");
        for _ in 0..4 {
            h.failure(&POLICY, 1_000);
        }
        h.success();
        for _ in 0..4 {
            h.failure(&POLICY, 1_000);
        }
        assert_eq!(h.state(1_000), State::Closed);
        h.failure(&POLICY, 1_000);
        assert_eq!(h.state(1_000), State::Open(31_000));
        assert!(h.begin(30_999).is_none());
    }

    #[test]
    fn half_open_lets_one_probe_through_and_repeat_ejections_grow() {
        let h = Health::new("d");
        for _ in 0..5 {
            h.failure(&POLICY, 1_000);
        }
        let probe = h.begin(31_000).unwrap();
        assert!(h.begin(31_000).is_none(), "one probe at a time");
        h.failure(&POLICY, 31_000);
        drop(probe);
        assert_eq!(
            h.state(31_001),
            State::Open(91_000),
            "second ejection is 60 s"
        );
        let probe = h.begin(91_000).unwrap();
        h.success();
        drop(probe);
        assert_eq!(h.state(91_000), State::Closed);
        assert_eq!(h.inflight(), 0);
    }

    #[test]
    fn a_passing_health_check_ends_an_expired_ejection_only() {
        let h = Health::new("d");
        for _ in 0..5 {
            h.failure(&POLICY, 1_000);
        }
        h.check_passed(20_000);
        assert_eq!(
            h.state(20_000),
            State::Open(31_000),
            "not before the ejection ends"
        );
        h.check_passed(31_000);
        assert_eq!(h.state(31_000), State::Closed);
    }

    #[test]
    fn an_abandoned_probe_frees_the_half_open_slot() {
        let h = Health::new("d");
        for _ in 0..5 {
            h.failure(&POLICY, 1_000);
        }
        drop(h.begin(40_000).unwrap());
        assert_eq!(h.state(40_000), State::HalfOpen);
    }

    #[test]
    fn peak_ewma_jumps_up_and_decays_down() {
        let h = Health::new("d");
        h.observe_ttft(Duration::from_millis(10), 1_000);
        h.observe_ttft(Duration::from_millis(100), 1_001);
        assert_eq!(h.latency_score(1_001), 100_000);
        h.observe_ttft(Duration::from_millis(10), 6_001);
        let s = h.latency_score(6_001);
        assert!((40_000..50_000).contains(&s), "{s}");
        assert_eq!(h.latency_score(6_001 + STALE_MS + 1), 0, "stale = unknown");
    }

    #[test]
    fn low_headroom_shrinks_the_share_until_it_expires() {
        let h = Health::new("d");
        assert_eq!(h.share(10), 1000);
        h.set_headroom(50, 2_000);
        assert_eq!(h.share(10), 250);
        h.set_headroom(0, 2_000);
        assert_eq!(h.share(10), HEADROOM_FLOOR);
        assert_eq!(h.share(2_000), 1000);
    }
}

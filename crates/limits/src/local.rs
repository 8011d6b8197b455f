//! The local fallback limiter: this replica's share (`limit / replicas`) of every limit, used
//! only while Redis is unreachable and the failure mode is open.
//!
//! It keeps the same semantics as the script (sliding minute of per-second buckets for requests
//! and for tokens, tokens settled to the actual count, leases that expire) so behaviour does not change shape when Redis goes away, only scale. It is bounded:
//! scopes live in a `moka` cache with a capacity and an idle expiry, and each scope holds at most
//! 60 buckets and at most its share of leases.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::decision::{AdmitRequest, Decision, LimitKind, RateHeaders, ScopeKind, Ticket};

const WINDOW_S: u64 = 60;
/// Distinct scopes tracked while degraded; the least used are evicted past this.
const MAX_SCOPES: u64 = 100_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct LocalKey {
    tenant: Box<str>,
    kind: ScopeKind,
    id: Box<str>,
}

#[derive(Debug, Default)]
struct LocalScope {
    /// (second, admitted in it), oldest first; only seconds inside the window.
    buckets: VecDeque<(u64, u32)>,
    count: u32,
    /// (second, tokens counted in it), oldest first.
    token_buckets: VecDeque<(u64, i64)>,
    /// Sum of `token_buckets` (read through [`LocalScope::tokens_used`]).
    tokens: i64,
    /// request id -> lease expiry (ms since the limiter's epoch).
    holders: HashMap<Box<str>, u64>,
    /// Requests admitted here that Redis has not counted yet (written back on recovery).
    unsynced: u32,
}

impl LocalScope {
    fn prune(&mut self, now_ms: u64) {
        let now_s = now_ms / 1000;
        while let Some(&(sec, n)) = self.buckets.front() {
            if sec + WINDOW_S > now_s {
                break;
            }
            self.count = self.count.saturating_sub(n);
            self.buckets.pop_front();
        }
        while let Some(&(sec, n)) = self.token_buckets.front() {
            if sec + WINDOW_S > now_s {
                break;
            }
            self.tokens -= n;
            self.token_buckets.pop_front();
        }
        if self.token_buckets.is_empty() {
            self.tokens = 0;
        }
        self.holders.retain(|_, expiry| *expiry > now_ms);
    }

    fn tokens_used(&self) -> u64 {
        u64::try_from(self.tokens.max(0)).unwrap_or(0)
    }

    /// Time until the oldest counted tokens leave the window.
    fn token_reset(&self, now_ms: u64) -> Duration {
        self.token_buckets
            .front()
            .map_or(Duration::ZERO, |&(sec, _)| {
                Duration::from_millis(((sec + WINDOW_S) * 1000).saturating_sub(now_ms))
            })
    }

    /// Adds `v` tokens into the current second's bucket.
    fn count_tokens(&mut self, now_ms: u64, v: i64) {
        let now_s = now_ms / 1000;
        match self.token_buckets.back_mut() {
            Some((sec, n)) if *sec == now_s => *n += v,
            _ => self.token_buckets.push_back((now_s, v)),
        }
        self.tokens += v;
    }

    /// Replaces a reservation of `reserved` tokens counted in second `at` with `actual`, as the
    /// settlement script does: in the reservation's own bucket while it is in the window (never
    /// below 0), else the actual tokens whole in the current bucket.
    fn settle_tokens(&mut self, now_ms: u64, at: u64, reserved: i64, actual: i64) {
        if let Some((_, n)) = self.token_buckets.iter_mut().find(|(sec, _)| *sec == at) {
            let d = (actual - reserved).max(-*n);
            *n += d;
            self.tokens += d;
        } else if at + WINDOW_S <= now_ms / 1000 {
            self.count_tokens(now_ms, actual);
        }
        // Otherwise the bucket is in the window but gone (the scope was evicted): nothing of
        // the reservation is counted, and its correction has nothing to correct.
    }

    /// Time until the oldest counted request leaves the window.
    fn reset(&self, now_ms: u64) -> Duration {
        self.buckets.front().map_or(Duration::ZERO, |&(sec, _)| {
            Duration::from_millis(((sec + WINDOW_S) * 1000).saturating_sub(now_ms))
        })
    }

    fn count_one(&mut self, now_ms: u64) {
        let now_s = now_ms / 1000;
        match self.buckets.back_mut() {
            Some((sec, n)) if *sec == now_s => *n += 1,
            _ => self.buckets.push_back((now_s, 1)),
        }
        self.count += 1;
    }
}

pub(crate) struct LocalLimiter {
    scopes: Cache<LocalKey, Arc<Mutex<LocalScope>>>,
    /// Serialises check-then-reserve across scopes so all-or-nothing holds without ordering
    /// per-scope locks. Degraded mode only; the critical section is a few map operations.
    gate: Mutex<()>,
    /// `max(configured replicas, live edges last seen in Redis)`: the divisor of every share.
    replicas: AtomicU32,
    configured: u32,
    lease_ms: u64,
    epoch: Instant,
}

impl LocalLimiter {
    pub(crate) fn new(replicas: u32, lease: Duration) -> LocalLimiter {
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
        LocalLimiter {
            scopes: Cache::builder()
                .max_capacity(MAX_SCOPES)
                // A scope idle for longer than its window and its leases has nothing left to count.
                .time_to_idle(lease.max(Duration::from_secs(WINDOW_S + 1)))
                .build(),
            gate: Mutex::new(()),
            replicas: AtomicU32::new(replicas.max(1)),
            configured: replicas.max(1),
            lease_ms,
            epoch: Instant::now(),
        }
    }

    /// This replica's share of a limit: `limit / replicas`, at least 1, 0 stays unlimited.
    pub(crate) fn share(&self, limit: u32) -> u32 {
        if limit == 0 {
            0
        } else {
            (limit / self.replicas.load(Ordering::Relaxed)).max(1)
        }
    }

    pub(crate) fn configured(&self) -> u32 {
        self.configured
    }

    pub(crate) fn replicas(&self) -> u32 {
        self.replicas.load(Ordering::Relaxed)
    }

    /// Edges seen alive in Redis; the shares follow it but never grow past the configured
    /// `replicas` (a config that knows of more edges than have registered yet is kept).
    pub(crate) fn set_live_edges(&self, live: u32) {
        self.replicas
            .store(live.max(self.configured), Ordering::Relaxed);
    }

    /// [`LocalLimiter::set_live_edges`] that never lowers the divisor: while this replica decides
    /// locally, a replica that has not beaten since an outage may still be admitting.
    pub(crate) fn raise_live_edges(&self, live: u32) {
        self.replicas.fetch_max(live, Ordering::Relaxed);
    }

    /// Counts a request Redis admitted against this replica's requests-per-minute share, so a
    /// replica that goes degraded mid-window has only what is left of its share, not a fresh
    /// one. Requests only: tokens and slots are settled and released on Redis, where they were
    /// reserved. One cache lookup and one uncontended lock per limited scope.
    pub(crate) fn count_admitted(&self, req: &AdmitRequest<'_>) {
        let now_ms = self.now_ms();
        for s in req.scopes.iter().filter(|s| s.rpm > 0) {
            let entry = self
                .scopes
                .get_with(Self::key(req.tenant_id, s.kind, s.id), Default::default);
            let mut st = lock(&entry);
            st.prune(now_ms);
            st.count_one(now_ms);
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn key(tenant: &str, kind: ScopeKind, id: &str) -> LocalKey {
        LocalKey {
            tenant: tenant.into(),
            kind,
            id: id.into(),
        }
    }

    pub(crate) fn admit(&self, req: &AdmitRequest<'_>) -> Decision {
        let now_ms = self.now_ms();
        let entries: Vec<(usize, Arc<Mutex<LocalScope>>)> = req
            .scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_limited())
            .map(|(i, s)| {
                (
                    i,
                    self.scopes
                        .get_with(Self::key(req.tenant_id, s.kind, s.id), Default::default),
                )
            })
            .collect();
        let _gate = lock(&self.gate);

        let mut refused = None;
        for (i, entry) in &entries {
            let scope = &req.scopes[*i];
            let mut st = lock(entry);
            st.prune(now_ms);
            let rpm = self.share(scope.rpm);
            let conc = self.share(scope.concurrency);
            let tpm = self.share(scope.tpm);
            if rpm > 0 && st.count >= rpm {
                refused = Some((*i, LimitKind::Rpm, rpm, st.reset(now_ms)));
                break;
            }
            // As in the script: an empty window admits even a request larger than the limit.
            let used = st.tokens_used();
            if tpm > 0 && used > 0 && used.saturating_add(req.tokens) > u64::from(tpm) {
                refused = Some((*i, LimitKind::Tpm, tpm, st.token_reset(now_ms)));
                break;
            }
            if conc > 0
                && !st.holders.contains_key(req.request_id)
                && st.holders.len() >= conc as usize
            {
                refused = Some((*i, LimitKind::Concurrency, conc, Duration::from_secs(1)));
                break;
            }
        }

        if refused.is_none() {
            for (i, entry) in &entries {
                let scope = &req.scopes[*i];
                let mut st = lock(entry);
                if scope.rpm > 0 {
                    st.count_one(now_ms);
                    st.unsynced = st.unsynced.saturating_add(1);
                }
                if scope.concurrency > 0 {
                    st.holders
                        .insert(req.request_id.into(), now_ms.saturating_add(self.lease_ms));
                }
                if scope.tpm > 0 {
                    st.count_tokens(now_ms, i64::try_from(req.tokens).unwrap_or(i64::MAX));
                }
            }
        }

        let headers = self.headers(req, &entries, now_ms);
        match refused {
            None => {
                let mut ticket = Ticket::for_scopes(req, true, Vec::new());
                ticket.counted_at = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
                Decision::Admitted {
                    ticket,
                    headers,
                    degraded: true,
                }
            }
            Some((i, kind, limit, retry_after)) => Decision::Limited {
                kind,
                scope: req.scopes[i].kind,
                limit,
                retry_after,
                headers,
                budget: None,
            },
        }
    }

    /// Headers from the rpm and the tpm scope with the least room, as the script computes them.
    fn headers(
        &self,
        req: &AdmitRequest<'_>,
        entries: &[(usize, Arc<Mutex<LocalScope>>)],
        now_ms: u64,
    ) -> RateHeaders {
        // (limit, remaining, reset) of the tightest scope per kind.
        let mut requests: Option<(u32, u32, Duration)> = None;
        let mut tokens: Option<(u32, u32, Duration)> = None;
        let tighter = |best: &Option<(u32, u32, Duration)>, h: (u32, u32, Duration)| {
            best.is_none_or(|b| (h.1, h.0) < (b.1, b.0))
        };
        for (i, entry) in entries {
            let rpm = self.share(req.scopes[*i].rpm);
            let tpm = self.share(req.scopes[*i].tpm);
            if rpm == 0 && tpm == 0 {
                continue;
            }
            let mut st = lock(entry);
            st.prune(now_ms);
            if rpm > 0 {
                let h = (rpm, rpm.saturating_sub(st.count), st.reset(now_ms));
                if tighter(&requests, h) {
                    requests = Some(h);
                }
            }
            if tpm > 0 {
                let used = u32::try_from(st.tokens_used()).unwrap_or(u32::MAX);
                let h = (tpm, tpm.saturating_sub(used), st.token_reset(now_ms));
                if tighter(&tokens, h) {
                    tokens = Some(h);
                }
            }
        }
        let (limit_requests, remaining_requests, reset_requests) =
            requests.unwrap_or((0, 0, Duration::ZERO));
        let (limit_tokens, remaining_tokens, reset_tokens) =
            tokens.unwrap_or((0, 0, Duration::ZERO));
        RateHeaders {
            limit_requests,
            remaining_requests,
            reset_requests,
            limit_tokens,
            remaining_tokens,
            reset_tokens,
        }
    }

    /// Takes the requests admitted here that Redis has not counted, per scope:
    /// `(tenant, kind, id, requests)`. Give back what could not be written with
    /// [`LocalLimiter::give_back`].
    pub(crate) fn take_unsynced(&self) -> Vec<(Box<str>, ScopeKind, Box<str>, u32)> {
        let mut out = Vec::new();
        for (key, entry) in &self.scopes {
            let n = std::mem::take(&mut lock(&entry).unsynced);
            if n > 0 {
                out.push((key.tenant.clone(), key.kind, key.id.clone(), n));
            }
        }
        out
    }

    pub(crate) fn give_back(&self, tenant: &str, kind: ScopeKind, id: &str, n: u32) {
        if let Some(entry) = self.scopes.get(&Self::key(tenant, kind, id)) {
            let mut st = lock(&entry);
            st.unsynced = st.unsynced.saturating_add(n);
        }
    }

    /// Frees the ticket's slots and, given the tokens really used, corrects its tpm reservation.
    pub(crate) fn release(&self, ticket: &Ticket, actual_tokens: Option<u64>) {
        for (kind, id) in &ticket.slots {
            if let Some(entry) = self.scopes.get(&Self::key(&ticket.tenant_id, *kind, id)) {
                lock(&entry).holders.remove(&*ticket.request_id);
            }
        }
        let Some(actual) = actual_tokens else { return };
        let now_ms = self.now_ms();
        let actual = i64::try_from(actual).unwrap_or(i64::MAX);
        let reserved = i64::try_from(ticket.tokens).unwrap_or(i64::MAX);
        let at = u64::try_from(ticket.counted_at).unwrap_or(0);
        let _gate = lock(&self.gate);
        for (kind, id) in &ticket.token_scopes {
            let entry = self
                .scopes
                .get_with(Self::key(&ticket.tenant_id, *kind, id), Default::default);
            let mut st = lock(&entry);
            st.prune(now_ms);
            st.settle_tokens(now_ms, at, reserved, actual);
        }
    }
}

/// A poisoned lock only means another request panicked mid-update of a counter; the counts are
/// still usable for a best-effort fallback, so carry on rather than fail admission.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Scope;

    fn admit(l: &LocalLimiter, rid: &str, scopes: &[Scope<'_>]) -> Decision {
        l.admit(&AdmitRequest {
            tenant_id: "t",
            request_id: rid,
            scopes,
            budgets: &[],
            tokens: 0,
        })
    }

    #[test]
    fn share_divides_by_replicas_but_never_to_zero() {
        let l = LocalLimiter::new(3, Duration::from_secs(60));
        assert_eq!(l.share(0), 0);
        assert_eq!(l.share(1), 1);
        assert_eq!(l.share(100), 33);
    }

    #[test]
    fn refusal_in_one_scope_reserves_nothing_in_another() {
        let l = LocalLimiter::new(1, Duration::from_secs(60));
        let tight = [Scope {
            kind: ScopeKind::Tenant,
            id: "t",
            rpm: 1,
            concurrency: 0,
            tpm: 0,
        }];
        assert!(matches!(admit(&l, "r0", &tight), Decision::Admitted { .. }));
        let both = [
            Scope {
                kind: ScopeKind::Key,
                id: "k",
                rpm: 5,
                concurrency: 1,
                tpm: 0,
            },
            Scope {
                kind: ScopeKind::Tenant,
                id: "t",
                rpm: 1,
                concurrency: 0,
                tpm: 0,
            },
        ];
        assert!(matches!(
            admit(&l, "r1", &both),
            Decision::Limited {
                scope: ScopeKind::Tenant,
                ..
            }
        ));
        // The key's single concurrency slot and its rpm were not taken by the refused request.
        let key_only = [Scope {
            kind: ScopeKind::Key,
            id: "k",
            rpm: 5,
            concurrency: 1,
            tpm: 0,
        }];
        match admit(&l, "r2", &key_only) {
            Decision::Admitted { headers, .. } => assert_eq!(headers.remaining_requests, 4),
            other => panic!("expected admission, got {other:?}"),
        }
    }

    #[test]
    fn release_frees_the_slot_once() {
        let l = LocalLimiter::new(1, Duration::from_secs(60));
        let s = [Scope {
            kind: ScopeKind::Key,
            id: "k",
            rpm: 0,
            concurrency: 1,
            tpm: 0,
        }];
        let Decision::Admitted { ticket, .. } = admit(&l, "r1", &s) else {
            panic!("not admitted")
        };
        assert!(matches!(
            admit(&l, "r2", &s),
            Decision::Limited {
                kind: LimitKind::Concurrency,
                ..
            }
        ));
        l.release(&ticket, None);
        l.release(&ticket, None);
        assert!(matches!(admit(&l, "r2", &s), Decision::Admitted { .. }));
        // Releasing r1 once more does not free the slot r2 now holds.
        l.release(&ticket, None);
        assert!(matches!(admit(&l, "r3", &s), Decision::Limited { .. }));
    }
}

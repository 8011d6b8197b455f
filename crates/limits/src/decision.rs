//! What a caller asks for (scopes and their limits) and what admission answers.

use std::time::Duration;

/// Who a limit applies to. Part of every Redis key and of the error a client sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    Key,
    Team,
    Tenant,
    User,
    /// One key's use of one model (id `<key id>/<model>`): per-model limits within the key.
    KeyModel,
    /// One user's use of one model (id `<user id>/<model>`).
    UserModel,
    /// One team's use of one model (id `<team id>/<model>`).
    TeamModel,
    /// One tenant's use of one model (id `<tenant id>/<model>`).
    TenantModel,
}

impl ScopeKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Key => "key",
            ScopeKind::Team => "team",
            ScopeKind::Tenant => "tenant",
            ScopeKind::User => "user",
            ScopeKind::KeyModel => "key_model",
            ScopeKind::UserModel => "user_model",
            ScopeKind::TeamModel => "team_model",
            ScopeKind::TenantModel => "tenant_model",
        }
    }
}

/// One scope to check and reserve in. A limit of 0 means unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope<'a> {
    pub kind: ScopeKind,
    pub id: &'a str,
    /// Requests per minute (sliding window of per-second buckets).
    pub rpm: u32,
    /// Concurrent in-flight requests, each holding a lease until released or expired.
    pub concurrency: u32,
    /// Tokens per minute (same window as rpm, counting tokens): admission reserves
    /// [`AdmitRequest::tokens`], settlement corrects it to the tokens really used.
    pub tpm: u32,
}

impl Scope<'_> {
    pub(crate) fn is_limited(&self) -> bool {
        self.rpm > 0 || self.concurrency > 0 || self.tpm > 0
    }
}

/// A spending limit to check and reserve against, in nano-dollars: Lua numbers are doubles, and
/// nano-USD stay exact in them up to ~9 million USD. (The ledger stays exact in pico-dollars;
/// this is enforcement only.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetCheck<'a> {
    pub kind: ScopeKind,
    pub id: &'a str,
    /// The period's start (unix seconds). Part of the Redis key: a new period is a new counter.
    pub period: i64,
    pub limit_nanos: i64,
    /// What the ledger already holds for this period; seeds the counter when Redis has none
    /// (first use, or Redis lost its data).
    pub seed_nanos: i64,
    /// This request's estimated cost, held until settlement replaces it with the real cost.
    pub reserve_nanos: i64,
    /// Time until the period ends: the counter's lifetime, and Retry-After when refused.
    pub resets_in: Duration,
}

/// One request to admit. Every scope and budget is checked; all are reserved or none is. List
/// each (kind, id) once: a repeated scope is counted once per listing.
#[derive(Clone, Copy, Debug)]
pub struct AdmitRequest<'a> {
    pub tenant_id: &'a str,
    /// Unique per request (UUIDv7); names the concurrency lease so release can remove it.
    pub request_id: &'a str,
    pub scopes: &'a [Scope<'a>],
    pub budgets: &'a [BudgetCheck<'a>],
    /// Tokens to reserve in every scope with a tpm limit: the prompt estimate plus the output
    /// allowance. A scope whose window is empty admits even a request larger than its limit.
    pub tokens: u64,
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    Rpm,
    Concurrency,
    /// A budget would be exceeded by this request's estimated cost.
    Budget,
    /// Tokens per minute: the tokens counted this minute plus this request's reservation.
    Tpm,
}

impl LimitKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            LimitKind::Rpm => "rpm",
            LimitKind::Concurrency => "concurrency",
            LimitKind::Budget => "budget",
            LimitKind::Tpm => "tpm",
        }
    }
}

/// Values for the `x-ratelimit-*-requests` headers, from the rpm scope with the least room left,
/// and for `x-ratelimit-*-tokens`, from the tpm scope with the least room left. Each triple is
/// all zero when no scope limits that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit_requests: u32,
    pub remaining_requests: u32,
    /// Time until `remaining_requests` next grows (the oldest counted request leaves the window).
    pub reset_requests: Duration,
    pub limit_tokens: u32,
    pub remaining_tokens: u32,
    /// Time until the oldest counted tokens leave the window.
    pub reset_tokens: Duration,
}

#[derive(Debug)]
pub enum Decision {
    Admitted {
        ticket: Ticket,
        headers: RateHeaders,
        /// Decided by the local per-replica limiter because Redis was unreachable.
        degraded: bool,
    },
    Limited {
        kind: LimitKind,
        scope: ScopeKind,
        /// The limit that refused (in degraded mode: this replica's share of it).
        limit: u32,
        retry_after: Duration,
        headers: RateHeaders,
        /// For [`LimitKind::Budget`]: the index of the refusing budget in the request.
        budget: Option<usize>,
    },
    /// Redis is unreachable and the failure mode is [`crate::FailureMode::Closed`].
    Unavailable { retry_after: Duration },
}

/// What [`crate::Limiter::release`] needs to free the concurrency slots a request holds.
/// Owned so it can outlive the request's borrowed data (it is released after the last byte).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ticket {
    pub(crate) tenant_id: Box<str>,
    pub(crate) request_id: Box<str>,
    /// Concurrency scopes this request holds a slot in; empty when none is limited.
    pub(crate) slots: Vec<(ScopeKind, Box<str>)>,
    /// Held in the local fallback limiter rather than in Redis.
    pub(crate) local: bool,
    /// Budget counters this request reserved in: (Redis key, nano-dollars reserved).
    pub(crate) budgets: Vec<(Box<str>, i64)>,
    /// Scopes with a tpm limit this request reserved `tokens` in.
    pub(crate) token_scopes: Vec<(ScopeKind, Box<str>)>,
    pub(crate) tokens: u64,
    /// The (Redis or local) second the tokens were counted in: settlement corrects that bucket,
    /// or counts the actual tokens whole once the window has moved past it.
    pub(crate) counted_at: i64,
}

impl Ticket {
    /// A ticket holding slots in `scopes` with a concurrency limit; allocates only if there is one.
    pub(crate) fn for_scopes(
        req: &AdmitRequest<'_>,
        local: bool,
        budgets: Vec<(Box<str>, i64)>,
    ) -> Ticket {
        let slots: Vec<(ScopeKind, Box<str>)> = req
            .scopes
            .iter()
            .filter(|s| s.concurrency > 0)
            .map(|s| (s.kind, Box::from(s.id)))
            .collect();
        let token_scopes: Vec<(ScopeKind, Box<str>)> = req
            .scopes
            .iter()
            .filter(|s| s.tpm > 0)
            .map(|s| (s.kind, Box::from(s.id)))
            .collect();
        if slots.is_empty() && budgets.is_empty() && token_scopes.is_empty() {
            return Ticket {
                local,
                ..Ticket::default()
            };
        }
        Ticket {
            tenant_id: req.tenant_id.into(),
            request_id: req.request_id.into(),
            slots,
            local,
            budgets,
            token_scopes,
            tokens: req.tokens,
            counted_at: 0,
        }
    }

    /// True when the request counted tokens in tpm windows that settlement must correct.
    pub fn holds_tokens(&self) -> bool {
        !self.token_scopes.is_empty()
    }

    /// True when the request holds concurrency slots that [`crate::Limiter::release`] must free.
    pub fn holds_slots(&self) -> bool {
        !self.slots.is_empty()
    }

    /// True when the request reserved in budgets that settlement must correct.
    pub fn holds_budget(&self) -> bool {
        !self.budgets.is_empty()
    }

    /// True when the slots are held by this replica's local limiter (Redis was unreachable).
    pub fn is_local(&self) -> bool {
        self.local
    }
}

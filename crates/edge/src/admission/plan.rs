//! Which limits, budgets and reservations apply to one request: a pure function of the config,
//! the key snapshot and the request, so it is tested without Redis.
//!
//! Precedence: a limits row beats the key's own columns, which beat the configured defaults; a
//! user's, team's or tenant's row beats `user_*` / `team_*` / `tenant_*`. Per-model limits are
//! keyed by the public model name, so an alias cannot escape them; a key's per-model row
//! overrides `edge.limits.per_model`. Every id is borrowed from the caller or the snapshot,
//! except the counter of a per-model limit that comes from the config (built here, once).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use tollgate_config::LimitsConfig;
use tollgate_domain::Money;
use tollgate_limits::{BudgetCheck, Scope, ScopeKind};
use tollgate_store::limits::LimitScope;

use crate::budgets::{self, BudgetEntry};
use crate::snapshot::limits::{LimitBook, ModelRow, Numbers, pick};
use crate::snapshot::{KeyEntry, KeySnapshot};

/// How many scopes every request is checked in (unlimited ones are skipped by the limiter):
/// key, user, team, tenant, then the requested model within each of them.
pub const SCOPES: usize = 8;

/// One scope of the plan; its id borrowed, or built for a configured per-model counter.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Planned<'a> {
    kind: ScopeKind,
    id: Cow<'a, str>,
    rpm: u32,
    tpm: u32,
    concurrency: u32,
}

impl Planned<'_> {
    fn unlimited(kind: ScopeKind) -> Self {
        Planned {
            kind,
            id: Cow::Borrowed(""),
            rpm: 0,
            tpm: 0,
            concurrency: 0,
        }
    }

    fn as_scope(&self) -> Scope<'_> {
        Scope {
            kind: self.kind,
            id: &self.id,
            rpm: self.rpm,
            concurrency: self.concurrency,
            tpm: self.tpm,
        }
    }
}

/// Everything one request is checked and reserved against.
pub struct Plan<'a> {
    scopes: [Planned<'a>; SCOPES],
    /// The budgets covering the caller, in the order of `budgets`.
    covering: Vec<&'a BudgetEntry>,
    /// One reservation of the request's estimate per covering budget.
    budgets: Vec<BudgetCheck<'a>>,
}

impl<'a> Plan<'a> {
    /// Whether the plan needs the requested model's public name: only when some per-model limit
    /// exists (resolving an alias needs the model directory).
    pub fn needs_model(limits: &LimitsConfig, snapshot: Option<&KeySnapshot>) -> bool {
        !limits.per_model.is_empty() || snapshot.is_some_and(|s| s.limits.has_models)
    }

    /// The plan for `caller` asking for `model` (its public name when [`Plan::needs_model`]),
    /// reserving `estimate` in every budget covering it.
    pub fn new(
        limits: &'a LimitsConfig,
        snapshot: Option<&'a KeySnapshot>,
        caller: &'a KeyEntry,
        model: &'a str,
        estimate: Money,
        now: DateTime<Utc>,
    ) -> Plan<'a> {
        let book = snapshot.map(|s| &s.limits);
        let covering: Vec<&BudgetEntry> = snapshot
            .map(|s| s.budgets.covering(&caller.identity).collect())
            .unwrap_or_default();
        let budgets = covering
            .iter()
            .map(|b| budgets::check(b, estimate, now))
            .collect();
        Plan {
            scopes: scopes(limits, book, caller, model),
            covering,
            budgets,
        }
    }

    /// The scopes, as the limiter takes them.
    pub fn scopes(&self) -> [Scope<'_>; SCOPES] {
        self.scopes.each_ref().map(Planned::as_scope)
    }

    /// The budget reservations.
    pub fn budgets(&self) -> &[BudgetCheck<'a>] {
        &self.budgets
    }

    /// The budget of reservation `i` (the one a refusal names).
    pub fn budget(&self, i: usize) -> Option<&'a BudgetEntry> {
        self.covering.get(i).copied()
    }
}

/// Every scope of the caller: its own, its user's, team's and tenant's, then the model within
/// each.
fn scopes<'a>(
    limits: &'a LimitsConfig,
    book: Option<&'a LimitBook>,
    caller: &'a KeyEntry,
    model: &'a str,
) -> [Planned<'a>; SCOPES] {
    let id = &caller.identity;
    let row = |kind, sid: &str| book.and_then(|b| b.all(kind, sid)).unwrap_or_default();
    let model_book = book.filter(|b| b.has_models);
    let model_row = |kind, sid: &str| {
        model_book
            .filter(|_| !sid.is_empty())
            .and_then(|b| b.model(kind, sid, model))
    };
    let by_row = |kind, sid: &'a str, scope, fallback| {
        if sid.is_empty() {
            Planned::unlimited(kind)
        } else {
            planned(kind, sid, row(scope, sid), fallback)
        }
    };
    [
        key_scope(limits, row(LimitScope::Key, &id.key_id), caller),
        by_row(
            ScopeKind::User,
            &id.user_id,
            LimitScope::User,
            (limits.user_rpm, limits.user_tpm, limits.user_concurrency),
        ),
        by_row(
            ScopeKind::Team,
            &id.team_id,
            LimitScope::Team,
            (limits.team_rpm, limits.team_tpm, limits.team_concurrency),
        ),
        planned(
            ScopeKind::Tenant,
            &id.tenant_id,
            row(LimitScope::Tenant, &id.tenant_id),
            (
                limits.tenant_rpm,
                limits.tenant_tpm,
                limits.tenant_concurrency,
            ),
        ),
        key_model_scope(
            limits,
            model_row(LimitScope::Key, &id.key_id),
            caller,
            model,
        ),
        per_model(
            ScopeKind::UserModel,
            model_row(LimitScope::User, &id.user_id),
        ),
        per_model(
            ScopeKind::TeamModel,
            model_row(LimitScope::Team, &id.team_id),
        ),
        per_model(
            ScopeKind::TenantModel,
            model_row(LimitScope::Tenant, &id.tenant_id),
        ),
    ]
}

/// The key's own scope: its limits row, else its own columns, else the configured defaults.
fn key_scope<'a>(limits: &LimitsConfig, row: Numbers, caller: &'a KeyEntry) -> Planned<'a> {
    let own = |n: u32, default: u32| if n > 0 { n } else { default };
    Planned {
        kind: ScopeKind::Key,
        id: Cow::Borrowed(&caller.identity.key_id),
        rpm: pick(row.rpm, own(caller.rpm_limit, limits.default_rpm)),
        concurrency: pick(
            row.concurrency,
            own(caller.concurrency_limit, limits.default_concurrency),
        ),
        tpm: pick(row.tpm, limits.default_tpm),
    }
}

/// The key's use of the model: its per-model row (own counter), else `edge.limits.per_model`
/// (a counter `<key>/<model>`, allocated only then), else unlimited.
fn key_model_scope<'a>(
    limits: &LimitsConfig,
    row: Option<&'a ModelRow>,
    caller: &KeyEntry,
    model: &str,
) -> Planned<'a> {
    let configured = limits.per_model.get(model).copied().unwrap_or_default();
    let n = row.map(|m| m.numbers).unwrap_or_default();
    let (rpm, tpm, concurrency) = (
        pick(n.rpm, configured.rpm),
        pick(n.tpm, configured.tpm),
        pick(n.concurrency, 0),
    );
    let id = match row {
        Some(m) => Cow::Borrowed(m.counter_id.as_str()),
        None if rpm > 0 || tpm > 0 => Cow::Owned(format!("{}/{}", caller.identity.key_id, model)),
        None => return Planned::unlimited(ScopeKind::KeyModel),
    };
    Planned {
        kind: ScopeKind::KeyModel,
        id,
        rpm,
        tpm,
        concurrency,
    }
}

/// A scope from its limits row, else `fallback` (rpm, tpm, concurrency; 0 = unlimited).
fn planned(kind: ScopeKind, id: &str, n: Numbers, fallback: (u32, u32, u32)) -> Planned<'_> {
    Planned {
        kind,
        id: Cow::Borrowed(id),
        rpm: pick(n.rpm, fallback.0),
        tpm: pick(n.tpm, fallback.1),
        concurrency: pick(n.concurrency, fallback.2),
    }
}

/// A per-model scope from its row (its own counter, prebuilt id); unlimited without one.
fn per_model(kind: ScopeKind, row: Option<&ModelRow>) -> Planned<'_> {
    match row {
        Some(m) => planned(kind, &m.counter_id, m.numbers, (0, 0, 0)),
        None => Planned::unlimited(kind),
    }
}

#[cfg(test)]
mod tests {
    use tollgate_config::ModelLimits;
    use tollgate_domain::Identity;
    use tollgate_store::budgets::BudgetState;
    use tollgate_store::limits::Limit;

    use super::*;
    use crate::budgets::Budgets;

    fn caller(rpm: u32, concurrency: u32) -> KeyEntry {
        KeyEntry {
            key_hash: String::new(),
            identity: Identity {
                tenant_id: "acme".into(),
                team_id: "blue".into(),
                key_id: "k1".into(),
                user_id: String::new(),
            },
            rpm_limit: rpm,
            concurrency_limit: concurrency,
            log_content: false,
            expires_at: None,
            allowed_models: Vec::new(),
        }
    }

    fn limits() -> LimitsConfig {
        LimitsConfig {
            default_rpm: 600,
            default_concurrency: 50,
            default_tpm: 10_000,
            team_rpm: 100,
            tenant_tpm: 70_000,
            ..LimitsConfig::default()
        }
    }

    fn row(scope: LimitScope, id: &str, model: Option<&str>, rpm: Option<u32>) -> Limit {
        Limit {
            id: uuid::Uuid::now_v7(),
            tenant_id: uuid::Uuid::nil(),
            scope,
            scope_id: id.into(),
            model: model.map(str::to_owned),
            rpm,
            tpm: None,
            concurrency: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn snapshot(rows: Vec<Limit>, budgets: Vec<BudgetState>) -> KeySnapshot {
        KeySnapshot {
            limits: LimitBook::from_rows(rows),
            budgets: Budgets::from_rows(budgets),
            ..KeySnapshot::default()
        }
    }

    /// (kind, id, rpm, tpm, concurrency) of every limited scope.
    fn limited(plan: &Plan<'_>) -> Vec<(ScopeKind, String, u32, u32, u32)> {
        plan.scopes()
            .iter()
            .filter(|s| s.rpm > 0 || s.tpm > 0 || s.concurrency > 0)
            .map(|s| (s.kind, s.id.to_owned(), s.rpm, s.tpm, s.concurrency))
            .collect()
    }

    #[test]
    fn without_rows_the_key_its_team_and_tenant_get_the_configured_defaults() {
        let (limits, key) = (limits(), caller(0, 0));
        let plan = Plan::new(&limits, None, &key, "mock", Money::ZERO, Utc::now());
        assert_eq!(
            limited(&plan),
            [
                (ScopeKind::Key, "k1".into(), 600, 10_000, 50),
                (ScopeKind::Team, "blue".into(), 100, 0, 0),
                (ScopeKind::Tenant, "acme".into(), 0, 70_000, 0),
            ]
        );
        // No user: its slot stays unlimited and unnamed.
        assert_eq!(plan.scopes()[1].id, "");
        assert!(plan.budgets().is_empty());
        assert!(!Plan::needs_model(&limits, None));
    }

    #[test]
    fn a_limits_row_beats_the_keys_columns_which_beat_the_defaults() {
        let limits = limits();
        let own = caller(30, 3);
        let plan = Plan::new(&limits, None, &own, "mock", Money::ZERO, Utc::now());
        assert_eq!(
            limited(&plan)[0],
            (ScopeKind::Key, "k1".into(), 30, 10_000, 3)
        );
        let snap = snapshot(
            vec![
                row(LimitScope::Key, "k1", None, Some(7)),
                // An explicit 0 is "unlimited", not "the default".
                row(LimitScope::Team, "blue", None, Some(0)),
            ],
            Vec::new(),
        );
        let plan = Plan::new(&limits, Some(&snap), &own, "mock", Money::ZERO, Utc::now());
        let got = limited(&plan);
        assert_eq!(got[0], (ScopeKind::Key, "k1".into(), 7, 10_000, 3));
        assert!(got.iter().all(|s| s.0 != ScopeKind::Team), "{got:?}");
    }

    #[test]
    fn per_model_limits_count_in_their_own_counters() {
        let mut limits = limits();
        limits
            .per_model
            .insert("mock".into(), ModelLimits { rpm: 5, tpm: 500 });
        let key = caller(0, 0);
        assert!(Plan::needs_model(&limits, None));
        // From the config: a counter per key and model, built for this request.
        let plan = Plan::new(&limits, None, &key, "mock", Money::ZERO, Utc::now());
        assert_eq!(
            plan.scopes()[4],
            Scope {
                kind: ScopeKind::KeyModel,
                id: "k1/mock",
                rpm: 5,
                concurrency: 0,
                tpm: 500,
            }
        );
        // Another model has no per-model limit.
        let plan = Plan::new(&limits, None, &key, "other", Money::ZERO, Utc::now());
        assert_eq!(plan.scopes()[4].id, "");
        // Rows: the key's overrides the config (rpm 2, tpm still from the config); the team's
        // and tenant's are counters of their own.
        let snap = snapshot(
            vec![
                row(LimitScope::Key, "k1", Some("mock"), Some(2)),
                row(LimitScope::Team, "blue", Some("mock"), Some(4)),
                row(LimitScope::Tenant, "acme", Some("mock"), Some(8)),
            ],
            Vec::new(),
        );
        assert!(Plan::needs_model(&LimitsConfig::default(), Some(&snap)));
        let plan = Plan::new(&limits, Some(&snap), &key, "mock", Money::ZERO, Utc::now());
        let got = limited(&plan);
        assert_eq!(
            got[3..],
            [
                (ScopeKind::KeyModel, "k1/mock".into(), 2, 500, 0),
                (ScopeKind::TeamModel, "blue/mock".into(), 4, 0, 0),
                (ScopeKind::TenantModel, "acme/mock".into(), 8, 0, 0),
            ]
        );
    }

    #[test]
    fn every_covering_budget_reserves_the_estimate() {
        let now = Utc::now();
        let budget = |scope: &str, id: &str| BudgetState {
            id: uuid::Uuid::now_v7(),
            tenant_id: uuid::Uuid::nil(),
            scope: scope.into(),
            scope_id: id.into(),
            limit_picos: 5_000_000,
            period_start: now,
            period_end: now + chrono::Duration::hours(24),
            spent_picos: 1_000_000,
        };
        let snap = snapshot(
            Vec::new(),
            vec![
                budget("key", "k1"),
                budget("team", "blue"),
                budget("team", "red"),
            ],
        );
        let (limits, key) = (limits(), caller(0, 0));
        let estimate = Money::from_picos(2_500);
        let plan = Plan::new(&limits, Some(&snap), &key, "mock", estimate, now);
        let reserved: Vec<(ScopeKind, &str, i64, i64)> = plan
            .budgets()
            .iter()
            .map(|b| (b.kind, b.id, b.reserve_nanos, b.seed_nanos))
            .collect();
        assert_eq!(
            reserved,
            [
                (ScopeKind::Key, "k1", 3, 1_000),
                (ScopeKind::Team, "blue", 3, 1_000)
            ]
        );
        assert_eq!(plan.budget(1).map(|b| b.scope_id.as_str()), Some("blue"));
        assert!(plan.budget(2).is_none());
    }
}

//! Budgets as the edge enforces them: loaded with the key snapshot (definitions, the current
//! calendar period computed by Postgres in the budget's time zone, and the ledger's spend so
//! far), turned into reservations for the admission script.
//!
//! A request reserves its estimated cost (prompt estimate plus `max_tokens`, or
//! `edge.limits.budget_output_tokens` when the request sets none, at the model's price) in every
//! budget that covers it, and settles the real cost after the last byte. So concurrent requests
//! cannot walk past a budget together; a single request can overshoot by at most what it spends
//! beyond its own estimate.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tollgate_domain::{Identity, Money};
use tollgate_limits::{BudgetCheck, ScopeKind};
use tollgate_store::budgets::BudgetState;

#[derive(Debug)]
pub struct BudgetEntry {
    pub scope: ScopeKind,
    pub scope_id: String,
    pub limit: Money,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub spent: Money,
}

/// Every budget, by what it covers: one map per scope kind, so a lookup borrows the caller's id
/// instead of building a key (admission looks up three scopes on every request).
#[derive(Debug, Default)]
pub struct Budgets {
    keys: HashMap<String, Vec<BudgetEntry>>,
    teams: HashMap<String, Vec<BudgetEntry>>,
    tenants: HashMap<String, Vec<BudgetEntry>>,
    /// When the first of these periods ends: the snapshot must be reloaded by then.
    pub earliest_end: Option<DateTime<Utc>>,
}

impl Budgets {
    pub fn from_rows(rows: Vec<BudgetState>) -> Budgets {
        let mut b = Budgets::default();
        let mut earliest_end: Option<DateTime<Utc>> = None;
        for r in rows {
            let scope = match r.scope.as_str() {
                "tenant" => ScopeKind::Tenant,
                "team" => ScopeKind::Team,
                _ => ScopeKind::Key,
            };
            earliest_end = Some(earliest_end.map_or(r.period_end, |e| e.min(r.period_end)));
            let map = match scope {
                ScopeKind::Tenant => &mut b.tenants,
                ScopeKind::Team => &mut b.teams,
                _ => &mut b.keys,
            };
            map.entry(r.scope_id.clone())
                .or_default()
                .push(BudgetEntry {
                    scope,
                    scope_id: r.scope_id,
                    limit: Money::from_picos(r.limit_picos),
                    period_start: r.period_start,
                    period_end: r.period_end,
                    spent: Money::from_picos(r.spent_picos),
                });
        }
        b.earliest_end = earliest_end;
        b
    }

    /// The budgets that cover a caller: its key's, its team's and its tenant's.
    pub fn covering<'a>(&'a self, id: &'a Identity) -> impl Iterator<Item = &'a BudgetEntry> {
        [
            self.keys.get(id.key_id.as_str()),
            self.teams.get(id.team_id.as_str()),
            self.tenants.get(id.tenant_id.as_str()),
        ]
        .into_iter()
        .flatten()
        .flatten()
    }
}

/// Pico-dollars to the admission script's nano-dollars, rounding up so a reservation is never
/// smaller than the cost it stands for.
pub fn nanos(m: Money) -> i64 {
    let p = m.picos().max(0);
    p / 1000 + i64::from(p % 1000 != 0)
}

/// The script's view of one budget for one request reserving `reserve`.
pub fn check<'a>(b: &'a BudgetEntry, reserve: Money, now: DateTime<Utc>) -> BudgetCheck<'a> {
    let resets_in = (b.period_end - now)
        .to_std()
        .unwrap_or(Duration::from_secs(1));
    BudgetCheck {
        kind: b.scope,
        id: &b.scope_id,
        period: b.period_start.timestamp(),
        limit_nanos: nanos(b.limit),
        seed_nanos: nanos(b.spent),
        reserve_nanos: nanos(reserve),
        resets_in: resets_in.max(Duration::from_secs(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_round_up_so_reservations_never_undercount() {
        assert_eq!(nanos(Money::from_picos(0)), 0);
        assert_eq!(nanos(Money::from_picos(1)), 1);
        assert_eq!(nanos(Money::from_picos(1000)), 1);
        assert_eq!(nanos(Money::from_picos(1001)), 2);
    }

    #[test]
    fn a_caller_is_covered_by_its_key_team_and_tenant_budgets_only() {
        let now = Utc::now();
        let row = |scope: &str, id: &str| BudgetState {
            id: uuid::Uuid::now_v7(),
            tenant_id: uuid::Uuid::nil(),
            scope: scope.into(),
            scope_id: id.into(),
            limit_picos: 1,
            period_start: now,
            period_end: now + chrono::Duration::hours(1),
            spent_picos: 0,
        };
        let b = Budgets::from_rows(vec![
            row("key", "k1"),
            row("key", "k2"),
            row("team", "blue"),
            row("tenant", "acme"),
            row("tenant", "other"),
        ]);
        let id = Identity {
            tenant_id: "acme".into(),
            team_id: "blue".into(),
            key_id: "k1".into(),
            user_id: String::new(),
        };
        let got: Vec<&str> = b.covering(&id).map(|e| e.scope_id.as_str()).collect();
        assert_eq!(got, ["k1", "blue", "acme"]);
        let no_team = Identity {
            team_id: String::new(),
            ..id
        };
        assert_eq!(b.covering(&no_team).count(), 2);
    }
}

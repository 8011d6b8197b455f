//! Limits rows as the edge reads them on every request: one map per scope kind, each scope's
//! all-models numbers and its per-model rows, so a lookup borrows the caller's ids and the
//! model name (no key is built) and a per-model counter id (`<scope id>/<model>`) is made once,
//! at load, not per request.

use std::collections::HashMap;

use tollgate_store::limits::{Limit, LimitScope};

/// One row's numbers. `None` = the configured default for the scope; `Some(0)` = unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Numbers {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub concurrency: Option<u32>,
}

/// A per-model row: its numbers and the id of its own counter in Redis.
#[derive(Debug)]
pub struct ModelRow {
    pub numbers: Numbers,
    pub counter_id: String,
}

#[derive(Debug, Default)]
struct ScopeRows {
    all: Option<Numbers>,
    models: HashMap<String, ModelRow>,
}

/// Every limits row, by scope kind and id.
#[derive(Debug, Default)]
pub struct LimitBook {
    key: HashMap<String, ScopeRows>,
    user: HashMap<String, ScopeRows>,
    team: HashMap<String, ScopeRows>,
    tenant: HashMap<String, ScopeRows>,
    /// Any per-model row at all: admission then needs the request's public model name.
    pub has_models: bool,
}

impl LimitBook {
    pub fn from_rows(rows: Vec<Limit>) -> LimitBook {
        let mut b = LimitBook::default();
        for r in rows {
            let numbers = Numbers {
                rpm: r.rpm,
                tpm: r.tpm,
                concurrency: r.concurrency,
            };
            let map = b.map_mut(r.scope);
            match r.model {
                None => map.entry(r.scope_id).or_default().all = Some(numbers),
                Some(model) => {
                    let counter_id = format!("{}/{}", r.scope_id, model);
                    map.entry(r.scope_id).or_default().models.insert(
                        model,
                        ModelRow {
                            numbers,
                            counter_id,
                        },
                    );
                    b.has_models = true;
                }
            }
        }
        b
    }

    fn map_mut(&mut self, scope: LimitScope) -> &mut HashMap<String, ScopeRows> {
        match scope {
            LimitScope::Key => &mut self.key,
            LimitScope::User => &mut self.user,
            LimitScope::Team => &mut self.team,
            LimitScope::Tenant => &mut self.tenant,
        }
    }

    fn map(&self, scope: LimitScope) -> &HashMap<String, ScopeRows> {
        match scope {
            LimitScope::Key => &self.key,
            LimitScope::User => &self.user,
            LimitScope::Team => &self.team,
            LimitScope::Tenant => &self.tenant,
        }
    }

    /// The all-models row of a scope, if it has one.
    pub fn all(&self, scope: LimitScope, id: &str) -> Option<Numbers> {
        self.map(scope).get(id).and_then(|s| s.all)
    }

    /// The row of one model within a scope, if it has one.
    pub fn model(&self, scope: LimitScope, id: &str, model: &str) -> Option<&ModelRow> {
        self.map(scope).get(id)?.models.get(model)
    }
}

/// A number from the row if it sets one, else the fallback (0 = unlimited).
pub fn pick(row: Option<u32>, fallback: u32) -> u32 {
    row.unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scope: LimitScope, id: &str, model: Option<&str>, rpm: Option<u32>) -> Limit {
        Limit {
            id: uuid::Uuid::now_v7(),
            tenant_id: uuid::Uuid::nil(),
            scope,
            scope_id: id.into(),
            model: model.map(str::to_owned),
            rpm,
            tpm: None,
            concurrency: Some(0),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn rows_are_found_by_scope_id_and_model_without_mixing_kinds() {
        let b = LimitBook::from_rows(vec![
            row(LimitScope::Team, "blue", None, Some(10)),
            row(LimitScope::Team, "blue", Some("gpt"), Some(2)),
            row(LimitScope::User, "blue", None, Some(99)),
        ]);
        assert!(b.has_models);
        let all = b.all(LimitScope::Team, "blue").unwrap();
        assert_eq!(
            (all.rpm, all.tpm, all.concurrency),
            (Some(10), None, Some(0))
        );
        assert_eq!(b.all(LimitScope::User, "blue").unwrap().rpm, Some(99));
        assert!(b.all(LimitScope::Key, "blue").is_none());
        let m = b.model(LimitScope::Team, "blue", "gpt").unwrap();
        assert_eq!(
            (m.numbers.rpm, m.counter_id.as_str()),
            (Some(2), "blue/gpt")
        );
        assert!(b.model(LimitScope::Team, "blue", "other").is_none());
        assert!(b.model(LimitScope::Tenant, "blue", "gpt").is_none());
        // None falls back; Some(0) is an explicit "unlimited".
        assert_eq!(pick(all.tpm, 500), 500);
        assert_eq!(pick(all.concurrency, 7), 0);
        assert!(!LimitBook::from_rows(vec![]).has_models);
    }
}

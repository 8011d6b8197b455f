//! The in-memory key snapshot: every active key ([`KeyEntry`]), budget, limits row and JWT user,
//! as authentication and admission read them (no Postgres on the request path).
//!
//! Kept fresh here: loaded at start, reloaded on every Postgres
//! `NOTIFY tollgate_keys` (a new key works and a revoked key is refused within a second on every
//! replica), and polled as a fallback in case a notification was missed while disconnected.
//!
//! Postgres being down never empties the snapshot: the edge keeps serving the last one it had.
//! Limits rows and users travel with the keys (their tables notify the same channel).

pub mod limits;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tollgate_domain::Identity;

/// One key as the edge knows it.
#[derive(Debug)]
pub struct KeyEntry {
    pub key_hash: String,
    pub identity: Identity,
    /// 0 = the configured default.
    pub rpm_limit: u32,
    pub concurrency_limit: u32,
    /// The tenant allows prompt/completion text in request logs.
    pub log_content: bool,
    /// `None` = never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Public model names or aliases this key may use; empty = every model.
    pub allowed_models: Vec<String>,
}

impl KeyEntry {
    /// What routing must respect, fallbacks included.
    pub fn policy(&self) -> tollgate_proto::routing::v1::Policy {
        tollgate_proto::routing::v1::Policy {
            allowed_models: self.allowed_models.clone(),
        }
    }
}

/// Every active key, by public `key_id`, and every budget. Replaced whole on each refresh.
#[derive(Debug, Default)]
pub struct KeySnapshot {
    pub keys: HashMap<String, Arc<KeyEntry>>,
    pub budgets: crate::budgets::Budgets,
    /// Limits rows (key, user, team, tenant; all models or one).
    pub limits: limits::LimitBook,
    /// Users JWT callers are matched to by their user claim.
    pub users: JwtUsers,
}

pub type SharedSnapshot = Arc<ArcSwapOption<KeySnapshot>>;

/// A user a JWT caller can be matched to (by its tenant and `external_id`).
#[derive(Debug)]
pub struct JwtUser {
    pub id: String,
    pub team_id: String,
    pub disabled: bool,
}

/// Users by tenant id, then by `external_id`: nested so a lookup borrows both strings.
pub type JwtUsers = HashMap<String, HashMap<String, JwtUser>>;

/// Everything the snapshot is built from, loaded together.
pub struct Rows {
    pub keys: Vec<tollgate_store::keys::SnapshotKey>,
    pub budgets: Vec<tollgate_store::budgets::BudgetState>,
    pub limits: Vec<tollgate_store::limits::Limit>,
    pub users: Vec<tollgate_store::users::SnapshotUser>,
}

impl Rows {
    async fn load(pool: &PgPool) -> Result<Rows, tollgate_store::StoreError> {
        Ok(Rows {
            keys: tollgate_store::keys::snapshot(pool).await?,
            budgets: tollgate_store::budgets::snapshot(pool).await?,
            limits: tollgate_store::limits::snapshot(pool).await?,
            users: tollgate_store::users::snapshot(pool).await?,
        })
    }

    pub fn build(self) -> KeySnapshot {
        let mut s = from_rows(self.keys, self.budgets);
        s.limits = limits::LimitBook::from_rows(self.limits);
        for u in self.users {
            s.users.entry(u.tenant_id.to_string()).or_default().insert(
                u.external_id,
                JwtUser {
                    id: u.id.to_string(),
                    team_id: u.team_id.map(|t| t.to_string()).unwrap_or_default(),
                    disabled: u.disabled,
                },
            );
        }
        s
    }
}

/// Build a snapshot from the store's rows.
pub fn from_rows(
    rows: Vec<tollgate_store::keys::SnapshotKey>,
    budgets: Vec<tollgate_store::budgets::BudgetState>,
) -> KeySnapshot {
    let keys = rows
        .into_iter()
        .map(|r| {
            let entry = KeyEntry {
                key_hash: r.key_hash,
                identity: Identity {
                    tenant_id: r.tenant_id.to_string(),
                    team_id: r.team_id.map(|t| t.to_string()).unwrap_or_default(),
                    key_id: r.key_id.clone(),
                    user_id: r.user_id.map(|u| u.to_string()).unwrap_or_default(),
                },
                rpm_limit: r.rpm_limit,
                concurrency_limit: r.concurrency_limit,
                log_content: r.log_content,
                expires_at: r.expires_at,
                allowed_models: r.allowed_models,
            };
            (r.key_id, Arc::new(entry))
        })
        .collect::<HashMap<_, _>>();
    KeySnapshot {
        keys,
        budgets: crate::budgets::Budgets::from_rows(budgets),
        ..KeySnapshot::default()
    }
}

async fn reload(pool: &PgPool, target: &SharedSnapshot) -> bool {
    match Rows::load(pool).await {
        Ok(rows) => {
            let n = rows.keys.len();
            target.store(Some(Arc::new(rows.build())));
            metrics::gauge!("tollgate_edge_keys").set(n as f64);
            tracing::debug!(keys = n, "key snapshot refreshed");
            true
        }
        Err(e) => {
            metrics::counter!("tollgate_edge_snapshot_errors_total").increment(1);
            tracing::warn!(error = %e, "key snapshot refresh failed; keeping the previous one");
            false
        }
    }
}

/// Run until `stop`: listen first, then load, so no change between the two is missed.
pub async fn keep_fresh(
    pool: PgPool,
    target: SharedSnapshot,
    poll: Duration,
    stop: CancellationToken,
) {
    let reload_pool = pool.clone();
    let poll_target = target.clone();
    tollgate_store::changes::keep_fresh(
        pool,
        tollgate_store::keys::CHANNEL,
        "keys",
        || reload(&reload_pool, &target),
        || next_poll(&poll_target, poll),
        stop,
    )
    .await;
}

/// The fallback poll, or sooner when a budget period ends (the new period needs its own start
/// and a fresh spend figure).
fn next_poll(target: &SharedSnapshot, poll: Duration) -> Duration {
    let end = target.load().as_ref().and_then(|s| s.budgets.earliest_end);
    match end {
        Some(end) => {
            let until = (end - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            // Just past the boundary, so Postgres' now() is in the new period.
            poll.min(until + Duration::from_millis(50))
        }
        None => poll,
    }
}

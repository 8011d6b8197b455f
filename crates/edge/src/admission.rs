//! Admission: one Redis round trip that checks and reserves every limit and budget of the caller,
//! and the usage spool's high-water mark (a request whose usage could not be kept is not served).
//!
//! Scopes checked together: the key (its own rpm and concurrency, or the configured defaults;
//! `default_tpm`), the key's team and tenant (`team_*` / `tenant_*` from `edge.limits`, 0 =
//! unlimited) and the key's use of the requested model (`edge.limits.per_model`). Tokens per
//! minute reserve the prompt estimate plus the output allowance; settlement corrects them.
//!
//! Rows of the `limits` table (from the snapshot, set through the admin API) override those
//! numbers per scope: a key's row beats its own columns and the defaults, a user's, team's or
//! tenant's row beats `user_*` / `team_*` / `tenant_*` (a user is a key's user, or a JWT caller
//! matched to one). A row for one model is a counter of its own for that model within
//! the scope (user, team and tenant too), checked alongside the scope's all-models limits; for
//! a key it overrides `per_model`. All of it is still one Redis round trip, and every lookup
//! borrows the caller's ids.

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue};
use tollgate_domain::{Money, RequestId};
use tollgate_limits::{AdmitRequest, Decision, LimitKind, RateHeaders, Scope, ScopeKind, Ticket};

use crate::budgets::{self, BudgetEntry};
use crate::error::ApiError;
use crate::snapshot::KeyEntry;
use crate::snapshot::limits::{ModelRow, Numbers, pick};
use crate::state::AppState;
use tollgate_store::limits::LimitScope;

pub struct Admitted {
    pub ticket: Ticket,
    pub headers: LimitHeaders,
}

/// `x-ratelimit-*` headers as OpenAI sends them.
pub struct LimitHeaders(Option<RateHeaders>);

impl LimitHeaders {
    pub fn apply(&self, h: &mut HeaderMap) {
        let Some(r) = &self.0 else { return };
        Self::apply_tokens(r, h);
        if r.limit_requests == 0 {
            return;
        }
        h.insert(
            "x-ratelimit-limit-requests",
            HeaderValue::from(r.limit_requests),
        );
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from(r.remaining_requests),
        );
        if let Ok(v) = HeaderValue::from_str(&format_reset(r.reset_requests)) {
            h.insert("x-ratelimit-reset-requests", v);
        }
    }

    fn apply_tokens(r: &RateHeaders, h: &mut HeaderMap) {
        if r.limit_tokens == 0 {
            return;
        }
        h.insert(
            "x-ratelimit-limit-tokens",
            HeaderValue::from(r.limit_tokens),
        );
        h.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from(r.remaining_tokens),
        );
        if let Ok(v) = HeaderValue::from_str(&format_reset(r.reset_tokens)) {
            h.insert("x-ratelimit-reset-tokens", v);
        }
    }
}

/// A refused admission: the error, and the `x-ratelimit-*` headers that explain it (OpenAI sends
/// them on its 429s too). Turns into the plain [`ApiError`] where headers cannot be carried.
pub struct Refused {
    pub error: ApiError,
    pub headers: LimitHeaders,
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> ApiError {
        r.error
    }
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Refused {
        Refused {
            error,
            headers: LimitHeaders(None),
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut resp = self.error.into_response();
        self.headers.apply(resp.headers_mut());
        resp
    }
}

/// What a request asks of the token limits: the model (for `per_model` limits; empty for none)
/// and the tokens to reserve (prompt estimate + `max_tokens` or `budget_output_tokens`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ask<'a> {
    pub model: &'a str,
    pub tokens: u64,
}

/// OpenAI's reset format: `1s`, `6m0s`, `250ms`.
fn format_reset(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{}s", s / 60, s % 60)
    }
}

/// Checks and reserves every scope and budget of the caller in one round trip; a refusal carries
/// the rate-limit headers for the 429.
pub async fn admit_for(
    state: &AppState,
    caller: &Arc<KeyEntry>,
    rid: RequestId,
    estimate: Money,
    ask: Ask<'_>,
) -> Result<Admitted, Refused> {
    if state.usage.is_full() {
        metrics::counter!("tollgate_admission_refused_total", "reason" => "usage_spool_full")
            .increment(1);
        return Err(ApiError::Unavailable("usage cannot be recorded right now").into());
    }
    let limits = &state.limits;
    let rid = rid.to_string();
    let id = &caller.identity;
    // Limits rows and budgets come from the same snapshot the key did. An owned Arc, not a
    // guard: it lives across the Redis round trip.
    let snapshot = state.keys.load_full();
    let book = snapshot.as_deref().map(|s| &s.limits);
    let row = |kind, sid: &str| book.and_then(|b| b.all(kind, sid)).unwrap_or_default();
    let key_row = row(LimitScope::Key, &id.key_id);
    // A limits row beats the key's own columns, which beat the configured defaults.
    let rpm = pick(
        key_row.rpm,
        if caller.rpm_limit > 0 {
            caller.rpm_limit
        } else {
            limits.default_rpm
        },
    );
    let concurrency = pick(
        key_row.concurrency,
        if caller.concurrency_limit > 0 {
            caller.concurrency_limit
        } else {
            limits.default_concurrency
        },
    );
    // Per-model limits are keyed by the public model name, so an alias cannot escape them.
    let has_model_rows = book.is_some_and(|b| b.has_models);
    let prices = (!limits.per_model.is_empty() || has_model_rows).then(|| state.prices.load_full());
    let model = prices.as_ref().map_or(ask.model, |b| b.model_of(ask.model));
    let model_book = book.filter(|_| has_model_rows);
    let model_row = |kind, sid: &str| {
        model_book
            .filter(|_| !sid.is_empty())
            .and_then(|b| b.model(kind, sid, model))
    };
    let configured = limits.per_model.get(model).copied().unwrap_or_default();
    let key_model = model_row(LimitScope::Key, &id.key_id);
    let km = key_model.map(|m| m.numbers).unwrap_or_default();
    let (km_rpm, km_tpm, km_conc) = (
        pick(km.rpm, configured.rpm),
        pick(km.tpm, configured.tpm),
        pick(km.concurrency, 0),
    );
    // Allocated only when the model's limits come from the config (a row's id is prebuilt).
    let configured_id = (key_model.is_none() && (km_rpm > 0 || km_tpm > 0))
        .then(|| format!("{}/{}", id.key_id, model));
    let key_model_id = key_model
        .map(|m| m.counter_id.as_str())
        .or(configured_id.as_deref());
    let unlimited = |kind, id| Scope {
        kind,
        id,
        rpm: 0,
        concurrency: 0,
        tpm: 0,
    };
    // Fixed slots, unlimited ones skipped by the limiter: no allocation for the scope list.
    let scopes = [
        Scope {
            kind: ScopeKind::Key,
            id: &id.key_id,
            rpm,
            concurrency,
            tpm: pick(key_row.tpm, limits.default_tpm),
        },
        if id.user_id.is_empty() {
            unlimited(ScopeKind::User, "")
        } else {
            scope(
                ScopeKind::User,
                &id.user_id,
                row(LimitScope::User, &id.user_id),
                (limits.user_rpm, limits.user_tpm, limits.user_concurrency),
            )
        },
        if id.team_id.is_empty() {
            unlimited(ScopeKind::Team, "")
        } else {
            scope(
                ScopeKind::Team,
                &id.team_id,
                row(LimitScope::Team, &id.team_id),
                (limits.team_rpm, limits.team_tpm, limits.team_concurrency),
            )
        },
        scope(
            ScopeKind::Tenant,
            &id.tenant_id,
            row(LimitScope::Tenant, &id.tenant_id),
            (
                limits.tenant_rpm,
                limits.tenant_tpm,
                limits.tenant_concurrency,
            ),
        ),
        match key_model_id {
            Some(mid) => Scope {
                kind: ScopeKind::KeyModel,
                id: mid,
                rpm: km_rpm,
                concurrency: km_conc,
                tpm: km_tpm,
            },
            None => unlimited(ScopeKind::KeyModel, ""),
        },
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
    ];
    let now = chrono::Utc::now();
    let covering: Vec<&BudgetEntry> = snapshot
        .as_ref()
        .map(|s| s.budgets.covering(&caller.identity).collect())
        .unwrap_or_default();
    let budget_checks: Vec<_> = covering
        .iter()
        .map(|b| budgets::check(b, estimate, now))
        .collect();
    let req = AdmitRequest {
        tenant_id: &caller.identity.tenant_id,
        request_id: &rid,
        scopes: &scopes,
        budgets: &budget_checks,
        tokens: ask.tokens,
    };
    match state.limiter.admit(&req).await {
        Decision::Admitted {
            ticket,
            headers,
            degraded,
        } => {
            if degraded {
                metrics::counter!("tollgate_admission_degraded_total").increment(1);
            }
            Ok(Admitted {
                ticket,
                headers: LimitHeaders(Some(headers)),
            })
        }
        Decision::Limited {
            kind: LimitKind::Budget,
            scope,
            retry_after,
            budget,
            ..
        } => {
            metrics::counter!("tollgate_admission_refused_total", "reason" => "budget_exceeded")
                .increment(1);
            let b = budget.and_then(|i| covering.get(i));
            let period = b
                .map(|b| period_name(b.period_end - b.period_start))
                .unwrap_or("period");
            Err(Refused::from(ApiError::BudgetExceeded {
                scope: scope.as_str(),
                limit: b
                    .map(|b| b.limit.to_usd().normalize().to_string())
                    .unwrap_or_default(),
                period,
                resets_at: b.map(|b| b.period_end.to_rfc3339()).unwrap_or_default(),
                retry_after_s: retry_after.as_secs_f64().ceil() as u64,
            }))
        }
        Decision::Limited {
            kind,
            scope,
            limit,
            retry_after,
            headers,
            ..
        } => {
            let (code, what) = match kind {
                LimitKind::Rpm => ("rate_limit_exceeded", "requests"),
                LimitKind::Tpm => ("tokens_limit_exceeded", "tokens"),
                LimitKind::Concurrency | LimitKind::Budget => {
                    ("concurrency_limit_exceeded", "concurrent requests")
                }
            };
            metrics::counter!("tollgate_admission_refused_total", "reason" => code).increment(1);
            Err(Refused {
                error: ApiError::RateLimited {
                    code,
                    what,
                    per: if matches!(kind, LimitKind::Rpm | LimitKind::Tpm) {
                        "minute"
                    } else {
                        "moment"
                    },
                    // Reads "... per minute for this model on this key".
                    scope: match scope {
                        ScopeKind::KeyModel => "model on this key",
                        ScopeKind::UserModel => "model for this user",
                        ScopeKind::TeamModel => "model for this team",
                        ScopeKind::TenantModel => "model for this tenant",
                        other => other.as_str(),
                    },
                    limit,
                    retry_after_s: retry_after.as_secs_f64().ceil() as u64,
                },
                headers: LimitHeaders(Some(headers)),
            })
        }
        Decision::Unavailable { .. } if !budget_checks.is_empty() => {
            metrics::counter!("tollgate_admission_refused_total", "reason" => "budget_unavailable")
                .increment(1);
            // Budgets fail closed: without the shared counter, spending cannot be bounded.
            Err(ApiError::Unavailable("budgets cannot be checked right now").into())
        }
        Decision::Unavailable { .. } => {
            metrics::counter!("tollgate_admission_refused_total", "reason" => "limiter_unavailable").increment(1);
            Err(ApiError::Unavailable("the rate limiter is unreachable").into())
        }
    }
}

/// A scope from its limits row, else `fallback` (rpm, tpm, concurrency; 0 = unlimited).
fn scope(kind: ScopeKind, id: &str, n: Numbers, fallback: (u32, u32, u32)) -> Scope<'_> {
    Scope {
        kind,
        id,
        rpm: pick(n.rpm, fallback.0),
        tpm: pick(n.tpm, fallback.1),
        concurrency: pick(n.concurrency, fallback.2),
    }
}

/// A per-model scope from its row (its own counter, prebuilt id); unlimited without one.
fn per_model(kind: ScopeKind, row: Option<&ModelRow>) -> Scope<'_> {
    match row {
        Some(m) => scope(kind, &m.counter_id, m.numbers, (0, 0, 0)),
        None => Scope {
            kind,
            id: "",
            rpm: 0,
            concurrency: 0,
            tpm: 0,
        },
    }
}

/// A period's name from its length (months vary, days may be 23 or 25 hours at DST changes).
fn period_name(d: chrono::Duration) -> &'static str {
    let hours = d.num_hours();
    if hours <= 25 {
        "day"
    } else if hours <= 169 {
        "week"
    } else {
        "month"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_durations_look_like_openais() {
        assert_eq!(format_reset(Duration::from_millis(250)), "250ms");
        assert_eq!(format_reset(Duration::from_secs(7)), "7s");
        assert_eq!(format_reset(Duration::from_secs(360)), "6m0s");
    }

    #[test]
    fn token_headers_appear_only_when_a_scope_limits_tokens() {
        let mut h = HeaderMap::new();
        LimitHeaders(Some(RateHeaders {
            limit_requests: 10,
            remaining_requests: 9,
            reset_requests: Duration::from_secs(6),
            ..RateHeaders::default()
        }))
        .apply(&mut h);
        assert_eq!(h["x-ratelimit-remaining-requests"], "9");
        assert!(!h.contains_key("x-ratelimit-limit-tokens"));
        let mut h = HeaderMap::new();
        LimitHeaders(Some(RateHeaders {
            limit_tokens: 1000,
            remaining_tokens: 250,
            reset_tokens: Duration::from_millis(1500),
            ..RateHeaders::default()
        }))
        .apply(&mut h);
        assert_eq!(h["x-ratelimit-limit-tokens"], "1000");
        assert_eq!(h["x-ratelimit-remaining-tokens"], "250");
        assert_eq!(h["x-ratelimit-reset-tokens"], "1s");
        assert!(!h.contains_key("x-ratelimit-limit-requests"));
    }
}

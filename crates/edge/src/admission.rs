//! Admission: one Redis round trip that checks and reserves every limit and budget of the caller,
//! and the usage spool's high-water mark (a request whose usage could not be kept is not served).

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use tollgate_domain::{Money, RequestId};
use tollgate_limits::{AdmitRequest, Decision, LimitKind, RateHeaders, Scope, ScopeKind, Ticket};

use crate::auth::KeyEntry;
use crate::budgets::{self, BudgetEntry};
use crate::error::ApiError;
use crate::state::AppState;

pub struct Admitted {
    pub ticket: Ticket,
    pub headers: LimitHeaders,
}

/// `x-ratelimit-*` headers as OpenAI sends them.
pub struct LimitHeaders(Option<RateHeaders>);

impl LimitHeaders {
    pub fn apply(&self, h: &mut HeaderMap) {
        let Some(r) = &self.0 else { return };
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

pub async fn admit(
    state: &AppState,
    caller: &Arc<KeyEntry>,
    rid: RequestId,
    estimate: Money,
) -> Result<Admitted, ApiError> {
    if state.usage.is_full() {
        metrics::counter!("tollgate_admission_refused_total", "reason" => "usage_spool_full")
            .increment(1);
        return Err(ApiError::Unavailable("usage cannot be recorded right now"));
    }
    let rpm = if caller.rpm_limit > 0 {
        caller.rpm_limit
    } else {
        state.limits.default_rpm
    };
    let concurrency = if caller.concurrency_limit > 0 {
        caller.concurrency_limit
    } else {
        state.limits.default_concurrency
    };
    let rid = rid.to_string();
    let scopes = [Scope {
        kind: ScopeKind::Key,
        id: &caller.identity.key_id,
        rpm,
        concurrency,
    }];
    // Budgets come from the same snapshot the key did; most callers have none (no allocation).
    let snapshot = state.keys.load();
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
            Err(ApiError::BudgetExceeded {
                scope: scope.as_str(),
                limit: b
                    .map(|b| b.limit.to_usd().normalize().to_string())
                    .unwrap_or_default(),
                period,
                resets_at: b.map(|b| b.period_end.to_rfc3339()).unwrap_or_default(),
                retry_after_s: retry_after.as_secs_f64().ceil() as u64,
            })
        }
        Decision::Limited {
            kind,
            scope,
            limit,
            retry_after,
            ..
        } => {
            let (code, what) = match kind {
                LimitKind::Rpm => ("rate_limit_exceeded", "requests"),
                LimitKind::Concurrency | LimitKind::Budget => {
                    ("concurrency_limit_exceeded", "concurrent requests")
                }
            };
            metrics::counter!("tollgate_admission_refused_total", "reason" => code).increment(1);
            Err(ApiError::RateLimited {
                code,
                what,
                per: if matches!(kind, LimitKind::Rpm) {
                    "minute"
                } else {
                    "moment"
                },
                scope: scope.as_str(),
                limit,
                retry_after_s: retry_after.as_secs_f64().ceil() as u64,
            })
        }
        Decision::Unavailable { .. } if !budget_checks.is_empty() => {
            metrics::counter!("tollgate_admission_refused_total", "reason" => "budget_unavailable")
                .increment(1);
            // Budgets fail closed: without the shared counter, spending cannot be bounded.
            Err(ApiError::Unavailable("budgets cannot be checked right now"))
        }
        Decision::Unavailable { .. } => {
            metrics::counter!("tollgate_admission_refused_total", "reason" => "limiter_unavailable").increment(1);
            Err(ApiError::Unavailable("the rate limiter is unreachable"))
        }
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
}

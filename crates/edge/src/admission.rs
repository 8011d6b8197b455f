//! Admission: one Redis round trip that checks and reserves every limit and budget of the caller,
//! and the usage spool's high-water mark (a request whose usage could not be kept is not served).
//!
//! Three steps, each with one job: [`Plan`] (pure: which scopes, limits, budgets and
//! reservations apply, `admission/plan.rs`), `reserve` (the one Redis round trip), and `decide`
//! (the decision as the client meets it: the refusal's error, headers and metric).
//!
//! Scopes checked together: the key (its own rpm and concurrency, or the configured defaults;
//! `default_tpm`), its user, team and tenant (`user_*` / `team_*` / `tenant_*` from
//! `edge.limits`, 0 = unlimited), and the requested model within each of them
//! (`edge.limits.per_model` for the key; rows of the `limits` table for all four). Tokens per
//! minute reserve the prompt estimate plus the output allowance; settlement corrects them.
//! Every budget covering the caller reserves the request's estimated cost.

mod plan;

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue};
use tollgate_domain::{Money, RequestId};
use tollgate_limits::{AdmitRequest, Decision, LimitKind, RateHeaders, ScopeKind, Ticket};

use crate::budgets::BudgetEntry;
use crate::error::ApiError;
use crate::snapshot::KeyEntry;
use crate::state::AppState;
use plan::Plan;

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
    // Limits rows and budgets come from the same snapshot the key did. Owned Arcs, not guards:
    // they live across the Redis round trip.
    let snapshot = state.keys.load_full();
    let pricing =
        Plan::needs_model(&state.limits, snapshot.as_deref()).then(|| state.prices.load_full());
    let model = pricing
        .as_ref()
        .map_or(ask.model, |p| p.model_of(ask.model));
    let plan = Plan::new(
        &state.limits,
        snapshot.as_deref(),
        caller,
        model,
        estimate,
        chrono::Utc::now(),
    );
    let decision = reserve(state, &plan, caller, rid, ask.tokens).await;
    decide(decision, &plan)
}

/// The one Redis round trip: check and reserve everything the plan holds.
async fn reserve(
    state: &AppState,
    plan: &Plan<'_>,
    caller: &KeyEntry,
    rid: RequestId,
    tokens: u64,
) -> Decision {
    let rid = rid.to_string();
    // Fixed slots, unlimited ones skipped by the limiter: no allocation for the scope list.
    let scopes = plan.scopes();
    let req = AdmitRequest {
        tenant_id: &caller.identity.tenant_id,
        request_id: &rid,
        scopes: &scopes,
        budgets: plan.budgets(),
        tokens,
    };
    // Rate limits have a local fallback, so a slow Redis is given only a short budget before
    // it is treated as down; budgets have none and wait the full timeout.
    state
        .limiter
        .admit_within(&req, state.limits.admit_timeout)
        .await
}

/// The limiter's decision as the client meets it: admitted with its headers, or the refusal
/// (error, headers, and its metric).
#[allow(
    clippy::result_large_err,
    reason = "the same Result admit_for returns, moved once; boxing would allocate per refusal"
)]
fn decide(decision: Decision, plan: &Plan<'_>) -> Result<Admitted, Refused> {
    let refused = |reason: &'static str| {
        metrics::counter!("tollgate_admission_refused_total", "reason" => reason).increment(1);
    };
    match decision {
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
            refused("budget_exceeded");
            let b = budget.and_then(|i| plan.budget(i));
            Err(Refused::from(budget_exceeded(scope, b, retry_after)))
        }
        Decision::Limited {
            kind,
            scope,
            limit,
            retry_after,
            headers,
            ..
        } => {
            let error = rate_limited(kind, scope, limit, retry_after);
            refused(error.code());
            Err(Refused {
                error,
                headers: LimitHeaders(Some(headers)),
            })
        }
        Decision::Unavailable { .. } if !plan.budgets().is_empty() => {
            refused("budget_unavailable");
            // Budgets fail closed: without the shared counter, spending cannot be bounded.
            Err(ApiError::Unavailable("budgets cannot be checked right now").into())
        }
        Decision::Unavailable { .. } => {
            refused("limiter_unavailable");
            Err(ApiError::Unavailable("the rate limiter is unreachable").into())
        }
    }
}

/// The refusal of a spent budget `b` (named in the message when known).
fn budget_exceeded(scope: ScopeKind, b: Option<&BudgetEntry>, retry_after: Duration) -> ApiError {
    ApiError::BudgetExceeded {
        scope: scope.as_str(),
        limit: b
            .map(|b| b.limit.to_usd().normalize().to_string())
            .unwrap_or_default(),
        period: b
            .map(|b| period_name(b.period_end - b.period_start))
            .unwrap_or("period"),
        resets_at: b.map(|b| b.period_end.to_rfc3339()).unwrap_or_default(),
        retry_after_s: retry_after.as_secs_f64().ceil() as u64,
    }
}

/// The refusal of a rate, token or concurrency limit.
fn rate_limited(kind: LimitKind, scope: ScopeKind, limit: u32, retry_after: Duration) -> ApiError {
    let (code, what) = match kind {
        LimitKind::Rpm => ("rate_limit_exceeded", "requests"),
        LimitKind::Tpm => ("tokens_limit_exceeded", "tokens"),
        LimitKind::Concurrency | LimitKind::Budget => {
            ("concurrency_limit_exceeded", "concurrent requests")
        }
    };
    ApiError::RateLimited {
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

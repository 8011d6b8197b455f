//! OpenRouter-compatible surface, so OpenRouter clients work with only a base URL change:
//! `/api/v1/chat/completions` and `/api/v1/models` (aliases of the `/v1` routes),
//! `GET /api/v1/key` (the calling key's spend, and its budget as `limit` / `limit_remaining`) and `GET /api/v1/generation?id=`
//! (the exact cost of one request, from the ledger). Both read billing, never on the chat path.

use axum::Extension;
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_domain::Money;
use tollgate_limits::ScopeKind;
use tollgate_proto::billing::v1 as bill;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// A decimal USD string as a JSON number (OpenRouter's clients expect numbers); the exact string
/// is returned beside it.
fn usd_number(s: &str) -> Value {
    s.parse::<f64>().map(Value::from).unwrap_or(Value::Null)
}

pub async fn key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let id = &caller.0.identity;
    let now = chrono::Utc::now();
    let spend = state
        .billing
        .clone()
        .get_spend(bill::GetSpendRequest {
            tenant_id: id.tenant_id.clone(),
            key_id: id.key_id.clone(),
            from: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: 0,
            }),
            to: Some(prost_types::Timestamp {
                seconds: now.timestamp() + 1,
                nanos: 0,
            }),
            group_by: bill::GroupBy::Tenant as i32,
            ..bill::GetSpendRequest::default()
        })
        .await
        .map_err(|s| ApiError::from_status(&s))?
        .into_inner();
    let usage = spend
        .total
        .map(|t| t.cost_usd)
        .unwrap_or_else(|| "0".into());
    let limit = key_budget(&state, &caller).await?;
    let rpm = if caller.0.rpm_limit > 0 {
        caller.0.rpm_limit
    } else {
        state.limits.default_rpm
    };
    Ok(Json(json!({
        "data": {
            "label": id.key_id,
            "usage": usd_number(&usage),
            "usage_usd": usage,
            // The key's own budget (the tightest one when it has several); null without one.
            "limit": limit.as_ref().map(|l| usd_number(&l.limit)),
            "limit_remaining": limit.as_ref().map(|l| usd_number(&l.remaining)),
            "limit_reset": limit.as_ref().map(|l| l.reset),
            "is_free_tier": false,
            "rate_limit": { "requests": rpm, "interval": "1m" },
        }
    })))
}

/// A key budget as OpenRouter reports a key's credit limit (decimal USD strings).
struct KeyLimit {
    limit: String,
    remaining: String,
    reset: &'static str,
}

/// The key-scope budget with the least room left, with its period's spend from the ledger (what
/// has been settled; requests still running are not in it).
async fn key_budget(state: &AppState, caller: &Caller) -> Result<Option<KeyLimit>, ApiError> {
    let id = &caller.0.identity;
    let periods: Vec<(Money, DateTime<Utc>, DateTime<Utc>)> = state
        .keys
        .load_full()
        .map(|s| {
            s.budgets
                .covering(id)
                .filter(|b| b.scope == ScopeKind::Key)
                .map(|b| (b.limit, b.period_start, b.period_end))
                .collect()
        })
        .unwrap_or_default();
    let mut best: Option<(Money, Money, &'static str)> = None;
    for (limit, start, end) in periods {
        let spend = state
            .billing
            .clone()
            .get_spend(bill::GetSpendRequest {
                tenant_id: id.tenant_id.clone(),
                key_id: id.key_id.clone(),
                from: Some(timestamp(start)),
                to: Some(timestamp(end)),
                group_by: bill::GroupBy::Tenant as i32,
                ..bill::GetSpendRequest::default()
            })
            .await
            .map_err(|s| ApiError::from_status(&s))?
            .into_inner();
        let spent = spend
            .total
            .and_then(|t| Money::parse_usd(&t.cost_usd).ok())
            .unwrap_or(Money::ZERO);
        let remaining = if spent >= limit {
            Money::ZERO
        } else {
            Money::from_picos(limit.picos() - spent.picos())
        };
        if best.is_none_or(|(_, r, _)| remaining < r) {
            best = Some((limit, remaining, reset_name(end - start)));
        }
    }
    Ok(best.map(|(limit, remaining, reset)| KeyLimit {
        limit: crate::cost::decimal(limit),
        remaining: crate::cost::decimal(remaining),
        reset,
    }))
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// OpenRouter's `limit_reset` words for a calendar period's length (a month is 28–31 days; a
/// day can be 23 or 25 hours across a time-zone change).
fn reset_name(len: chrono::Duration) -> &'static str {
    match len.num_hours() {
        ..=25 => "daily",
        26..=169 => "weekly",
        _ => "monthly",
    }
}

#[derive(Deserialize)]
pub struct GenerationParams {
    id: Option<String>,
}

pub async fn generation(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<GenerationParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text(), Some("id".into())))?;
    let id = q.id.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::bad_request("The `id` query parameter is required.", Some("id".into()))
    })?;
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::bad_request(
            "`id` must be a request id as returned in `x-request-id`.",
            Some("id".into()),
        ));
    }
    let g = state
        .billing
        .clone()
        .get_generation(bill::GetGenerationRequest {
            tenant_id: caller.0.identity.tenant_id.clone(),
            request_id: id.clone(),
        })
        .await
        .map_err(|s| match ApiError::from_status(&s) {
            // Usage lands a moment after the response; until then, and for other tenants' ids.
            ApiError::NotFound(_) => {
                ApiError::NotFound(format!("Generation {id} not found (yet)."))
            }
            other => other,
        })?
        .into_inner();
    let e = g.event.unwrap_or_default();
    let created = e
        .started_at
        .and_then(|t| {
            chrono::DateTime::<chrono::Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32)
        })
        .map(|d| d.to_rfc3339());
    Ok(Json(json!({
        "data": {
            "id": e.request_id,
            "total_cost": usd_number(&g.cost_usd),
            "total_cost_usd": g.cost_usd,
            "created_at": created,
            "model": e.model,
            "provider_name": e.provider,
            "deployment": e.deployment,
            "streamed": e.stream,
            "latency": e.latency_ms,
            "tokens_prompt": e.input_tokens,
            "tokens_completion": e.output_tokens,
            "native_tokens_prompt": e.input_tokens,
            "native_tokens_completion": e.output_tokens,
            "native_tokens_cached": e.cached_input_tokens,
            "native_tokens_reasoning": e.reasoning_tokens,
            "status": e.http_status,
            "outcome": e.outcome,
            "price_version": g.price_version,
            // Billed besides tokens (images, characters, seconds of audio, search units).
            "billed_unit": (!e.billed_unit.is_empty()).then_some(&e.billed_unit),
            "billed_units": (!e.billed_unit.is_empty()).then_some(e.billed_units),
        }
    })))
}

//! OpenRouter-compatible surface, so OpenRouter clients work with only a base URL change:
//! `/api/v1/chat/completions` and `/api/v1/models` (aliases of the `/v1` routes),
//! `GET /api/v1/key` (the calling key's spend and limits) and `GET /api/v1/generation?id=`
//! (the exact cost of one request, from the ledger). Both read billing, never on the chat path.

use axum::Extension;
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::billing::v1 as bill;

use crate::auth::Caller;
use crate::error::{ApiError, from_status};
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
        .map_err(|s| from_status(&s))?
        .into_inner();
    let usage = spend
        .total
        .map(|t| t.cost_usd)
        .unwrap_or_else(|| "0".into());
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
            // Budgets are not enforced per key yet: no spending limit.
            "limit": null,
            "limit_remaining": null,
            "is_free_tier": false,
            "rate_limit": { "requests": rpm, "interval": "1m" },
        }
    })))
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
        .map_err(|s| match s.code() {
            // Usage lands a moment after the response; until then, and for other tenants' ids.
            tonic::Code::NotFound => {
                ApiError::NotFound(format!("Generation {id} not found (yet)."))
            }
            _ => from_status(&s),
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
        }
    })))
}

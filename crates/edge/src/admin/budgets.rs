//! Budgets: defined through billing, enforced by the edge from its snapshot.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::billing::v1 as bill;

use super::{bad_json, rpc, ts};
use crate::error::ApiError;
use crate::state::AppState;

fn budget_json(b: bill::Budget) -> Value {
    json!({
        "id": b.id, "tenant_id": b.tenant_id, "scope": b.scope, "scope_id": b.scope_id,
        "period": b.period, "timezone": b.timezone, "limit_usd": b.limit_usd,
        "created_at": ts(b.created_at), "alert_thresholds": b.alert_thresholds,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewBudget {
    scope: String,
    #[serde(default)]
    scope_id: String,
    period: String,
    #[serde(default)]
    timezone: String,
    /// Decimal string, e.g. "25.00" (a JSON number is refused: money is never a float here).
    limit_usd: String,
    /// Fractions of the limit that fire the soft-limit webhook once per period, e.g.
    /// `[0.5, 0.8, 1.0]`.
    #[serde(default)]
    alert_thresholds: Vec<f64>,
}

pub(super) async fn create_budget(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<NewBudget>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(b) = body.map_err(bad_json)?;
    let created = rpc(s.billing.clone().create_budget(bill::CreateBudgetRequest {
        tenant_id: tenant,
        scope: b.scope,
        scope_id: b.scope_id,
        period: b.period,
        timezone: b.timezone,
        limit_usd: b.limit_usd,
        alert_thresholds: b.alert_thresholds,
    }))
    .await?;
    Ok((StatusCode::CREATED, Json(budget_json(created))))
}

pub(super) async fn list_budgets(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = rpc(s
        .billing
        .clone()
        .list_budgets(bill::ListBudgetsRequest { tenant_id: tenant }))
    .await?;
    let data: Vec<Value> = r.budgets.into_iter().map(budget_json).collect();
    Ok(Json(json!({ "data": data })))
}

pub(super) async fn delete_budget(
    State(s): State<AppState>,
    Path((tenant, budget)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let b = rpc(s.billing.clone().delete_budget(bill::DeleteBudgetRequest {
        tenant_id: tenant,
        budget_id: budget,
    }))
    .await?;
    Ok(Json(budget_json(b)))
}

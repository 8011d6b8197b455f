//! Limits per key, user, team or tenant (optionally per model): `PUT` sets (creates or replaces)
//! the one row of a scope and model, `GET` lists the tenant's rows, `DELETE` removes one so the
//! scope falls back to the configured defaults. Edges pick changes up by NOTIFY within a second.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::billing::v1 as bill;

use super::{bad_json, rpc, ts};
use crate::error::ApiError;
use crate::state::AppState;

const SCOPES: [&str; 4] = ["key", "user", "team", "tenant"];

fn limit_json(l: bill::Limit) -> Value {
    json!({
        "id": l.id, "tenant_id": l.tenant_id, "scope": l.scope, "scope_id": l.scope_id,
        "model": if l.model.is_empty() { Value::Null } else { Value::String(l.model) },
        "rpm": l.rpm, "tpm": l.tpm, "concurrency": l.concurrency,
        "created_at": ts(l.created_at), "updated_at": ts(l.updated_at),
    })
}

/// `null` or absent = the configured default for the scope; `0` = unlimited.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetLimit {
    scope: String,
    /// The key id, user id or team id; may be left out for scope `tenant`.
    #[serde(default, alias = "id")]
    scope_id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    rpm: Option<u32>,
    #[serde(default)]
    tpm: Option<u32>,
    #[serde(default)]
    concurrency: Option<u32>,
}

pub(super) async fn set_limit(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<SetLimit>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body.map_err(bad_json)?;
    if !SCOPES.contains(&b.scope.as_str()) {
        return Err(ApiError::bad_request(
            format!(
                "`scope` must be one of key, user, team, tenant; got `{}`",
                b.scope
            ),
            Some("scope".into()),
        ));
    }
    if b.scope != "tenant" && b.scope_id.as_deref().is_none_or(|i| i.trim().is_empty()) {
        return Err(ApiError::bad_request(
            format!("`scope_id` is required for a {} limit", b.scope),
            Some("scope_id".into()),
        ));
    }
    if b.rpm.is_none() && b.tpm.is_none() && b.concurrency.is_none() {
        return Err(ApiError::bad_request(
            "Set at least one of `rpm`, `tpm`, `concurrency` (0 = unlimited).",
            Some("rpm".into()),
        ));
    }
    let l = rpc(s.billing.clone().set_limit(bill::SetLimitRequest {
        tenant_id: tenant,
        scope: b.scope,
        scope_id: b.scope_id.unwrap_or_default(),
        model: b.model.unwrap_or_default(),
        rpm: b.rpm,
        tpm: b.tpm,
        concurrency: b.concurrency,
    }))
    .await?;
    Ok(Json(limit_json(l)))
}

pub(super) async fn list_limits(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = rpc(s
        .billing
        .clone()
        .list_limits(bill::ListLimitsRequest { tenant_id: tenant }))
    .await?;
    let data: Vec<Value> = r.limits.into_iter().map(limit_json).collect();
    Ok(Json(json!({ "data": data })))
}

pub(super) async fn delete_limit(
    State(s): State<AppState>,
    Path((tenant, limit)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let l = rpc(s.billing.clone().delete_limit(bill::DeleteLimitRequest {
        tenant_id: tenant,
        limit_id: limit,
    }))
    .await?;
    Ok(Json(limit_json(l)))
}

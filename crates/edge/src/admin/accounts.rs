//! Tenants, teams and keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::billing::v1 as bill;

use super::{bad_json, rpc, ts};
use crate::error::ApiError;
use crate::state::AppState;

fn tenant_json(t: bill::Tenant) -> Value {
    json!({"id": t.id, "name": t.name, "log_content": t.log_content, "created_at": ts(t.created_at)})
}

fn key_json(k: bill::ApiKey) -> Value {
    json!({
        "id": k.id, "tenant_id": k.tenant_id,
        "team_id": if k.team_id.is_empty() { Value::Null } else { Value::String(k.team_id) },
        "name": k.name, "revoked": k.revoked, "created_at": ts(k.created_at),
        "rpm_limit": k.rpm_limit, "concurrency_limit": k.concurrency_limit,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTenant {
    name: String,
    #[serde(default)]
    log_content: bool,
}

pub(super) async fn create_tenant(
    State(s): State<AppState>,
    body: Result<Json<NewTenant>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(b) = body.map_err(bad_json)?;
    let t = rpc(s.billing.clone().create_tenant(bill::CreateTenantRequest {
        name: b.name,
        log_content: b.log_content,
    }))
    .await?;
    Ok((StatusCode::CREATED, Json(tenant_json(t))))
}

pub(super) async fn list_tenants(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let r = rpc(s.billing.clone().list_tenants(bill::ListTenantsRequest {})).await?;
    let data: Vec<Value> = r.tenants.into_iter().map(tenant_json).collect();
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTeam {
    name: String,
}

pub(super) async fn create_team(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<NewTeam>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(b) = body.map_err(bad_json)?;
    let t = rpc(s.billing.clone().create_team(bill::CreateTeamRequest {
        tenant_id: tenant,
        name: b.name,
    }))
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": t.id, "tenant_id": t.tenant_id, "name": t.name})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    #[serde(default)]
    name: String,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    rpm_limit: u32,
    #[serde(default)]
    concurrency_limit: u32,
}

pub(super) async fn create_key(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<NewKey>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(b) = body.map_err(bad_json)?;
    let k = rpc(s.billing.clone().create_key(bill::CreateKeyRequest {
        tenant_id: tenant,
        team_id: b.team_id.unwrap_or_default(),
        name: b.name,
        rpm_limit: b.rpm_limit,
        concurrency_limit: b.concurrency_limit,
    }))
    .await?;
    let key = k.key.map(key_json).unwrap_or(Value::Null);
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": key, "secret": k.secret})),
    ))
}

pub(super) async fn list_keys(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = rpc(s
        .billing
        .clone()
        .list_keys(bill::ListKeysRequest { tenant_id: tenant }))
    .await?;
    let data: Vec<Value> = r.keys.into_iter().map(key_json).collect();
    Ok(Json(json!({ "data": data })))
}

pub(super) async fn revoke_key(
    State(s): State<AppState>,
    Path((tenant, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let k = rpc(s.billing.clone().revoke_key(bill::RevokeKeyRequest {
        tenant_id: tenant,
        key_id: key,
    }))
    .await?;
    Ok(Json(key_json(k)))
}

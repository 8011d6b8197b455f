//! Users of a tenant. Keys are issued to a user with `user_id` in the key's creation body;
//! disabling a user (DELETE) stops its keys on every edge within a second.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::billing::v1 as bill;

use super::{bad_json, rpc, ts};
use crate::error::ApiError;
use crate::state::AppState;

fn opt(s: String) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::String(s)
    }
}

pub(super) fn user_json(u: bill::User) -> Value {
    let disabled = u.disabled_at.is_some();
    json!({
        "id": u.id, "tenant_id": u.tenant_id, "team_id": opt(u.team_id),
        "external_id": opt(u.external_id), "email": opt(u.email), "name": u.name,
        "created_at": ts(u.created_at), "disabled_at": ts(u.disabled_at), "disabled": disabled,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    team_id: Option<String>,
}

pub(super) async fn create_user(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<NewUser>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(b) = body.map_err(bad_json)?;
    let u = rpc(s.billing.clone().create_user(bill::CreateUserRequest {
        tenant_id: tenant,
        team_id: b.team_id.unwrap_or_default(),
        external_id: b.external_id.unwrap_or_default(),
        email: b.email.unwrap_or_default(),
        name: b.name,
    }))
    .await?;
    Ok((StatusCode::CREATED, Json(user_json(u))))
}

pub(super) async fn list_users(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = rpc(s
        .billing
        .clone()
        .list_users(bill::ListUsersRequest { tenant_id: tenant }))
    .await?;
    let data: Vec<Value> = r.users.into_iter().map(user_json).collect();
    Ok(Json(json!({ "data": data })))
}

pub(super) async fn get_user(
    State(s): State<AppState>,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let u = rpc(s.billing.clone().get_user(bill::GetUserRequest {
        tenant_id: tenant,
        user_id: user,
    }))
    .await?;
    Ok(Json(user_json(u)))
}

pub(super) async fn disable_user(
    State(s): State<AppState>,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let u = rpc(s.billing.clone().disable_user(bill::DisableUserRequest {
        tenant_id: tenant,
        user_id: user,
    }))
    .await?;
    Ok(Json(user_json(u)))
}

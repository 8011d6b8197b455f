//! Tenants, teams and keys.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tollgate_proto::billing::v1 as bill;

use super::{bad_json, rpc, to_ts, ts};
use crate::error::ApiError;
use crate::state::AppState;

fn tenant_json(t: bill::Tenant) -> Value {
    json!({"id": t.id, "name": t.name, "log_content": t.log_content, "created_at": ts(t.created_at)})
}

fn key_json(k: bill::ApiKey) -> Value {
    let expired = k
        .expires_at
        .is_some_and(|t| t.seconds <= Utc::now().timestamp());
    // Sorted, so the same key always prints the same.
    let metadata: std::collections::BTreeMap<String, String> = k.metadata.into_iter().collect();
    json!({
        "id": k.id, "tenant_id": k.tenant_id,
        "team_id": if k.team_id.is_empty() { Value::Null } else { Value::String(k.team_id) },
        "name": k.name, "revoked": k.revoked, "created_at": ts(k.created_at),
        "rpm_limit": k.rpm_limit, "concurrency_limit": k.concurrency_limit,
        "expires_at": ts(k.expires_at), "expired": expired,
        "allowed_models": k.allowed_models, "metadata": metadata,
        "rotated_from": if k.rotated_from.is_empty() { Value::Null } else { Value::String(k.rotated_from) },
        "user_id": if k.user_id.is_empty() { Value::Null } else { Value::String(k.user_id) },
    })
}

/// `0`, `90s`, `30m`, `1h`, `30d`, `2w`.
fn span(field: &str, value: &str) -> Result<Duration, ApiError> {
    let bad = || {
        ApiError::bad_request(
            format!(
                "`{field}` must be a number and a unit (s, m, h, d, w), like 1h; got `{value}`"
            ),
            Some(field.to_owned()),
        )
    };
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let per = match unit {
        "" if n == 0 => 0,
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(per).map(Duration::from_secs).ok_or_else(bad)
}

/// Metadata values must be strings (it is for labels, and never used for auth).
fn metadata(m: Map<String, Value>) -> Result<HashMap<String, String>, ApiError> {
    m.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            _ => Err(ApiError::bad_request(
                format!("`metadata.{k}` must be a string"),
                Some(format!("metadata.{k}")),
            )),
        })
        .collect()
}

fn expiry(
    at: Option<String>,
    within: Option<String>,
) -> Result<Option<prost_types::Timestamp>, ApiError> {
    match (at, within) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "Give `expires_at` or `expires_in`, not both.",
            Some("expires_at".into()),
        )),
        (Some(at), None) => DateTime::parse_from_rfc3339(&at)
            .map(|t| Some(to_ts(t.with_timezone(&Utc))))
            .map_err(|_| {
                ApiError::bad_request(
                    "`expires_at` must be an RFC 3339 time, like 2026-12-31T00:00:00Z",
                    Some("expires_at".into()),
                )
            }),
        (None, Some(within)) => {
            let d = span("expires_in", &within)?;
            let d = chrono::Duration::from_std(d).map_err(|_| {
                ApiError::bad_request("`expires_in` is too long", Some("expires_in".into()))
            })?;
            Utc::now()
                .checked_add_signed(d)
                .map(|t| Some(to_ts(t)))
                .ok_or_else(|| {
                    ApiError::bad_request("`expires_in` is too long", Some("expires_in".into()))
                })
        }
        (None, None) => Ok(None),
    }
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

/// Every tenant for the admin token; a tenant admin sees its own tenant only.
pub(super) async fn list_tenants(
    State(s): State<AppState>,
    caller: Option<Extension<super::AdminCaller>>,
) -> Result<Json<Value>, ApiError> {
    let r = rpc(s.billing.clone().list_tenants(bill::ListTenantsRequest {})).await?;
    let data: Vec<Value> = r
        .tenants
        .into_iter()
        .filter(|t| match caller.as_deref() {
            Some(super::AdminCaller::Tenant(own)) => t.id.eq_ignore_ascii_case(own),
            _ => true,
        })
        .map(tenant_json)
        .collect();
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
    /// The user the key is issued to (its requests are limited and billed under the user).
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    rpm_limit: u32,
    #[serde(default)]
    concurrency_limit: u32,
    /// RFC 3339; or `expires_in`, a span from now like `30d`.
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    expires_in: Option<String>,
    #[serde(default)]
    allowed_models: Vec<String>,
    #[serde(default)]
    metadata: Map<String, Value>,
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
        expires_at: expiry(b.expires_at, b.expires_in)?,
        allowed_models: b.allowed_models,
        metadata: metadata(b.metadata)?,
        user_id: b.user_id.unwrap_or_default(),
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

pub(super) async fn get_key(
    State(s): State<AppState>,
    Path((tenant, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let k = rpc(s.billing.clone().get_key(bill::GetKeyRequest {
        tenant_id: tenant,
        key_id: key,
    }))
    .await?;
    Ok(Json(key_json(k)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// How long the old key keeps working: `1h` when absent, `0` = it stops now.
    #[serde(default)]
    overlap: Option<String>,
}

/// The body is optional: an empty one rotates with the default overlap.
pub(super) async fn rotate_key(
    State(s): State<AppState>,
    Path((tenant, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let r: Rotation = if body.iter().all(u8::is_ascii_whitespace) {
        Rotation::default()
    } else {
        serde_json::from_slice(&body).map_err(bad_json)?
    };
    let overlap_seconds = r
        .overlap
        .map(|o| span("overlap", &o).map(|d| d.as_secs()))
        .transpose()?;
    let r = rpc(s.billing.clone().rotate_key(bill::RotateKeyRequest {
        tenant_id: tenant,
        key_id: key,
        overlap_seconds,
    }))
    .await?;
    let (key, secret) = r
        .created
        .map(|c| (c.key.map(key_json).unwrap_or(Value::Null), c.secret))
        .unwrap_or((Value::Null, String::new()));
    let old = r.old.map(key_json).unwrap_or(Value::Null);
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": key, "secret": secret, "old_key": old})),
    ))
}

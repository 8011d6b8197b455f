//! `/admin/v1`: tenants, teams, keys, spend and logs, backed by billing and logging over gRPC.
//! Needs the admin token (checked by `auth::require_credential`). A created key's secret is in
//! the creation response only.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::billing::v1 as bill;
use tollgate_proto::logging::v1 as logq;

use crate::error::{ApiError, from_status};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/tenants", post(create_tenant).get(list_tenants))
        .route("/admin/v1/tenants/{tenant}/teams", post(create_team))
        .route(
            "/admin/v1/tenants/{tenant}/keys",
            post(create_key).get(list_keys),
        )
        .route("/admin/v1/tenants/{tenant}/keys/{key}", delete(revoke_key))
        .route("/admin/v1/tenants/{tenant}/spend", get(spend))
        .route("/admin/v1/tenants/{tenant}/logs", get(logs))
        .route("/admin/v1/tenants/{tenant}/usage", get(usage))
        .route(
            "/admin/v1/tenants/{tenant}/budgets",
            post(create_budget).get(list_budgets),
        )
        .route(
            "/admin/v1/tenants/{tenant}/budgets/{budget}",
            delete(delete_budget),
        )
}

fn ts(t: Option<prost_types::Timestamp>) -> Value {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|d| Value::String(d.to_rfc3339()))
        .unwrap_or(Value::Null)
}

fn to_ts(d: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: d.timestamp(),
        nanos: d.timestamp_subsec_nanos() as i32,
    }
}

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

fn bad_json<E: std::fmt::Display>(e: E) -> ApiError {
    ApiError::bad_request(format!("Invalid JSON body: {e}"), None)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    #[serde(default)]
    log_content: bool,
}

async fn create_tenant(
    State(s): State<AppState>,
    body: Result<Json<NewTenant>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(b) = body.map_err(bad_json)?;
    let t = s
        .billing
        .clone()
        .create_tenant(bill::CreateTenantRequest {
            name: b.name,
            log_content: b.log_content,
        })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    Ok((StatusCode::CREATED, Json(tenant_json(t))))
}

async fn list_tenants(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let r = s
        .billing
        .clone()
        .list_tenants(bill::ListTenantsRequest {})
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    let data: Vec<Value> = r.tenants.into_iter().map(tenant_json).collect();
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    name: String,
}

async fn create_team(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<NewTeam>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(b) = body.map_err(bad_json)?;
    let t = s
        .billing
        .clone()
        .create_team(bill::CreateTeamRequest {
            tenant_id: tenant,
            name: b.name,
        })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": t.id, "tenant_id": t.tenant_id, "name": t.name})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[serde(default)]
    name: String,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    rpm_limit: u32,
    #[serde(default)]
    concurrency_limit: u32,
}

async fn create_key(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<NewKey>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(b) = body.map_err(bad_json)?;
    let k = s
        .billing
        .clone()
        .create_key(bill::CreateKeyRequest {
            tenant_id: tenant,
            team_id: b.team_id.unwrap_or_default(),
            name: b.name,
            rpm_limit: b.rpm_limit,
            concurrency_limit: b.concurrency_limit,
        })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    let key = k.key.map(key_json).unwrap_or(Value::Null);
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": key, "secret": k.secret})),
    ))
}

async fn list_keys(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = s
        .billing
        .clone()
        .list_keys(bill::ListKeysRequest { tenant_id: tenant })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    let data: Vec<Value> = r.keys.into_iter().map(key_json).collect();
    Ok(Json(json!({ "data": data })))
}

async fn revoke_key(
    State(s): State<AppState>,
    Path((tenant, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let k = s
        .billing
        .clone()
        .revoke_key(bill::RevokeKeyRequest {
            tenant_id: tenant,
            key_id: key,
        })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    Ok(Json(key_json(k)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpendParams {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    group_by: Option<String>,
    team_id: Option<String>,
    key_id: Option<String>,
    model: Option<String>,
}

fn row_json(r: bill::SpendRow) -> Value {
    json!({
        "group": r.group, "requests": r.requests, "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens, "cached_input_tokens": r.cached_input_tokens,
        "cost_usd": r.cost_usd,
    })
}

async fn spend(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<SpendParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let group_by = match q.group_by.as_deref().unwrap_or("model") {
        "tenant" => bill::GroupBy::Tenant,
        "team" => bill::GroupBy::Team,
        "key" => bill::GroupBy::Key,
        "model" => bill::GroupBy::Model,
        "day" => bill::GroupBy::Day,
        other => {
            return Err(ApiError::bad_request(
                format!("group_by `{other}` is not one of tenant, team, key, model, day"),
                Some("group_by".into()),
            ));
        }
    };
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::days(30));
    let r = s
        .billing
        .clone()
        .get_spend(bill::GetSpendRequest {
            tenant_id: tenant,
            team_id: q.team_id.unwrap_or_default(),
            key_id: q.key_id.unwrap_or_default(),
            model: q.model.unwrap_or_default(),
            from: Some(to_ts(from)),
            to: Some(to_ts(to)),
            group_by: group_by as i32,
        })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    let rows: Vec<Value> = r.rows.into_iter().map(row_json).collect();
    Ok(Json(
        json!({"rows": rows, "total": r.total.map(row_json).unwrap_or(Value::Null)}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogParams {
    limit: Option<u32>,
    key_id: Option<String>,
    request_id: Option<String>,
}

async fn logs(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<LogParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let r = s
        .logging
        .clone()
        .query_logs(logq::QueryLogsRequest {
            tenant_id: tenant,
            key_id: q.key_id.unwrap_or_default(),
            request_id: q.request_id.unwrap_or_default(),
            from: None,
            to: None,
            limit: q.limit.unwrap_or(50).min(1000),
        })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    let data: Vec<Value> = r
        .records
        .into_iter()
        .map(|l| {
            json!({
                "request_id": l.request_id, "tenant_id": l.tenant_id, "team_id": l.team_id,
                "key_id": l.key_id, "model": l.model, "deployment": l.deployment,
                "provider": l.provider, "http_status": l.http_status, "error_code": l.error_code,
                "started_at": ts(l.started_at), "latency_ms": l.latency_ms, "ttfb_ms": l.ttfb_ms,
                "input_tokens": l.input_tokens, "output_tokens": l.output_tokens,
                "cost_usd": l.cost_usd, "stream": l.stream,
                "request_body": String::from_utf8_lossy(&l.request_body),
                "response_body": String::from_utf8_lossy(&l.response_body),
            })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// Admin calls surface billing's own validation messages (they name the bad field); anything
/// else goes through the shared mapping, which hides internals.
fn admin_status(s: &tonic::Status) -> ApiError {
    match s.code() {
        tonic::Code::InvalidArgument => ApiError::bad_request(s.message().to_owned(), None),
        tonic::Code::NotFound => ApiError::NotFound(s.message().to_owned()),
        tonic::Code::AlreadyExists => ApiError::BadRequest {
            message: s.message().to_owned(),
            param: None,
            code: "already_exists",
        },
        _ => from_status(s),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageParams {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    key_id: Option<String>,
    model: Option<String>,
    page_token: Option<String>,
    limit: Option<u32>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

const USAGE_COLUMNS: [&str; 18] = [
    "request_id",
    "started_at",
    "tenant_id",
    "team_id",
    "key_id",
    "user_id",
    "model",
    "deployment",
    "provider",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "price_version",
    "http_status",
    "outcome",
];

fn usage_cells(g: &bill::Generation) -> [String; 18] {
    let e = g.event.clone().unwrap_or_default();
    let started = match ts(e.started_at) {
        Value::String(s) => s,
        _ => String::new(),
    };
    [
        e.request_id,
        started,
        e.tenant_id,
        e.team_id,
        e.key_id,
        e.user_id,
        e.model,
        e.deployment,
        e.provider,
        e.input_tokens.to_string(),
        e.cached_input_tokens.to_string(),
        e.cache_write_tokens.to_string(),
        e.output_tokens.to_string(),
        e.reasoning_tokens.to_string(),
        g.cost_usd.clone(),
        g.price_version.to_string(),
        e.http_status.to_string(),
        e.outcome,
    ]
}

/// One page of ledger rows, as JSON or CSV (`x-next-page-token` names the next page).
async fn usage(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<UsageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let csv = match q.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => {
            return Err(ApiError::bad_request(
                format!("format `{other}` is not one of json, csv"),
                Some("format".into()),
            ));
        }
    };
    let r = s
        .billing
        .clone()
        .list_usage(bill::ListUsageRequest {
            tenant_id: tenant,
            from: q.from.map(to_ts),
            to: q.to.map(to_ts),
            key_id: q.key_id.unwrap_or_default(),
            model: q.model.unwrap_or_default(),
            page_token: q.page_token.unwrap_or_default(),
            limit: q.limit.unwrap_or(1000),
        })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    let next = r.next_page_token.clone();
    let mut resp = if csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(USAGE_COLUMNS)
            .map_err(|_| ApiError::Internal)?;
        for g in &r.rows {
            w.write_record(usage_cells(g))
                .map_err(|_| ApiError::Internal)?;
        }
        let body = w.into_inner().map_err(|_| ApiError::Internal)?;
        (
            [(http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            body,
        )
            .into_response()
    } else {
        let rows: Vec<Value> = r
            .rows
            .iter()
            .map(|g| {
                let cells = usage_cells(g);
                Value::Object(
                    USAGE_COLUMNS
                        .iter()
                        .zip(cells)
                        .map(|(k, v)| ((*k).to_owned(), Value::String(v)))
                        .collect(),
                )
            })
            .collect();
        Json(json!({"data": rows, "next_page_token": next})).into_response()
    };
    if !next.is_empty()
        && let Ok(v) = http::HeaderValue::from_str(&next)
    {
        resp.headers_mut().insert("x-next-page-token", v);
    }
    Ok(resp)
}

fn budget_json(b: bill::Budget) -> Value {
    json!({
        "id": b.id, "tenant_id": b.tenant_id, "scope": b.scope, "scope_id": b.scope_id,
        "period": b.period, "timezone": b.timezone, "limit_usd": b.limit_usd,
        "created_at": ts(b.created_at),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBudget {
    scope: String,
    #[serde(default)]
    scope_id: String,
    period: String,
    #[serde(default)]
    timezone: String,
    /// Decimal string, e.g. "25.00" (a JSON number is refused: money is never a float here).
    limit_usd: String,
}

async fn create_budget(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<NewBudget>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(b) = body.map_err(bad_json)?;
    let created = s
        .billing
        .clone()
        .create_budget(bill::CreateBudgetRequest {
            tenant_id: tenant,
            scope: b.scope,
            scope_id: b.scope_id,
            period: b.period,
            timezone: b.timezone,
            limit_usd: b.limit_usd,
        })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    Ok((StatusCode::CREATED, Json(budget_json(created))))
}

async fn list_budgets(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = s
        .billing
        .clone()
        .list_budgets(bill::ListBudgetsRequest { tenant_id: tenant })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    let data: Vec<Value> = r.budgets.into_iter().map(budget_json).collect();
    Ok(Json(json!({ "data": data })))
}

async fn delete_budget(
    State(s): State<AppState>,
    Path((tenant, budget)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let b = s
        .billing
        .clone()
        .delete_budget(bill::DeleteBudgetRequest {
            tenant_id: tenant,
            budget_id: budget,
        })
        .await
        .map_err(|e| admin_status(&e))?
        .into_inner();
    Ok(Json(budget_json(b)))
}

//! Reports: spend (grouped), usage rows (JSON or CSV, a page at a time) and request logs.

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::billing::v1 as bill;
use tollgate_proto::logging::v1 as logq;

use super::{rpc, to_ts, ts};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SpendParams {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    group_by: Option<String>,
    team_id: Option<String>,
    key_id: Option<String>,
    user_id: Option<String>,
    model: Option<String>,
}

/// A text filter as the stores take it: absent is empty. A NUL can be in a URL but not in a
/// Postgres text value, so it is the caller's 400 here rather than the store's 500.
fn filter(name: &str, value: Option<String>) -> Result<String, ApiError> {
    let value = value.unwrap_or_default();
    if value.contains('\0') {
        return Err(ApiError::bad_request(
            format!("{name}: must not contain a NUL character"),
            Some(name.to_owned()),
        ));
    }
    Ok(value)
}

fn row_json(r: bill::SpendRow) -> Value {
    json!({
        "group": r.group, "requests": r.requests, "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens, "cached_input_tokens": r.cached_input_tokens,
        "cost_usd": r.cost_usd,
    })
}

pub(super) async fn spend(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<SpendParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let group_by = match q.group_by.as_deref().unwrap_or("model") {
        "tenant" => bill::GroupBy::Tenant,
        "team" => bill::GroupBy::Team,
        "key" => bill::GroupBy::Key,
        "user" => bill::GroupBy::User,
        "model" => bill::GroupBy::Model,
        "day" => bill::GroupBy::Day,
        other => {
            return Err(ApiError::bad_request(
                format!("group_by `{other}` is not one of tenant, team, key, user, model, day"),
                Some("group_by".into()),
            ));
        }
    };
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::days(30));
    let r = rpc(s.billing.clone().get_spend(bill::GetSpendRequest {
        tenant_id: tenant,
        team_id: filter("team_id", q.team_id)?,
        key_id: filter("key_id", q.key_id)?,
        user_id: filter("user_id", q.user_id)?,
        model: filter("model", q.model)?,
        from: Some(to_ts(from)),
        to: Some(to_ts(to)),
        group_by: group_by as i32,
    }))
    .await?;
    let rows: Vec<Value> = r.rows.into_iter().map(row_json).collect();
    Ok(Json(
        json!({"rows": rows, "total": r.total.map(row_json).unwrap_or(Value::Null)}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogParams {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<u32>,
    key_id: Option<String>,
    request_id: Option<String>,
}

pub(super) async fn logs(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<LogParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let r = rpc(s.logging.clone().query_logs(logq::QueryLogsRequest {
        tenant_id: tenant,
        key_id: filter("key_id", q.key_id)?,
        request_id: filter("request_id", q.request_id)?,
        from: q.from.map(to_ts),
        to: q.to.map(to_ts),
        limit: q.limit.unwrap_or(50).min(1000),
    }))
    .await?;
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UsageParams {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    key_id: Option<String>,
    user_id: Option<String>,
    model: Option<String>,
    page_token: Option<String>,
    limit: Option<u32>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

const USAGE_COLUMNS: [&str; 20] = [
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
    // Billed besides tokens: `image`, `character`, `audio_second`, `search_unit`, `request`
    // (empty: tokens only), and how many.
    "billed_unit",
    "billed_units",
];

fn usage_cells(g: &bill::Generation) -> [String; 20] {
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
        e.billed_unit.clone(),
        if e.billed_unit.is_empty() {
            String::new()
        } else {
            e.billed_units.to_string()
        },
    ]
}

/// One page of ledger rows, as JSON or CSV (`x-next-page-token` names the next page).
pub(super) async fn usage(
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
    let r = rpc(s.billing.clone().list_usage(bill::ListUsageRequest {
        tenant_id: tenant,
        from: q.from.map(to_ts),
        to: q.to.map(to_ts),
        key_id: filter("key_id", q.key_id)?,
        user_id: filter("user_id", q.user_id)?,
        model: filter("model", q.model)?,
        page_token: filter("page_token", q.page_token)?,
        limit: q.limit.unwrap_or(1000),
    }))
    .await?;
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

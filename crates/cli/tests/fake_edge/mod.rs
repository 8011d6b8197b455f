//! A small in-test admin API on port 0 that behaves like the edge's `/admin/v1` (bearer token,
//! error bodies, 201s, the list and spend shapes, protobuf's empty strings and zeros for unset
//! fields, `+00:00` timestamps) and records every request it saw, so tests can check what the
//! CLI sent as well as what it printed.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

pub const TOKEN: &str = "adm-very-secret-token-0123456789";
pub const KEY_SECRET: &str = "tg-AbCdEf012345-ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210q1w2e3";
pub const ROTATED_SECRET: &str = "tg-ZyXwVu987654-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789a1s2d3";

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub body: Option<Value>,
}

#[derive(Default)]
struct Inner {
    tenants: Vec<Value>,
    keys: Vec<Value>,
    seen: Vec<Seen>,
}

type Shared = Arc<Mutex<Inner>>;

pub struct FakeEdge {
    pub url: String,
    inner: Shared,
}

impl FakeEdge {
    pub async fn start() -> FakeEdge {
        let inner: Shared = Arc::default();
        let app = Router::new()
            .route("/admin/v1/tenants", post(create_tenant).get(list_tenants))
            .route("/admin/v1/tenants/{tenant}/teams", post(create_team))
            .route(
                "/admin/v1/tenants/{tenant}/keys",
                post(create_key).get(list_keys),
            )
            .route(
                "/admin/v1/tenants/{tenant}/keys/{key}",
                delete(revoke_key).get(get_key),
            )
            .route(
                "/admin/v1/tenants/{tenant}/keys/{key}/rotate",
                post(rotate_key),
            )
            .route("/admin/v1/tenants/{tenant}/spend", get(spend))
            .route("/admin/v1/tenants/{tenant}/logs", get(logs))
            .layer(middleware::from_fn_with_state(
                inner.clone(),
                record_and_auth,
            ))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeEdge { url, inner }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().last().cloned().expect("no request seen")
    }
}

fn err(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": "invalid_request_error", "code": code}})),
    )
        .into_response()
}

async fn record_and_auth(State(inner): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let authorization = parts
        .headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    inner.lock().unwrap().seen.push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        authorization: authorization.clone(),
        body: serde_json::from_slice(&bytes).ok(),
    });
    if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return err(
            StatusCode::UNAUTHORIZED,
            "invalid_admin_token",
            "missing or invalid admin token",
        );
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

async fn create_tenant(State(inner): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut inner = inner.lock().unwrap();
    let t = json!({
        "id": format!("ten_{}", inner.tenants.len() + 1),
        "name": body["name"],
        "log_content": body.get("log_content").and_then(Value::as_bool).unwrap_or(false),
        "created_at": "2026-11-24T09:30:00+00:00",
    });
    inner.tenants.push(t.clone());
    (StatusCode::CREATED, Json(t)).into_response()
}

async fn list_tenants(State(inner): State<Shared>) -> Json<Value> {
    Json(json!({ "data": inner.lock().unwrap().tenants }))
}

fn tenant_exists(inner: &Inner, tenant: &str) -> bool {
    inner.tenants.iter().any(|t| t["id"] == tenant)
}

async fn create_team(
    State(inner): State<Shared>,
    Path(tenant): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if !tenant_exists(&inner.lock().unwrap(), &tenant) {
        return err(StatusCode::NOT_FOUND, "tenant_not_found", "no such tenant");
    }
    let team = json!({"id": "team_1", "tenant_id": tenant, "name": body["name"]});
    (StatusCode::CREATED, Json(team)).into_response()
}

async fn create_key(
    State(inner): State<Shared>,
    Path(tenant): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    if !tenant_exists(&inner, &tenant) {
        return err(StatusCode::NOT_FOUND, "tenant_not_found", "no such tenant");
    }
    let key = json!({
        "id": "AbCdEf012345",
        "tenant_id": tenant,
        "team_id": body.get("team_id").cloned().unwrap_or(Value::Null),
        "name": body["name"],
        "revoked": false,
        "created_at": "2026-11-24T09:31:00+00:00",
        "rpm_limit": body.get("rpm_limit").cloned().unwrap_or(json!(0)),
        "concurrency_limit": body.get("concurrency_limit").cloned().unwrap_or(json!(0)),
        "expires_at": if body.get("expires_in").is_some() {
            json!("2026-12-24T09:31:00+00:00")
        } else {
            Value::Null
        },
        "expired": false,
        "allowed_models": body.get("allowed_models").cloned().unwrap_or(json!([])),
        "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
        "rotated_from": null,
    });
    inner.keys.push(key.clone());
    (
        StatusCode::CREATED,
        Json(json!({"key": key, "secret": KEY_SECRET})),
    )
        .into_response()
}

async fn list_keys(State(inner): State<Shared>, Path(tenant): Path<String>) -> Json<Value> {
    let inner = inner.lock().unwrap();
    let data: Vec<&Value> = inner
        .keys
        .iter()
        .filter(|k| k["tenant_id"] == tenant)
        .collect();
    Json(json!({ "data": data }))
}

async fn get_key(
    State(inner): State<Shared>,
    Path((tenant, key)): Path<(String, String)>,
) -> Response {
    let inner = inner.lock().unwrap();
    match inner
        .keys
        .iter()
        .find(|k| k["tenant_id"] == tenant && k["id"] == key)
    {
        Some(k) => Json(k.clone()).into_response(),
        None => err(StatusCode::NOT_FOUND, "not_found", "key not found"),
    }
}

async fn rotate_key(
    State(inner): State<Shared>,
    Path((tenant, key)): Path<(String, String)>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let Some(old) = inner
        .keys
        .iter_mut()
        .find(|k| k["tenant_id"] == tenant && k["id"] == key)
    else {
        return err(StatusCode::NOT_FOUND, "not_found", "key not found");
    };
    old["expires_at"] = json!("2026-11-24T10:31:00+00:00");
    let old = old.clone();
    let mut new = old.clone();
    new["id"] = json!("ZyXwVu987654");
    new["expires_at"] = Value::Null;
    new["rotated_from"] = old["id"].clone();
    inner.keys.push(new.clone());
    (
        StatusCode::CREATED,
        Json(json!({"key": new, "secret": ROTATED_SECRET, "old_key": old})),
    )
        .into_response()
}

async fn revoke_key(
    State(inner): State<Shared>,
    Path((tenant, key)): Path<(String, String)>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    match inner
        .keys
        .iter_mut()
        .find(|k| k["tenant_id"] == tenant && k["id"] == key)
    {
        Some(k) => {
            k["revoked"] = json!(true);
            Json(k.clone()).into_response()
        }
        None => err(StatusCode::NOT_FOUND, "key_not_found", "no such key"),
    }
}

async fn spend(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let group = q.get("group_by").map(String::as_str).unwrap_or("tenant");
    Json(json!({
        "rows": [
            {"group": format!("{group}-a"), "requests": 1200, "input_tokens": 150000,
             "output_tokens": 42000, "cached_input_tokens": 1000, "cost_usd": "0.04770000"},
            {"group": format!("{group}-b"), "requests": 3, "input_tokens": 10,
             "output_tokens": 20, "cached_input_tokens": 0, "cost_usd": "0.0000135"}
        ],
        "total": {"group": null, "requests": 1203, "input_tokens": 150010, "output_tokens": 42020,
                  "cached_input_tokens": 1000, "cost_usd": "0.0477135"}
    }))
}

async fn logs(
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    _headers: HeaderMap,
) -> Json<Value> {
    let all: Vec<Value> = (1..=3)
        .map(|i| {
            json!({
                "request_id": format!("0194f0c2-0000-7000-8000-00000000000{i}"),
                "tenant_id": tenant, "team_id": "", "key_id": "AbCdEf012345",
                "model": "gpt-4o-mini", "deployment": "mock/mock-1", "provider": "mock",
                "http_status": if i == 2 { 429 } else { 200 },
                "error_code": if i == 2 { "rate_limited" } else { "" },
                "started_at": format!("2026-11-24T10:0{i}:00+00:00"),
                "latency_ms": 120 + i, "ttfb_ms": 30, "input_tokens": 12, "output_tokens": 34,
                "cost_usd": "0.0000222", "stream": i == 3,
                "request_body": "", "response_body": ""
            })
        })
        .collect();
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    let data: Vec<Value> = all
        .into_iter()
        .filter(|r| {
            q.get("request_id")
                .is_none_or(|id| r["request_id"] == id.as_str())
        })
        .take(limit)
        .collect();
    Json(json!({ "data": data }))
}

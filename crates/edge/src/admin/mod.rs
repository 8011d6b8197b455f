//! `/admin/v1`: tenants, teams, keys, budgets, spend, usage and logs, backed by billing and
//! logging over gRPC. Needs the admin token (checked by `auth::require_credential`). A created
//! key's secret is in the creation response only.

mod accounts;
mod budgets;
mod reports;

use std::future::Future;

use axum::Router;
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::{ApiError, from_status};
use crate::state::AppState;

use accounts::{
    create_key, create_team, create_tenant, get_key, list_keys, list_tenants, revoke_key,
    rotate_key,
};
use budgets::{create_budget, delete_budget, list_budgets};
use reports::{logs, spend, usage};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/tenants", post(create_tenant).get(list_tenants))
        .route("/admin/v1/tenants/{tenant}/teams", post(create_team))
        .route(
            "/admin/v1/tenants/{tenant}/keys",
            post(create_key).get(list_keys),
        )
        .route(
            "/admin/v1/tenants/{tenant}/keys/{key}",
            get(get_key).delete(revoke_key),
        )
        .route(
            "/admin/v1/tenants/{tenant}/keys/{key}/rotate",
            post(rotate_key),
        )
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

/// One admin RPC: the answer, or the error mapped for an admin caller.
async fn rpc<T>(
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, ApiError> {
    call.await
        .map(tonic::Response::into_inner)
        .map_err(|e| admin_status(&e))
}

pub(super) fn ts(t: Option<prost_types::Timestamp>) -> Value {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|d| Value::String(d.to_rfc3339()))
        .unwrap_or(Value::Null)
}

pub(super) fn to_ts(d: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: d.timestamp(),
        nanos: d.timestamp_subsec_nanos() as i32,
    }
}
pub(super) fn bad_json<E: std::fmt::Display>(e: E) -> ApiError {
    ApiError::bad_request(format!("Invalid JSON body: {e}"), None)
}
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

//! `/admin/v1`: tenants, teams, users, keys, limits, budgets, spend, usage and logs, backed by
//! billing and logging over gRPC. A created key's secret is in the creation response only.
//!
//! Callers (checked by `auth::require_credential`): the admin token may do everything; a JWT
//! with its issuer's `admin_role` is a tenant admin, pinned to its tenant: every
//! `/admin/v1/tenants/{tenant}/...` route of another tenant is a 403 `tenant_forbidden`, the
//! tenant list shows only its own tenant, and creating tenants (or any route outside a tenant)
//! is a 403 `global_admin_required`. `GET /admin/v1/openapi.json` describes every route and
//! needs no credential.

mod accounts;
mod budgets;
mod limits;
mod openapi;
mod prices;
mod reports;
mod users;

use std::future::Future;

use axum::Router;
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use chrono::{DateTime, Utc};
use http::Method;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

use accounts::{
    create_key, create_team, create_tenant, get_key, list_keys, list_tenants, revoke_key,
    rotate_key,
};
use budgets::{create_budget, delete_budget, list_budgets};
use limits::{delete_limit, list_limits, set_limit};
use reports::{logs, spend, usage};
use users::{create_user, disable_user, get_user, list_users};

/// Who is calling the admin API (an extension on every admin request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminCaller {
    /// The admin token: every tenant, and routes outside tenants.
    Global,
    /// A JWT with the admin role: this tenant only.
    Tenant(String),
}

type Route = (Method, &'static str, MethodRouter<AppState>);

fn at<H, T>(method: Method, path: &'static str, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = match method.as_str() {
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "DELETE" => MethodFilter::DELETE,
        "PATCH" => MethodFilter::PATCH,
        _ => MethodFilter::GET,
    };
    (method, path, on(filter, handler))
}

/// Every admin route, in one list: the router is built from it, and a unit test checks that
/// the OpenAPI document describes exactly these (method, path) pairs.
fn table() -> Vec<Route> {
    vec![
        at(Method::GET, "/admin/v1/openapi.json", openapi::document),
        at(Method::POST, "/admin/v1/tenants", create_tenant),
        at(Method::GET, "/admin/v1/tenants", list_tenants),
        at(
            Method::POST,
            "/admin/v1/tenants/{tenant}/teams",
            create_team,
        ),
        at(
            Method::POST,
            "/admin/v1/tenants/{tenant}/users",
            create_user,
        ),
        at(Method::GET, "/admin/v1/tenants/{tenant}/users", list_users),
        at(
            Method::GET,
            "/admin/v1/tenants/{tenant}/users/{user}",
            get_user,
        ),
        at(
            Method::DELETE,
            "/admin/v1/tenants/{tenant}/users/{user}",
            disable_user,
        ),
        at(Method::POST, "/admin/v1/tenants/{tenant}/keys", create_key),
        at(Method::GET, "/admin/v1/tenants/{tenant}/keys", list_keys),
        at(
            Method::GET,
            "/admin/v1/tenants/{tenant}/keys/{key}",
            get_key,
        ),
        at(
            Method::DELETE,
            "/admin/v1/tenants/{tenant}/keys/{key}",
            revoke_key,
        ),
        at(
            Method::POST,
            "/admin/v1/tenants/{tenant}/keys/{key}/rotate",
            rotate_key,
        ),
        at(Method::PUT, "/admin/v1/tenants/{tenant}/limits", set_limit),
        at(
            Method::GET,
            "/admin/v1/tenants/{tenant}/limits",
            list_limits,
        ),
        at(
            Method::DELETE,
            "/admin/v1/tenants/{tenant}/limits/{limit}",
            delete_limit,
        ),
        at(Method::GET, "/admin/v1/tenants/{tenant}/spend", spend),
        at(Method::GET, "/admin/v1/tenants/{tenant}/logs", logs),
        at(Method::GET, "/admin/v1/tenants/{tenant}/usage", usage),
        at(
            Method::POST,
            "/admin/v1/tenants/{tenant}/budgets",
            create_budget,
        ),
        at(
            Method::GET,
            "/admin/v1/tenants/{tenant}/budgets",
            list_budgets,
        ),
        at(
            Method::DELETE,
            "/admin/v1/tenants/{tenant}/budgets/{budget}",
            delete_budget,
        ),
        // The global price catalog (admin token only: outside every tenant).
        at(Method::GET, "/admin/v1/prices", prices::list_prices),
        at(Method::POST, "/admin/v1/prices", prices::set_price),
    ]
}

pub fn routes() -> Router<AppState> {
    // The methods of one path are merged into one router, so a method the path does not have
    // gets a 405 naming the ones it does (in `Allow`), as HTTP and the OpenAPI document say.
    let mut paths: Vec<(&'static str, Vec<Method>, MethodRouter<AppState>)> = Vec::new();
    for (method, path, route) in table() {
        match paths.iter_mut().find(|(p, _, _)| *p == path) {
            Some((_, methods, merged)) => {
                methods.push(method);
                *merged = std::mem::take(merged).merge(route);
            }
            None => paths.push((path, vec![method], route)),
        }
    }
    paths
        .into_iter()
        .fold(Router::new(), |r, (path, methods, route)| {
            let allow = methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            r.route(
                path,
                route.fallback(move |method: Method| method_not_allowed(method, path, allow)),
            )
        })
}

async fn method_not_allowed(method: Method, path: &'static str, allow: String) -> Response {
    let body = tollgate_formats::openai::error_body(
        &format!("{method} is not supported on {path}; use {allow}."),
        "invalid_request_error",
        Some("method_not_allowed"),
        None,
    );
    (
        http::StatusCode::METHOD_NOT_ALLOWED,
        [
            (http::header::ALLOW, allow),
            (http::header::CONTENT_TYPE, "application/json".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// The refusal for a tenant admin reaching outside its tenant; `None` when the call is allowed.
pub(crate) fn refuse_out_of_scope(
    caller: &AdminCaller,
    method: &Method,
    path: &str,
) -> Option<Response> {
    let AdminCaller::Tenant(own) = caller else {
        return None;
    };
    let path = path.trim_end_matches('/');
    let refusal = if path == "/admin/v1/tenants" {
        // Listing shows its own tenant only; creating tenants is the global admin's.
        (method != Method::GET).then_some(ApiError::GlobalAdminRequired)
    } else {
        match path.strip_prefix("/admin/v1/tenants/") {
            Some(rest) => {
                let tenant = rest.split('/').next().unwrap_or_default();
                (!tenant.eq_ignore_ascii_case(own)).then_some(ApiError::TenantForbidden)
            }
            None => Some(ApiError::GlobalAdminRequired),
        }
    };
    refusal.map(IntoResponse::into_response)
}

/// One admin RPC: the answer, or the error mapped for an admin caller.
async fn rpc<T>(
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, ApiError> {
    call.await
        .map(tonic::Response::into_inner)
        .map_err(|e| ApiError::from_status(&e))
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
#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Option<Response>) -> Option<(u16, String)> {
        r.map(|r| (r.status().as_u16(), r.status().to_string()))
    }

    #[test]
    fn a_tenant_admin_is_pinned_to_its_tenant() {
        let own = "0192f0c1-7c1e-7a51-9d2e-6f1d2c3b4a59";
        let admin = AdminCaller::Tenant(own.into());
        let allowed = |m: Method, p: &str| refuse_out_of_scope(&admin, &m, p).is_none();
        assert!(allowed(Method::GET, "/admin/v1/tenants"));
        assert!(allowed(
            Method::POST,
            &format!("/admin/v1/tenants/{own}/users")
        ));
        assert!(allowed(
            Method::DELETE,
            &format!("/admin/v1/tenants/{}/keys/k1", own.to_uppercase())
        ));
        assert!(!allowed(Method::POST, "/admin/v1/tenants"));
        assert!(!allowed(Method::POST, "/admin/v1/tenants/"));
        assert!(!allowed(
            Method::GET,
            "/admin/v1/tenants/0192f0c1-7c1e-7a51-9d2e-000000000002/users"
        ));
        // A prefix of its id is another tenant.
        assert!(!allowed(
            Method::GET,
            &format!("/admin/v1/tenants/{own}x/users")
        ));
        assert!(!allowed(Method::GET, "/admin/v1/prices"));
        assert_eq!(
            code(refuse_out_of_scope(
                &admin,
                &Method::GET,
                "/admin/v1/prices"
            ))
            .map(|c| c.0),
            Some(403)
        );
        // The admin token may do everything.
        assert!(
            refuse_out_of_scope(&AdminCaller::Global, &Method::POST, "/admin/v1/tenants").is_none()
        );
    }

    #[test]
    fn every_route_is_registered_once_per_method() {
        let mut seen = std::collections::BTreeSet::new();
        for (m, p, _) in table() {
            assert!(seen.insert((m.to_string(), p)), "{m} {p} twice");
            assert!(p.starts_with("/admin/v1/"), "{p}");
        }
        // Building the router panics on a conflicting registration.
        let _ = routes();
    }
}

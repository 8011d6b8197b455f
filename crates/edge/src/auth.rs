//! Authentication from memory: every route needs a credential except a short allow-list.
//!
//! API key → checksum check (no lookup for garbage) → `key_id` lookup in the snapshot →
//! constant-time compare of the keyed hash → expiry against the clock (so a key stops at its
//! instant with no reload needed). No Postgres on this path. Admin routes need the admin
//! token or a JWT with its issuer's admin role (a tenant admin, pinned to its tenant by
//! `admin::refuse_out_of_scope`). An infrastructure problem (snapshot never loaded) is a 503,
//! never a 401.
//!
//! When JWT issuers are configured, a bearer that is not a `tg-` key and has the three-part JWS
//! shape is verified as a JWT instead (see `jwt.rs`); it yields the same `Caller`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use http::HeaderMap;
use subtle::ConstantTimeEq;
use tollgate_domain::{ApiKey, KeyHasher};

use crate::error::ApiError;
use crate::snapshot::{KeyEntry, KeySnapshot};
use crate::state::AppState;

/// Routes anyone may call: probes, metrics and the admin API's OpenAPI document (it describes
/// the routes, holds no data).
pub const PUBLIC_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics", "/admin/v1/openapi.json"];

/// The authenticated caller, put in the request's extensions for handlers.
#[derive(Clone, Debug)]
pub struct Caller(pub Arc<KeyEntry>);

/// Pull the presented API key from `Authorization: Bearer` (OpenAI SDKs) or `x-api-key`
/// (Anthropic SDKs).
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))?;
        return Some(token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Resolve a presented key against the snapshot.
pub fn authenticate(
    snapshot: Option<&KeySnapshot>,
    hasher: &KeyHasher,
    headers: &HeaderMap,
) -> Result<Arc<KeyEntry>, ApiError> {
    let raw = presented_key(headers).ok_or(ApiError::MissingKey)?;
    if raw.is_empty() {
        return Err(ApiError::MissingKey);
    }
    let key = ApiKey::parse(raw).map_err(|_| ApiError::InvalidKey)?;
    let snapshot = snapshot.ok_or(ApiError::Unavailable("the key store has not loaded yet"))?;
    let entry = snapshot
        .keys
        .get(key.key_id())
        .ok_or(ApiError::InvalidKey)?;
    if !hasher.verify(&key, &entry.key_hash) {
        return Err(ApiError::InvalidKey);
    }
    // Checked only for the key's holder: nobody else learns that an id exists.
    if entry.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::ExpiredKey);
    }
    Ok(entry.clone())
}

/// The deny-by-default middleware in front of every route.
pub async fn require_credential(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = req.uri().path();
    if PUBLIC_PATHS.contains(&path) {
        return Ok(next.run(req).await);
    }
    if path.starts_with("/admin/") {
        let caller = admin_caller(&state, req.headers()).await?;
        if let Some(refused) = crate::admin::refuse_out_of_scope(&caller, req.method(), path) {
            return Ok(refused);
        }
        req.extensions_mut().insert(caller);
        return Ok(next.run(req).await);
    }
    if let Some(jwt) = &state.jwt
        && let Some(token) = presented_key(req.headers()).filter(|t| crate::jwt::looks_like_jwt(t))
    {
        let mut entry = jwt.authenticate(token).await?;
        match_jwt_user(&state, &mut entry)?;
        req.extensions_mut().insert(Caller(entry));
        return Ok(next.run(req).await);
    }
    let snap = state.keys.load();
    let entry = authenticate(snap.as_deref(), &state.hasher, req.headers())?;
    req.extensions_mut().insert(Caller(entry));
    Ok(next.run(req).await)
}

/// Who may call the admin API: the admin token (every tenant), or a JWT carrying its issuer's
/// `admin_role` (its own tenant only). A valid API key or a JWT without the role is known but
/// not an admin (403); anything else is 401.
async fn admin_caller(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<crate::admin::AdminCaller, ApiError> {
    use crate::admin::AdminCaller;
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::AdminUnauthorized)?;
    if let Some(token) = state.admin_token.as_deref()
        && bool::from(presented.as_bytes().ct_eq(token.as_bytes()))
    {
        return Ok(AdminCaller::Global);
    }
    if let Some(jwt) = &state.jwt
        && crate::jwt::looks_like_jwt(presented)
    {
        return Ok(AdminCaller::Tenant(
            jwt.authenticate_admin(presented).await?,
        ));
    }
    let snap = state.keys.load();
    if authenticate(snap.as_deref(), &state.hasher, headers).is_ok() {
        return Err(ApiError::InsufficientRole);
    }
    Err(ApiError::AdminUnauthorized)
}

/// A JWT caller whose user claim names a user of its tenant (`external_id`) is limited and billed
/// as that user (and its team, when the token names none); a disabled user is refused.
fn match_jwt_user(state: &AppState, entry: &mut Arc<KeyEntry>) -> Result<(), ApiError> {
    if entry.identity.user_id.is_empty() {
        return Ok(());
    }
    let snap = state.keys.load();
    let Some(user) = snap
        .as_deref()
        .and_then(|s| s.users.get(&entry.identity.tenant_id))
        .and_then(|users| users.get(&entry.identity.user_id))
    else {
        return Ok(());
    };
    if user.disabled {
        return Err(ApiError::InvalidToken("the user is disabled"));
    }
    // Freshly built for this request, so not shared: edited in place.
    if let Some(e) = Arc::get_mut(entry) {
        e.identity.user_id.clone_from(&user.id);
        if e.identity.team_id.is_empty() {
            e.identity.team_id.clone_from(&user.team_id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::DateTime;
    use tollgate_domain::Identity;

    use super::*;

    fn snapshot_with(key: &ApiKey, hasher: &KeyHasher) -> KeySnapshot {
        snapshot_expiring(key, hasher, None)
    }

    fn snapshot_expiring(
        key: &ApiKey,
        hasher: &KeyHasher,
        expires_at: Option<DateTime<Utc>>,
    ) -> KeySnapshot {
        let mut keys = HashMap::new();
        keys.insert(
            key.key_id().to_owned(),
            Arc::new(KeyEntry {
                key_hash: hasher.hash(key),
                identity: Identity {
                    tenant_id: "t".into(),
                    key_id: key.key_id().into(),
                    ..Identity::default()
                },
                rpm_limit: 0,
                concurrency_limit: 0,
                log_content: false,
                expires_at,
                allowed_models: Vec::new(),
            }),
        );
        KeySnapshot {
            keys,
            ..KeySnapshot::default()
        }
    }

    fn bearer(s: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {s}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn a_known_key_authenticates_by_bearer_or_x_api_key() {
        let hasher = KeyHasher::new(b"p");
        let key = ApiKey::generate();
        let snap = snapshot_with(&key, &hasher);
        let e = authenticate(Some(&snap), &hasher, &bearer(key.expose())).unwrap();
        assert_eq!(e.identity.key_id, key.key_id());
        let mut h = HeaderMap::new();
        h.insert("x-api-key", key.expose().parse().unwrap());
        assert!(authenticate(Some(&snap), &hasher, &h).is_ok());
    }

    #[test]
    fn an_expired_key_is_refused_as_expired_only_for_its_holder() {
        let hasher = KeyHasher::new(b"p");
        let key = ApiKey::generate();
        let past = Utc::now() - chrono::Duration::milliseconds(1);
        let snap = snapshot_expiring(&key, &hasher, Some(past));
        let err = authenticate(Some(&snap), &hasher, &bearer(key.expose())).unwrap_err();
        assert_eq!(
            (err.status().as_u16(), err.code()),
            (401, "expired_api_key")
        );
        // A wrong secret for the same id learns nothing about expiry.
        let wrong = KeyHasher::new(b"q");
        let err = authenticate(Some(&snap), &wrong, &bearer(key.expose())).unwrap_err();
        assert_eq!(err.code(), "invalid_api_key");
        let future = Utc::now() + chrono::Duration::seconds(60);
        let snap = snapshot_expiring(&key, &hasher, Some(future));
        assert!(authenticate(Some(&snap), &hasher, &bearer(key.expose())).is_ok());
    }

    #[test]
    fn refusals_are_401_with_distinct_codes_and_503_before_the_snapshot_loads() {
        let hasher = KeyHasher::new(b"p");
        let key = ApiKey::generate();
        let snap = snapshot_with(&key, &hasher);
        let code = |r: Result<Arc<KeyEntry>, ApiError>| r.unwrap_err().code();
        assert_eq!(
            code(authenticate(Some(&snap), &hasher, &HeaderMap::new())),
            "missing_api_key"
        );
        assert_eq!(
            code(authenticate(Some(&snap), &hasher, &bearer("sk-nope"))),
            "invalid_api_key"
        );
        // Well-formed but unknown.
        let other = ApiKey::generate();
        assert_eq!(
            code(authenticate(Some(&snap), &hasher, &bearer(other.expose()))),
            "invalid_api_key"
        );
        // Right id, wrong pepper (hash mismatch).
        let wrong = KeyHasher::new(b"q");
        assert_eq!(
            code(authenticate(Some(&snap), &wrong, &bearer(key.expose()))),
            "invalid_api_key"
        );
        assert_eq!(
            code(authenticate(None, &hasher, &bearer(key.expose()))),
            "service_unavailable"
        );
    }
}

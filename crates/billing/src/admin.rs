//! Tenants, teams and keys. A key's secret is generated here, returned once and never stored:
//! Postgres holds only its keyed hash.

use std::collections::BTreeMap;
use std::time::Duration;

use tollgate_domain::ApiKey;
use tollgate_proto::billing::v1 as pb;
use tollgate_store::keys::{KeyRow, NewKey, Replacement};
use tollgate_store::teams::Team;
use tollgate_store::tenants::Tenant;
use tollgate_store::{StoreError, keys, teams, tenants};
use uuid::Uuid;

use crate::convert::{name, opt_time, opt_uuid, timestamp, uuid};
use crate::{BillingError, State};

/// A fresh key id colliding with a stored one is a 1 in 62^12 event; retry a few times rather
/// than fail.
const KEY_ATTEMPTS: usize = 3;

/// Metadata is for labels (owner, environment, ticket), not documents.
const MAX_METADATA_ENTRIES: usize = 16;
const MAX_METADATA_KEY: usize = 64;
const MAX_METADATA_VALUE: usize = 256;
const MAX_ALLOWED_MODELS: usize = 64;
/// How long a rotated key keeps working when the caller names no overlap.
const DEFAULT_OVERLAP: Duration = Duration::from_secs(3600);
/// An overlap is a migration window, not a second lifetime.
const MAX_OVERLAP: Duration = Duration::from_secs(90 * 86_400);

fn tenant(t: Tenant) -> pb::Tenant {
    pb::Tenant {
        id: t.id.to_string(),
        name: t.name,
        log_content: t.log_content,
        created_at: Some(timestamp(t.created_at)),
    }
}

fn team(t: Team) -> pb::Team {
    pb::Team {
        id: t.id.to_string(),
        tenant_id: t.tenant_id.to_string(),
        name: t.name,
    }
}

fn key(k: KeyRow) -> pb::ApiKey {
    pb::ApiKey {
        id: k.key_id,
        tenant_id: k.tenant_id.to_string(),
        team_id: k.team_id.map(|t| t.to_string()).unwrap_or_default(),
        name: k.name,
        revoked: k.revoked_at.is_some(),
        created_at: Some(timestamp(k.created_at)),
        rpm_limit: k.rpm_limit,
        concurrency_limit: k.concurrency_limit,
        expires_at: k.expires_at.map(timestamp),
        allowed_models: k.allowed_models,
        metadata: k.metadata.into_iter().collect(),
        rotated_from: k.rotated_from.unwrap_or_default(),
        user_id: k.user_id.map(|u| u.to_string()).unwrap_or_default(),
    }
}

fn metadata(
    m: std::collections::HashMap<String, String>,
) -> Result<BTreeMap<String, String>, BillingError> {
    if m.len() > MAX_METADATA_ENTRIES {
        return Err(BillingError::invalid(
            "metadata",
            format!("has more than {MAX_METADATA_ENTRIES} entries"),
        ));
    }
    for (k, v) in &m {
        if k.trim().is_empty() || k.chars().count() > MAX_METADATA_KEY {
            return Err(BillingError::invalid(
                "metadata",
                format!("keys must be 1 to {MAX_METADATA_KEY} characters"),
            ));
        }
        if v.chars().count() > MAX_METADATA_VALUE {
            return Err(BillingError::invalid(
                format!("metadata.{k}"),
                format!("is longer than {MAX_METADATA_VALUE} characters"),
            ));
        }
    }
    Ok(m.into_iter().collect())
}

/// Trimmed, deduplicated, and known to the catalog when it is loaded (a typo would otherwise
/// lock the key out of every model it was meant for).
fn allowed_models(state: &State, models: Vec<String>) -> Result<Vec<String>, BillingError> {
    if models.len() > MAX_ALLOWED_MODELS {
        return Err(BillingError::invalid(
            "allowed_models",
            format!("has more than {MAX_ALLOWED_MODELS} entries"),
        ));
    }
    let directory = state.directory.load();
    let mut out: Vec<String> = Vec::with_capacity(models.len());
    for m in models {
        let m = m.trim();
        if m.is_empty() {
            return Err(BillingError::invalid(
                "allowed_models",
                "must not contain empty names",
            ));
        }
        if !directory.knows(m) {
            return Err(BillingError::invalid(
                "allowed_models",
                format!("`{m}` is not a configured model"),
            ));
        }
        if !out.iter().any(|o| o == m) {
            out.push(m.to_owned());
        }
    }
    Ok(out)
}

pub(crate) async fn create_tenant(
    state: &State,
    req: pb::CreateTenantRequest,
) -> Result<pb::Tenant, BillingError> {
    let name = name("name", &req.name)?;
    Ok(tenant(
        tenants::create(&state.pool, &name, req.log_content).await?,
    ))
}

pub(crate) async fn list_tenants(state: &State) -> Result<pb::ListTenantsResponse, BillingError> {
    let all = tenants::list(&state.pool).await?;
    Ok(pb::ListTenantsResponse {
        tenants: all.into_iter().map(tenant).collect(),
    })
}

pub(crate) async fn create_team(
    state: &State,
    req: pb::CreateTeamRequest,
) -> Result<pb::Team, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let name = name("name", &req.name)?;
    Ok(team(teams::create(&state.pool, tenant_id, &name).await?))
}

pub(crate) async fn create_key(
    state: &State,
    req: pb::CreateKeyRequest,
) -> Result<pb::CreatedKey, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let team_id = opt_uuid("team_id", &req.team_id)?;
    let user_id: Option<Uuid> = opt_uuid("user_id", &req.user_id)?;
    let key_name = req.name.trim();
    let expires_at = opt_time("expires_at", req.expires_at.as_ref())?;
    if expires_at.is_some_and(|t| t <= chrono::Utc::now()) {
        return Err(BillingError::invalid("expires_at", "must be in the future"));
    }
    let models = allowed_models(state, req.allowed_models)?;
    let meta = metadata(req.metadata)?;
    for _ in 0..KEY_ATTEMPTS {
        let secret = ApiKey::generate();
        let hash = state.hasher.hash(&secret);
        let new = NewKey {
            key_id: secret.key_id(),
            key_hash: &hash,
            tenant_id,
            team_id,
            name: key_name,
            rpm_limit: req.rpm_limit,
            concurrency_limit: req.concurrency_limit,
            expires_at,
            allowed_models: &models,
            metadata: &meta,
        };
        match keys::create_for_user(&state.pool, &new, user_id).await {
            Ok(row) => {
                tracing::info!(key_id = %row.key_id, %tenant_id, "key created");
                return Ok(pb::CreatedKey {
                    key: Some(key(row)),
                    secret: secret.expose().to_owned(),
                });
            }
            Err(StoreError::AlreadyExists { what: "key" }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BillingError::AlreadyExists("key"))
}

pub(crate) async fn list_keys(
    state: &State,
    req: pb::ListKeysRequest,
) -> Result<pb::ListKeysResponse, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let rows = keys::list(&state.pool, tenant_id).await?;
    Ok(pb::ListKeysResponse {
        keys: rows.into_iter().map(key).collect(),
    })
}

pub(crate) async fn revoke_key(
    state: &State,
    req: pb::RevokeKeyRequest,
) -> Result<pb::ApiKey, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let row = keys::revoke(&state.pool, tenant_id, key_id(&req.key_id)?).await?;
    tracing::info!(key_id = %row.key_id, %tenant_id, "key revoked");
    Ok(key(row))
}

fn key_id(s: &str) -> Result<&str, BillingError> {
    if s.is_empty() {
        return Err(BillingError::invalid("key_id", "is required"));
    }
    Ok(s)
}

pub(crate) async fn get_key(
    state: &State,
    req: pb::GetKeyRequest,
) -> Result<pb::ApiKey, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let row = keys::get(&state.pool, tenant_id, key_id(&req.key_id)?).await?;
    Ok(key(row))
}

pub(crate) async fn rotate_key(
    state: &State,
    req: pb::RotateKeyRequest,
) -> Result<pb::RotatedKey, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let old_id = key_id(&req.key_id)?;
    let overlap = req
        .overlap_seconds
        .map_or(DEFAULT_OVERLAP, Duration::from_secs);
    if overlap > MAX_OVERLAP {
        return Err(BillingError::invalid(
            "overlap_seconds",
            "must be at most 90 days",
        ));
    }
    for _ in 0..KEY_ATTEMPTS {
        let secret = ApiKey::generate();
        let hash = state.hasher.hash(&secret);
        let new = Replacement {
            key_id: secret.key_id(),
            key_hash: &hash,
        };
        match keys::rotate(&state.pool, tenant_id, old_id, new, overlap).await {
            Ok((old, fresh)) => {
                tracing::info!(
                    old_key_id = %old.key_id, key_id = %fresh.key_id, %tenant_id,
                    overlap_s = overlap.as_secs(), "key rotated"
                );
                return Ok(pb::RotatedKey {
                    created: Some(pb::CreatedKey {
                        key: Some(key(fresh)),
                        secret: secret.expose().to_owned(),
                    }),
                    old: Some(key(old)),
                });
            }
            Err(StoreError::AlreadyExists { what: "key" }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BillingError::AlreadyExists("key"))
}

//! Tenants, teams and keys. A key's secret is generated here, returned once and never stored:
//! Postgres holds only its keyed hash.

use tollgate_domain::ApiKey;
use tollgate_proto::billing::v1 as pb;
use tollgate_store::keys::{KeyRow, NewKey};
use tollgate_store::teams::Team;
use tollgate_store::tenants::Tenant;
use tollgate_store::{StoreError, keys, teams, tenants};

use crate::convert::{name, opt_uuid, timestamp, uuid};
use crate::{BillingError, State};

/// A fresh key id colliding with a stored one is a 1 in 62^12 event; retry a few times rather
/// than fail.
const KEY_ATTEMPTS: usize = 3;

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
    }
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
    let key_name = req.name.trim();
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
        };
        match keys::create(&state.pool, &new).await {
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
    if req.key_id.is_empty() {
        return Err(BillingError::invalid("key_id", "is required"));
    }
    let row = keys::revoke(&state.pool, tenant_id, &req.key_id).await?;
    tracing::info!(key_id = %row.key_id, %tenant_id, "key revoked");
    Ok(key(row))
}

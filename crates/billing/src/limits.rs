//! Rate limits per key, user, team or tenant, optionally per model. Stored here, enforced by the
//! edge from its snapshot (reloaded on the table's NOTIFY), all scopes in one Redis round trip.

use tollgate_proto::billing::v1 as pb;
use tollgate_store::limits::{self, Limit, LimitScope, SetLimit};

use crate::convert::{timestamp, uuid};
use crate::{BillingError, State};

/// The largest number a limit may hold (the column is a Postgres `integer`).
const MAX_LIMIT: u32 = i32::MAX as u32;

fn limit(l: Limit) -> pb::Limit {
    pb::Limit {
        id: l.id.to_string(),
        tenant_id: l.tenant_id.to_string(),
        scope: l.scope.as_str().to_owned(),
        scope_id: l.scope_id,
        model: l.model.unwrap_or_default(),
        rpm: l.rpm,
        tpm: l.tpm,
        concurrency: l.concurrency,
        created_at: Some(timestamp(l.created_at)),
        updated_at: Some(timestamp(l.updated_at)),
    }
}

fn number(field: &str, v: Option<u32>) -> Result<Option<u32>, BillingError> {
    match v {
        Some(n) if n > MAX_LIMIT => Err(BillingError::invalid(
            field,
            format!("must be at most {MAX_LIMIT}"),
        )),
        other => Ok(other),
    }
}

pub(crate) async fn set(
    state: &State,
    req: pb::SetLimitRequest,
) -> Result<pb::Limit, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let scope = LimitScope::parse(req.scope.trim())
        .ok_or_else(|| BillingError::invalid("scope", "must be one of key, user, team, tenant"))?;
    let scope_id = match scope {
        // The tenant's own limit: the id is implied (and, if given, must be the tenant's).
        LimitScope::Tenant if req.scope_id.is_empty() => tenant_id.to_string(),
        LimitScope::Tenant | LimitScope::Team | LimitScope::User => {
            uuid("scope_id", req.scope_id.trim())?.to_string()
        }
        LimitScope::Key if req.scope_id.trim().is_empty() => {
            return Err(BillingError::invalid(
                "scope_id",
                "is required for a key limit",
            ));
        }
        LimitScope::Key => req.scope_id.trim().to_owned(),
    };
    let model = req.model.trim();
    let model = if model.is_empty() {
        None
    } else {
        // The edge keys per-model counters by the public model name, so an alias is stored
        // as the model it names.
        match state.directory.load().canonical(model) {
            Some(name) => Some(name.to_owned()),
            // A typo would create a counter no request ever reaches.
            None => {
                return Err(BillingError::invalid(
                    "model",
                    format!("`{model}` is not a configured model"),
                ));
            }
        }
    };
    if req.rpm.is_none() && req.tpm.is_none() && req.concurrency.is_none() {
        return Err(BillingError::invalid(
            "rpm",
            "set at least one of rpm, tpm, concurrency",
        ));
    }
    let l = limits::set(
        &state.pool,
        &SetLimit {
            tenant_id,
            scope,
            scope_id: &scope_id,
            model: model.as_deref(),
            rpm: number("rpm", req.rpm)?,
            tpm: number("tpm", req.tpm)?,
            concurrency: number("concurrency", req.concurrency)?,
        },
    )
    .await?;
    tracing::info!(limit_id = %l.id, %tenant_id, scope = scope.as_str(), "limit set");
    Ok(limit(l))
}

pub(crate) async fn list(
    state: &State,
    req: pb::ListLimitsRequest,
) -> Result<pb::ListLimitsResponse, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let rows = limits::list(&state.pool, tenant_id).await?;
    Ok(pb::ListLimitsResponse {
        limits: rows.into_iter().map(limit).collect(),
    })
}

pub(crate) async fn delete(
    state: &State,
    req: pb::DeleteLimitRequest,
) -> Result<pb::Limit, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let id = uuid("limit_id", &req.limit_id)?;
    let l = limits::delete(&state.pool, tenant_id, id).await?;
    tracing::info!(limit_id = %l.id, %tenant_id, "limit deleted");
    Ok(limit(l))
}

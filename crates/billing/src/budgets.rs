//! Budgets: defined here, enforced by the edge (which reads them with the key snapshot).

use tollgate_domain::Money;
use tollgate_proto::billing::v1 as pb;
use tollgate_store::budgets::{self, Budget, NewBudget};

use crate::convert::{timestamp, uuid};
use crate::{BillingError, State};

fn budget(b: Budget) -> pb::Budget {
    pb::Budget {
        id: b.id.to_string(),
        tenant_id: b.tenant_id.to_string(),
        scope: b.scope,
        scope_id: b.scope_id,
        period: b.period,
        timezone: b.timezone,
        limit_usd: Money::from_picos(b.limit_picos).to_usd_string(),
        created_at: Some(timestamp(b.created_at)),
        alert_thresholds: b.alert_thresholds,
    }
}

pub(crate) async fn create(
    state: &State,
    req: pb::CreateBudgetRequest,
) -> Result<pb::Budget, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let scope_id = match req.scope.as_str() {
        // A tenant budget is the tenant's own; the id is implied.
        "tenant" => tenant_id.to_string(),
        "team" => uuid("scope_id", &req.scope_id)?.to_string(),
        "key" if !req.scope_id.is_empty() => req.scope_id.clone(),
        "key" => {
            return Err(BillingError::invalid(
                "scope_id",
                "is required for a key budget",
            ));
        }
        _ => {
            return Err(BillingError::invalid(
                "scope",
                "must be tenant, team or key",
            ));
        }
    };
    if !matches!(req.period.as_str(), "day" | "week" | "month") {
        return Err(BillingError::invalid(
            "period",
            "must be day, week or month",
        ));
    }
    let limit = Money::parse_usd(&req.limit_usd)
        .map_err(|e| BillingError::invalid("limit_usd", e.to_string()))?;
    if limit.picos() <= 0 {
        return Err(BillingError::invalid("limit_usd", "must be above zero"));
    }
    let thresholds = &req.alert_thresholds;
    if thresholds.len() > 10 {
        return Err(BillingError::invalid(
            "alert_thresholds",
            "has more than 10 entries",
        ));
    }
    if thresholds
        .iter()
        .any(|t| !t.is_finite() || *t <= 0.0 || *t > 10.0)
    {
        return Err(BillingError::invalid(
            "alert_thresholds",
            "must be fractions of the limit above 0 and at most 10 (e.g. 0.5, 0.8, 1)",
        ));
    }
    let timezone = if req.timezone.is_empty() {
        "UTC"
    } else {
        req.timezone.as_str()
    };
    Ok(budget(
        budgets::create(
            &state.pool,
            &NewBudget {
                tenant_id,
                scope: &req.scope,
                scope_id: &scope_id,
                period: &req.period,
                timezone,
                limit_picos: limit.picos(),
                alert_thresholds: thresholds,
            },
        )
        .await?,
    ))
}

pub(crate) async fn list(
    state: &State,
    req: pb::ListBudgetsRequest,
) -> Result<pb::ListBudgetsResponse, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    Ok(pb::ListBudgetsResponse {
        budgets: budgets::list(&state.pool, tenant_id)
            .await?
            .into_iter()
            .map(budget)
            .collect(),
    })
}

pub(crate) async fn delete(
    state: &State,
    req: pb::DeleteBudgetRequest,
) -> Result<pb::Budget, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let id = uuid("budget_id", &req.budget_id)?;
    Ok(budget(budgets::delete(&state.pool, tenant_id, id).await?))
}

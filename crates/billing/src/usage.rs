//! RecordUsage and GetSpend: pricing events with the in-memory book, writing them to the ledger
//! idempotently, and exact spend reports.

use chrono::Utc;
use tollgate_domain::{Money, Outcome, Units, Usage};
use tollgate_proto::billing::v1 as pb;
use tollgate_store::ledger::{self, LedgerEntry, SpendGroup, SpendQuery, SpendRow};

use crate::convert::{opt_str, opt_time, opt_uuid, time, uuid};
use crate::prices::Rates;
use crate::{BillingError, State};

/// Price one wire event. Unknown models are billed at 0 and counted, never refused: the request
/// already happened, and refusing would make the edge retry the batch forever.
fn entry(i: usize, e: &pb::UsageEvent, book: &Rates) -> Result<LedgerEntry, BillingError> {
    let field = |f: &str| format!("events[{i}].{f}");
    let usage = Usage {
        input_tokens: e.input_tokens,
        output_tokens: e.output_tokens,
        cached_input_tokens: e.cached_input_tokens,
        cache_write_tokens: e.cache_write_tokens,
        reasoning_tokens: e.reasoning_tokens,
        // A unit this billing does not know (a newer edge's) is billed by tokens only; the
        // event is never refused, since the request already happened.
        units: Units::from_wire(&e.billed_unit, e.billed_units),
    };
    if !e.billed_unit.is_empty() && usage.units.is_none() {
        metrics::counter!("tollgate_billing_unknown_unit_total").increment(1);
        tracing::warn!(unit = %e.billed_unit, "usage in a unit billing does not know: not billed by it");
    }
    let started_at = match &e.started_at {
        Some(t) => time(&field("started_at"), t)?,
        None => Utc::now(),
    };
    // The version effective when the request started, for the deployment that served it.
    let (model, cost, price_version) = match book.price(&e.model, &e.deployment, started_at) {
        Some(p) => (p.model, usage.cost(&p.price), p.version),
        None => {
            metrics::counter!("tollgate_billing_unpriced_total").increment(1);
            tracing::warn!(model = %e.model, "usage for a model with no price: billed at 0");
            (e.model.clone(), Money::ZERO, None)
        }
    };
    Ok(LedgerEntry {
        request_id: uuid(&field("request_id"), &e.request_id)?,
        tenant_id: uuid(&field("tenant_id"), &e.tenant_id)?,
        team_id: opt_uuid(&field("team_id"), &e.team_id)?,
        key_id: e.key_id.clone(),
        user_id: opt_str(&e.user_id),
        model,
        deployment: e.deployment.clone(),
        provider: e.provider.clone(),
        usage,
        cost,
        price_version,
        http_status: u16::try_from(e.http_status).unwrap_or(u16::MAX),
        outcome: Outcome::parse(&e.outcome).ok_or_else(|| {
            BillingError::invalid(
                field("outcome"),
                "must be completed, failed, client_cancelled or rejected",
            )
        })?,
        stream: e.stream,
        reported_by_provider: e.reported_by_provider,
        started_at,
        latency_ms: e.latency_ms,
    })
}

pub(crate) async fn record(
    state: &State,
    req: pb::RecordUsageRequest,
) -> Result<pb::RecordUsageResponse, BillingError> {
    let book = state
        .prices
        .load_full()
        .ok_or(BillingError::PricesNotLoaded)?;
    let entries = req
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| entry(i, e, &book))
        .collect::<Result<Vec<_>, _>>()?;
    // Returns only after commit: an acknowledged event is durable.
    let (inserted, duplicates) = ledger::record(&state.pool, &entries)
        .await
        .map_err(BillingError::Ledger)?;
    metrics::counter!("tollgate_billing_events_total", "result" => "inserted")
        .increment(u64::from(inserted));
    metrics::counter!("tollgate_billing_events_total", "result" => "duplicate")
        .increment(u64::from(duplicates));
    Ok(pb::RecordUsageResponse {
        inserted,
        duplicates,
    })
}

fn row(r: &SpendRow) -> pb::SpendRow {
    pb::SpendRow {
        group: r.group.clone(),
        requests: r.requests,
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        cached_input_tokens: r.cached_input_tokens,
        cost_usd: r.cost_usd().to_string(),
    }
}

pub(crate) async fn spend(
    state: &State,
    req: pb::GetSpendRequest,
) -> Result<pb::GetSpendResponse, BillingError> {
    let group_by = match req.group_by() {
        pb::GroupBy::Unspecified | pb::GroupBy::Tenant => SpendGroup::Tenant,
        pb::GroupBy::Team => SpendGroup::Team,
        pb::GroupBy::Key => SpendGroup::Key,
        pb::GroupBy::User => SpendGroup::User,
        pb::GroupBy::Model => SpendGroup::Model,
        pb::GroupBy::Day => SpendGroup::Day,
    };
    let q = SpendQuery {
        tenant_id: uuid("tenant_id", &req.tenant_id)?,
        team_id: opt_uuid("team_id", &req.team_id)?,
        key_id: opt_str(&req.key_id),
        user_id: opt_str(&req.user_id),
        model: opt_str(&req.model),
        from: opt_time("from", req.from.as_ref())?,
        to: opt_time("to", req.to.as_ref())?,
        group_by,
    };
    let rows = ledger::spend(&state.pool, &q).await?;
    let mut total = SpendRow {
        group: "total".into(),
        ..SpendRow::default()
    };
    rows.iter().for_each(|r| total.accumulate(r));
    Ok(pb::GetSpendResponse {
        rows: rows.iter().map(row).collect(),
        total: Some(row(&total)),
    })
}

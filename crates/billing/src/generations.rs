//! GetGeneration and ListUsage: ledger rows read back with their exact cost.

use chrono::{DateTime, Utc};
use tollgate_proto::billing::v1 as pb;
use tollgate_store::ledger::{self, LedgerEntry, UsageQuery};
use uuid::Uuid;

use crate::convert::{opt_str, opt_time, timestamp, uuid};
use crate::{BillingError, State};

fn generation(e: LedgerEntry) -> pb::Generation {
    pb::Generation {
        cost_usd: e.cost.to_usd_string(),
        price_version: e.price_version.unwrap_or(0),
        event: Some(pb::UsageEvent {
            request_id: e.request_id.to_string(),
            tenant_id: e.tenant_id.to_string(),
            team_id: e.team_id.map(|t| t.to_string()).unwrap_or_default(),
            key_id: e.key_id,
            user_id: e.user_id.unwrap_or_default(),
            model: e.model,
            deployment: e.deployment,
            provider: e.provider,
            input_tokens: e.usage.input_tokens,
            output_tokens: e.usage.output_tokens,
            cached_input_tokens: e.usage.cached_input_tokens,
            cache_write_tokens: e.usage.cache_write_tokens,
            reasoning_tokens: e.usage.reasoning_tokens,
            http_status: u32::from(e.http_status),
            outcome: e.outcome.as_str().to_owned(),
            stream: e.stream,
            started_at: Some(timestamp(e.started_at)),
            latency_ms: e.latency_ms,
            reported_by_provider: e.reported_by_provider,
            traceparent: String::new(),
            billed_unit: e
                .usage
                .units
                .map(|u| u.unit.as_str().to_owned())
                .unwrap_or_default(),
            billed_units: e.usage.units.map_or(0, |u| u.count),
        }),
    }
}

pub(crate) async fn get(
    state: &State,
    req: pb::GetGenerationRequest,
) -> Result<pb::Generation, BillingError> {
    let tenant = uuid("tenant_id", &req.tenant_id)?;
    let id = uuid("request_id", &req.request_id)?;
    ledger::get(&state.pool, tenant, id)
        .await?
        .map(generation)
        .ok_or(BillingError::NotFound("generation"))
}

/// Page tokens are `<started_at micros>.<request_id>`: opaque to callers, stable across pages.
fn parse_token(t: &str) -> Result<Option<(DateTime<Utc>, Uuid)>, BillingError> {
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || BillingError::invalid("page_token", "is not a token this service issued");
    let (micros, id) = t.split_once('.').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok(Some((at, Uuid::parse_str(id).map_err(|_| bad())?)))
}

pub(crate) async fn list(
    state: &State,
    req: pb::ListUsageRequest,
) -> Result<pb::ListUsageResponse, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let to = opt_time("to", req.to.as_ref())?.unwrap_or_else(Utc::now);
    let from = opt_time("from", req.from.as_ref())?.unwrap_or(to - chrono::Duration::days(30));
    let limit = if req.limit == 0 {
        1000
    } else {
        req.limit.min(10_000)
    };
    let q = UsageQuery {
        tenant_id,
        from,
        to,
        key_id: opt_str(&req.key_id),
        user_id: opt_str(&req.user_id),
        model: opt_str(&req.model),
        after: parse_token(&req.page_token)?,
        limit,
    };
    let rows = ledger::list(&state.pool, &q).await?;
    let next_page_token = match rows.last() {
        Some(last) if rows.len() as u32 == limit => {
            format!("{}.{}", last.started_at.timestamp_micros(), last.request_id)
        }
        _ => String::new(),
    };
    Ok(pb::ListUsageResponse {
        rows: rows.into_iter().map(generation).collect(),
        next_page_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_795_487_357_123_456).unwrap();
        let id = Uuid::now_v7();
        let t = format!("{}.{}", at.timestamp_micros(), id);
        assert_eq!(parse_token(&t).unwrap(), Some((at, id)));
        assert_eq!(parse_token("").unwrap(), None);
        for bad in ["x", "12.nope", "abc.0193", "."] {
            assert!(parse_token(bad).is_err(), "{bad}");
        }
    }
}

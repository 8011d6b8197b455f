//! `GET/POST /admin/v1/prices`: the global price catalog (admin token only: prices are not a
//! tenant's to change). Backed by billing's SetPrice/ListPrices; after a change the edge
//! reloads its own catalog from the answer before replying, so the very next request through
//! this edge is priced with it (other replicas follow on the database notification).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_domain::Price;
use tollgate_domain::money::{Money, PerMillion};
use tollgate_proto::billing::v1 as bill;
use tollgate_store::prices::{PriceCatalog, PriceVersion};

use super::{bad_json, rpc, to_ts, ts};
use crate::error::ApiError;
use crate::state::AppState;

fn price_json(p: bill::PriceVersion) -> Value {
    json!({
        "model": p.model, "version": p.version,
        "deployment": (!p.deployment.is_empty()).then_some(p.deployment),
        "effective_from": ts(p.effective_from),
        "input_usd": p.input_usd, "output_usd": p.output_usd,
        "cached_input_usd": p.cached_input_usd, "cache_write_usd": p.cache_write_usd,
        "reasoning_usd": p.reasoning_usd,
        "per_request_usd": p.per_request_usd,
        "per_image_usd": p.per_image_usd,
        "per_million_characters_usd": p.per_million_characters_usd,
        "per_audio_second_usd": p.per_audio_second_usd,
        "per_search_unit_usd": p.per_search_unit_usd,
        "source": p.source, "status": p.status,
    })
}

/// Prices are decimal strings in USD per million tokens (`per_request_usd`: per request; the
/// per-unit prices per image, per million characters, per second of audio, per search unit);
/// a JSON number is refused, as everywhere money is written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewPrice {
    model: String,
    #[serde(default)]
    deployment: Option<String>,
    #[serde(default)]
    input_usd: String,
    #[serde(default)]
    output_usd: String,
    #[serde(default)]
    cached_input_usd: String,
    #[serde(default)]
    cache_write_usd: String,
    /// Reasoning tokens; empty: the output price.
    #[serde(default)]
    reasoning_usd: String,
    #[serde(default)]
    per_request_usd: String,
    #[serde(default)]
    per_image_usd: String,
    #[serde(default)]
    per_million_characters_usd: String,
    #[serde(default)]
    per_audio_second_usd: String,
    #[serde(default)]
    per_search_unit_usd: String,
    /// RFC 3339; absent: now. Past times are refused.
    #[serde(default)]
    effective_from: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
pub(super) struct PriceFilter {
    #[serde(default)]
    model: String,
}

pub(super) async fn set_price(
    State(s): State<AppState>,
    body: Result<Json<NewPrice>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(p) = body.map_err(bad_json)?;
    let created = rpc(s.billing.clone().set_price(bill::SetPriceRequest {
        model: p.model,
        deployment: p.deployment.unwrap_or_default(),
        input_usd: p.input_usd,
        output_usd: p.output_usd,
        cached_input_usd: p.cached_input_usd,
        cache_write_usd: p.cache_write_usd,
        reasoning_usd: p.reasoning_usd,
        per_request_usd: p.per_request_usd,
        effective_from: p.effective_from.map(to_ts),
        per_image_usd: p.per_image_usd,
        per_million_characters_usd: p.per_million_characters_usd,
        per_audio_second_usd: p.per_audio_second_usd,
        per_search_unit_usd: p.per_search_unit_usd,
    }))
    .await?;
    refresh(&s).await;
    Ok((StatusCode::CREATED, Json(price_json(created))))
}

pub(super) async fn list_prices(
    State(s): State<AppState>,
    q: Result<Query<PriceFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let r = rpc(s
        .billing
        .clone()
        .list_prices(bill::ListPricesRequest { model: q.model }))
    .await?;
    let data: Vec<Value> = r.prices.into_iter().map(price_json).collect();
    Ok(Json(json!({ "data": data })))
}

/// Load this edge's catalog from billing's listing (best effort: the notification and the
/// poll catch up otherwise).
async fn refresh(s: &AppState) {
    let listed = rpc(s
        .billing
        .clone()
        .list_prices(bill::ListPricesRequest::default()))
    .await;
    match listed.map(|r| {
        r.prices
            .into_iter()
            .map(from_wire)
            .collect::<Option<Vec<_>>>()
    }) {
        Ok(Some(rows)) => s
            .prices
            .load()
            .catalog()
            .store(std::sync::Arc::new(PriceCatalog::new(rows))),
        Ok(None) => tracing::warn!("billing listed a price the edge cannot read; not reloaded"),
        Err(e) => tracing::warn!(error = %e, "prices not reloaded after a change"),
    }
}

fn from_wire(p: bill::PriceVersion) -> Option<PriceVersion> {
    let pm = |s: &str| PerMillion::parse_usd(s).ok();
    // A billing from before the per-unit prices leaves them empty: none set.
    let unit = |s: &str| match s {
        "" => Some(Money::ZERO),
        s => Money::parse_usd(s).ok(),
    };
    let pm_or_zero = |s: &str| match s {
        "" => Some(PerMillion::default()),
        s => PerMillion::parse_usd(s).ok(),
    };
    let at = p.effective_from?;
    Some(PriceVersion {
        price: Price {
            input: pm(&p.input_usd)?,
            output: pm(&p.output_usd)?,
            cached_input: pm(&p.cached_input_usd)?,
            cache_write: pm(&p.cache_write_usd)?,
            reasoning: pm(&p.reasoning_usd)?,
            per_request: Money::parse_usd(&p.per_request_usd).ok()?,
            per_image: unit(&p.per_image_usd)?,
            per_million_characters: pm_or_zero(&p.per_million_characters_usd)?,
            per_audio_second: unit(&p.per_audio_second_usd)?,
            per_search_unit: unit(&p.per_search_unit_usd)?,
        },
        effective_from: DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?)?,
        deployment: (!p.deployment.is_empty()).then_some(p.deployment),
        model: p.model,
        version: p.version,
        source: p.source,
    })
}

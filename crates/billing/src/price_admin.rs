//! SetPrice and ListPrices: the price catalog through the admin API.
//!
//! A price set here is a new version of the model's (or one deployment's) price, effective now
//! or later; the config's prices stay the base (a model without one fails the config load).
//! Every replica of billing and the edge reloads its catalog on the insert's notification.

use chrono::Utc;
use tollgate_domain::Price;
use tollgate_domain::money::{Money, PerMillion};
use tollgate_proto::billing::v1 as pb;
use tollgate_store::prices::{PriceVersion, Standing};

use crate::convert::{opt_time, timestamp};
use crate::{BillingError, State};

fn per_million(field: &str, s: &str) -> Result<PerMillion, BillingError> {
    if s.trim().is_empty() {
        return Ok(PerMillion::from_micros(0));
    }
    PerMillion::parse_usd(s).map_err(|e| BillingError::invalid(field, e.to_string()))
}

/// A flat USD amount (per request, per image, ...); empty is 0.
fn usd(field: &str, s: &str) -> Result<Money, BillingError> {
    if s.trim().is_empty() {
        return Ok(Money::ZERO);
    }
    Money::parse_usd(s).map_err(|e| BillingError::invalid(field, e.to_string()))
}

fn usd_string(m: Money) -> String {
    m.to_usd().normalize().to_string()
}

/// USD per million tokens, as the admin wrote it (`"0.15"`).
fn usd_per_million(p: PerMillion) -> String {
    // Micro-dollars per million tokens are pico-dollars × 1e6 per million: same digits,
    // shifted by six places.
    Money::from_picos(p.micros().saturating_mul(1_000_000))
        .to_usd()
        .normalize()
        .to_string()
}

pub(crate) fn version(v: &PriceVersion, standing: Standing) -> pb::PriceVersion {
    pb::PriceVersion {
        model: v.model.clone(),
        version: v.version,
        deployment: v.deployment.clone().unwrap_or_default(),
        effective_from: Some(timestamp(v.effective_from)),
        input_usd: usd_per_million(v.price.input),
        output_usd: usd_per_million(v.price.output),
        cached_input_usd: usd_per_million(v.price.cached_input),
        cache_write_usd: usd_per_million(v.price.cache_write),
        reasoning_usd: usd_per_million(v.price.reasoning),
        per_request_usd: usd_string(v.price.per_request),
        source: v.source.clone(),
        status: standing.as_str().to_owned(),
        per_image_usd: usd_string(v.price.per_image),
        per_million_characters_usd: usd_per_million(v.price.per_million_characters),
        per_audio_second_usd: usd_string(v.price.per_audio_second),
        per_search_unit_usd: usd_string(v.price.per_search_unit),
    }
}

pub(crate) async fn set(
    state: &State,
    req: pb::SetPriceRequest,
) -> Result<pb::PriceVersion, BillingError> {
    let model = req.model.trim();
    if model.is_empty() {
        return Err(BillingError::invalid("model", "is required"));
    }
    let book = state
        .prices
        .load_full()
        .ok_or(BillingError::PricesNotLoaded)?;
    // Prices are for models the config declares (or once declared): a typo must not create a
    // price nobody bills at.
    if !book.knows(model) {
        return Err(BillingError::invalid(
            "model",
            format!("`{model}` is not a configured model"),
        ));
    }
    let output = per_million("output_usd", &req.output_usd)?;
    let price = Price {
        input: per_million("input_usd", &req.input_usd)?,
        output,
        cached_input: per_million("cached_input_usd", &req.cached_input_usd)?,
        cache_write: per_million("cache_write_usd", &req.cache_write_usd)?,
        // Unless a provider prices reasoning apart, it is output.
        reasoning: if req.reasoning_usd.trim().is_empty() {
            output
        } else {
            per_million("reasoning_usd", &req.reasoning_usd)?
        },
        per_request: usd("per_request_usd", &req.per_request_usd)?,
        per_image: usd("per_image_usd", &req.per_image_usd)?,
        per_million_characters: per_million(
            "per_million_characters_usd",
            &req.per_million_characters_usd,
        )?,
        per_audio_second: usd("per_audio_second_usd", &req.per_audio_second_usd)?,
        per_search_unit: usd("per_search_unit_usd", &req.per_search_unit_usd)?,
    };
    let deployment = req.deployment.trim();
    let effective_from = opt_time("effective_from", req.effective_from.as_ref())?;
    let v = tollgate_store::prices::set(
        &state.pool,
        model,
        (!deployment.is_empty()).then_some(deployment),
        &price,
        effective_from,
    )
    .await?;
    // This replica bills with it at once; the others on the notification.
    let rates = crate::prices::reload(&state.pool, &state.directory.load()).await?;
    state.prices.store(Some(std::sync::Arc::new(rates)));
    let standing = if v.effective_from > Utc::now() {
        Standing::Scheduled
    } else {
        Standing::Current
    };
    Ok(version(&v, standing))
}

pub(crate) async fn list(
    state: &State,
    req: pb::ListPricesRequest,
) -> Result<pb::ListPricesResponse, BillingError> {
    let book = state
        .prices
        .load_full()
        .ok_or(BillingError::PricesNotLoaded)?;
    let model = req.model.trim();
    Ok(pb::ListPricesResponse {
        prices: book
            .catalog()
            .listing(Utc::now())
            .into_iter()
            .filter(|(v, _)| model.is_empty() || v.model == model)
            .map(|(v, s)| version(v, s))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_back_as_written() {
        let p = PerMillion::parse_usd("0.15").unwrap();
        assert_eq!(usd_per_million(p), "0.15");
        assert_eq!(usd_per_million(PerMillion::from_micros(0)), "0");
        assert_eq!(usd_per_million(PerMillion::parse_usd("12").unwrap()), "12");
    }

    #[test]
    fn a_price_finer_than_a_micro_dollar_names_its_field() {
        let e = per_million("input_usd", "0.0000001").unwrap_err();
        assert!(e.to_string().starts_with("input_usd:"), "{e}");
        assert_eq!(per_million("x", "").unwrap(), PerMillion::from_micros(0));
    }
}

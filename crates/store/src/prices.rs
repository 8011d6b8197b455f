//! The versioned price catalog. Every ledger row names the version it was billed at, so a price
//! change never rewrites history: loading a changed price adds a version, loading the same price
//! again does nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tollgate_domain::Price;
use tollgate_domain::money::{Money, PerMillion};

use crate::StoreError;

/// `LISTEN` channel of catalog changes (see [`crate::changes::Changes`]).
pub const CHANNEL: &str = "tollgate_prices";
use crate::text::pg_text;

#[derive(sqlx::FromRow)]
struct PriceRecord {
    model: String,
    version: i32,
    input_micros: i64,
    cached_input_micros: i64,
    cache_write_micros: i64,
    output_micros: i64,
    reasoning_micros: Option<i64>,
    per_request_picos: i64,
    #[sqlx(flatten)]
    units: UnitColumns,
}

impl PriceRecord {
    fn price(&self) -> Price {
        self.units.onto(Price {
            input: PerMillion::from_micros(self.input_micros),
            cached_input: PerMillion::from_micros(self.cached_input_micros),
            cache_write: PerMillion::from_micros(self.cache_write_micros),
            output: PerMillion::from_micros(self.output_micros),
            reasoning: PerMillion::from_micros(self.reasoning_micros.unwrap_or(self.output_micros)),
            per_request: Money::from_picos(self.per_request_picos),
            ..Price::default()
        })
    }
}

/// The per-unit price columns (`20261208000001_unit_prices.sql`), read by every query of a
/// price row.
#[derive(sqlx::FromRow)]
struct UnitColumns {
    per_image_picos: i64,
    per_million_characters_micros: i64,
    per_audio_second_picos: i64,
    per_search_unit_picos: i64,
}

impl UnitColumns {
    fn onto(&self, price: Price) -> Price {
        Price {
            per_image: Money::from_picos(self.per_image_picos),
            per_million_characters: PerMillion::from_micros(self.per_million_characters_micros),
            per_audio_second: Money::from_picos(self.per_audio_second_picos),
            per_search_unit: Money::from_picos(self.per_search_unit_picos),
            ..price
        }
    }
}

/// The per-unit price columns, after the token prices, in every query's order.
macro_rules! unit_columns {
    () => {
        "per_image_picos, per_million_characters_micros, per_audio_second_picos, \
         per_search_unit_picos"
    };
}

/// Make `price` the current price of `model` and return its version: the current version when
/// the price is unchanged, a new one (effective now) when it differs.
pub async fn upsert(pool: &PgPool, model: &str, price: &Price) -> Result<i32, StoreError> {
    let model = pg_text(model);
    let mut tx = pool.begin().await?;
    // Replicas starting together load the same catalog: serialise them per model so each
    // change makes exactly one version.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('tollgate.prices:' || $1, 0))")
        .bind(model.as_ref())
        .execute(&mut *tx)
        .await?;
    // Compared with the config's own latest version, so an admin's price set since is not
    // overwritten by a restart with an unchanged config.
    let current = sqlx::query_as::<_, PriceRecord>(concat!(
        "SELECT model, version, input_micros, cached_input_micros, cache_write_micros, \
                output_micros, reasoning_micros, per_request_picos, ",
        unit_columns!(),
        " FROM prices WHERE model = $1 AND source = 'config' AND deployment IS NULL \
         ORDER BY version DESC LIMIT 1"
    ))
    .bind(model.as_ref())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(cur) = &current
        && cur.price() == *price
    {
        tx.commit().await?;
        return Ok(cur.version);
    }
    let version = next_version(&mut tx, model.as_ref()).await?;
    sqlx::query(concat!(
        "INSERT INTO prices (model, version, input_micros, cached_input_micros, \
                             cache_write_micros, output_micros, per_request_picos, \
                             reasoning_micros, ",
        unit_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(model.as_ref())
    .bind(version)
    .bind(price.input.micros())
    .bind(price.cached_input.micros())
    .bind(price.cache_write.micros())
    .bind(price.output.micros())
    .bind(price.per_request.picos())
    .bind(price.reasoning.micros())
    .bind(price.per_image.picos())
    .bind(price.per_million_characters.micros())
    .bind(price.per_audio_second.picos())
    .bind(price.per_search_unit.picos())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(version)
}

async fn next_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    model: &str,
) -> Result<i32, StoreError> {
    let max: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM prices WHERE model = $1")
        .bind(model)
        .fetch_one(&mut **tx)
        .await?;
    Ok(max.map_or(1, |v| v.saturating_add(1)))
}

/// The current (latest) version and price of every model.
pub async fn current(pool: &PgPool) -> Result<HashMap<String, (i32, Price)>, StoreError> {
    let recs = sqlx::query_as::<_, PriceRecord>(concat!(
        "SELECT DISTINCT ON (model) model, version, input_micros, cached_input_micros, \
                cache_write_micros, output_micros, reasoning_micros, per_request_picos, ",
        unit_columns!(),
        " FROM prices ORDER BY model, version DESC"
    ))
    .fetch_all(pool)
    .await?;
    Ok(recs
        .into_iter()
        .map(|r| {
            let price = r.price();
            (r.model, (r.version, price))
        })
        .collect())
}

/// One version of a model's price (to re-price or audit a ledger row).
pub async fn version(pool: &PgPool, model: &str, version: i32) -> Result<Price, StoreError> {
    sqlx::query_as::<_, PriceRecord>(concat!(
        "SELECT model, version, input_micros, cached_input_micros, cache_write_micros, \
                output_micros, reasoning_micros, per_request_picos, ",
        unit_columns!(),
        " FROM prices WHERE model = $1 AND version = $2"
    ))
    .bind(pg_text(model).as_ref())
    .bind(version)
    .fetch_optional(pool)
    .await?
    .map(|r| r.price())
    .ok_or(StoreError::NotFound { what: "price" })
}

/// One row of the catalog: a model's (or one of its deployments') price from `effective_from`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceVersion {
    pub model: String,
    pub version: i32,
    /// `None`: the model's price; `Some`: that deployment's only.
    pub deployment: Option<String>,
    pub effective_from: DateTime<Utc>,
    pub price: Price,
    /// `"config"` or `"admin"`.
    pub source: String,
}

#[derive(sqlx::FromRow)]
struct VersionRecord {
    model: String,
    version: i32,
    deployment: Option<String>,
    effective_from: DateTime<Utc>,
    input_micros: i64,
    cached_input_micros: i64,
    cache_write_micros: i64,
    output_micros: i64,
    reasoning_micros: Option<i64>,
    per_request_picos: i64,
    source: String,
    #[sqlx(flatten)]
    units: UnitColumns,
}

impl From<VersionRecord> for PriceVersion {
    fn from(r: VersionRecord) -> Self {
        PriceVersion {
            price: r.units.onto(Price {
                input: PerMillion::from_micros(r.input_micros),
                cached_input: PerMillion::from_micros(r.cached_input_micros),
                cache_write: PerMillion::from_micros(r.cache_write_micros),
                output: PerMillion::from_micros(r.output_micros),
                reasoning: PerMillion::from_micros(r.reasoning_micros.unwrap_or(r.output_micros)),
                per_request: Money::from_picos(r.per_request_picos),
                ..Price::default()
            }),
            model: r.model,
            version: r.version,
            deployment: r.deployment,
            effective_from: r.effective_from,
            source: r.source,
        }
    }
}

macro_rules! version_columns {
    () => {
        concat!(
            "model, version, deployment, effective_from, input_micros, cached_input_micros, \
             cache_write_micros, output_micros, reasoning_micros, per_request_picos, source, ",
            unit_columns!()
        )
    };
}

/// Every version of every price (the catalog is small: models × price changes).
pub async fn all(pool: &PgPool) -> Result<Vec<PriceVersion>, StoreError> {
    let recs = sqlx::query_as::<_, VersionRecord>(concat!(
        "SELECT ",
        version_columns!(),
        " FROM prices ORDER BY model, effective_from, version"
    ))
    .fetch_all(pool)
    .await?;
    Ok(recs.into_iter().map(PriceVersion::from).collect())
}

/// Add an admin-set price for `model` (or one of its deployments) from `effective_from`
/// (`None`: now). A time before now is refused: rows already recorded keep the price they were
/// billed at, and recomputing them from their version must give the same cost.
pub async fn set(
    pool: &PgPool,
    model: &str,
    deployment: Option<&str>,
    price: &Price,
    effective_from: Option<DateTime<Utc>>,
) -> Result<PriceVersion, StoreError> {
    let model = pg_text(model);
    let deployment = deployment.map(pg_text);
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('tollgate.prices:' || $1, 0))")
        .bind(model.as_ref())
        .execute(&mut *tx)
        .await?;
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *tx)
        .await?;
    let effective_from = effective_from.unwrap_or(now);
    if effective_from < now {
        return Err(StoreError::Invalid {
            field: "effective_from",
            message: "is in the past; a price can only take effect now or later, so costs \
                      already recorded never change",
        });
    }
    let version = next_version(&mut tx, model.as_ref()).await?;
    let rec = sqlx::query_as::<_, VersionRecord>(concat!(
        "INSERT INTO prices (model, version, deployment, effective_from, input_micros, \
                             cached_input_micros, cache_write_micros, output_micros, \
                             per_request_picos, source, reasoning_micros, ",
        unit_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'admin', $10, $11, $12, $13, $14) \
         RETURNING ",
        version_columns!()
    ))
    .bind(model.as_ref())
    .bind(version)
    .bind(deployment.as_deref())
    .bind(effective_from)
    .bind(price.input.micros())
    .bind(price.cached_input.micros())
    .bind(price.cache_write.micros())
    .bind(price.output.micros())
    .bind(price.per_request.picos())
    .bind(price.reasoning.micros())
    .bind(price.per_image.picos())
    .bind(price.per_million_characters.micros())
    .bind(price.per_audio_second.picos())
    .bind(price.per_search_unit.picos())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rec.into())
}

/// The catalog in memory, answering "which version applies to this request": the version of
/// the deployment that served it effective at the request's start when that deployment has
/// one, else the model's. Billing (for the ledger) and the edge (for `x-tollgate-cost`) both
/// answer with this, so they agree to the pico-dollar.
#[derive(Clone, Debug, Default)]
pub struct PriceCatalog {
    /// Per model, sorted by (effective_from, version).
    by_model: HashMap<String, Vec<PriceVersion>>,
}

impl PriceCatalog {
    pub fn new(rows: Vec<PriceVersion>) -> PriceCatalog {
        let mut by_model: HashMap<String, Vec<PriceVersion>> = HashMap::new();
        for r in rows {
            by_model.entry(r.model.clone()).or_default().push(r);
        }
        for v in by_model.values_mut() {
            v.sort_by_key(|a| (a.effective_from, a.version));
        }
        PriceCatalog { by_model }
    }

    pub fn is_empty(&self) -> bool {
        self.by_model.is_empty()
    }

    /// Whether `model` has any version at all.
    pub fn contains(&self, model: &str) -> bool {
        self.by_model.contains_key(model)
    }

    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.by_model.keys().map(String::as_str)
    }

    /// The version that prices a request to `model` served by `deployment` (empty: unknown)
    /// that started `at`: the deployment's latest version effective then, else the model's,
    /// else (a request older than every version) the model's first.
    pub fn effective(
        &self,
        model: &str,
        deployment: &str,
        at: DateTime<Utc>,
    ) -> Option<&PriceVersion> {
        let versions = self.by_model.get(model)?;
        let latest = |dep: Option<&str>| {
            versions
                .iter()
                .rev()
                .filter(|v| v.effective_from <= at)
                .find(|v| v.deployment.as_deref() == dep)
        };
        (!deployment.is_empty())
            .then(|| latest(Some(deployment)))
            .flatten()
            .or_else(|| latest(None))
            // A request older than every version (spooled while the model was first priced)
            // is billed at the model's first price, never at 0.
            .or_else(|| versions.iter().find(|v| v.deployment.is_none()))
    }

    /// Every version, each with its standing at `now`.
    pub fn listing(&self, now: DateTime<Utc>) -> Vec<(&PriceVersion, Standing)> {
        let mut out = Vec::new();
        let mut models: Vec<&String> = self.by_model.keys().collect();
        models.sort();
        for m in models {
            let versions = &self.by_model[m];
            for v in versions {
                let standing = if v.effective_from > now {
                    Standing::Scheduled
                } else if versions
                    .iter()
                    .rev()
                    .find(|o| o.deployment == v.deployment && o.effective_from <= now)
                    .is_some_and(|cur| cur.version == v.version)
                {
                    Standing::Current
                } else {
                    Standing::History
                };
                out.push((v, standing));
            }
        }
        out
    }
}

/// Where a version stands at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Current,
    Scheduled,
    History,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Current => "current",
            Standing::Scheduled => "scheduled",
            Standing::History => "history",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: i32, dep: Option<&str>, from_s: i64, input: i64) -> PriceVersion {
        PriceVersion {
            model: "m".into(),
            version,
            deployment: dep.map(str::to_owned),
            effective_from: DateTime::from_timestamp(from_s, 0).unwrap(),
            price: Price {
                input: PerMillion::from_micros(input),
                ..Price::default()
            },
            source: "admin".into(),
        }
    }

    #[test]
    fn the_version_effective_at_the_request_start_applies_deployment_first() {
        let c = PriceCatalog::new(vec![
            v(3, None, 300, 3),
            v(1, None, 100, 1),
            v(2, Some("east"), 200, 2),
            v(4, Some("east"), 400, 4),
        ]);
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(c.effective("m", "", at(99)).unwrap().version, 1);
        assert_eq!(c.effective("m", "east", at(99)).unwrap().version, 1);
        assert_eq!(c.effective("m", "", at(100)).unwrap().version, 1);
        assert_eq!(c.effective("m", "west", at(250)).unwrap().version, 1);
        assert_eq!(c.effective("m", "east", at(150)).unwrap().version, 1);
        assert_eq!(c.effective("m", "east", at(250)).unwrap().version, 2);
        // A newer model price does not override an existing deployment price.
        assert_eq!(c.effective("m", "east", at(350)).unwrap().version, 2);
        assert_eq!(c.effective("m", "west", at(350)).unwrap().version, 3);
        assert_eq!(c.effective("m", "east", at(400)).unwrap().version, 4);
        assert_eq!(c.effective("other", "", at(400)), None);

        let standing: Vec<(i32, &str)> = c
            .listing(at(350))
            .into_iter()
            .map(|(v, s)| (v.version, s.as_str()))
            .collect();
        assert_eq!(
            standing,
            [
                (1, "history"),
                (2, "current"),
                (3, "current"),
                (4, "scheduled")
            ]
        );
    }
}

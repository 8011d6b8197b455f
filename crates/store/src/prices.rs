//! The versioned price catalog. Every ledger row names the version it was billed at, so a price
//! change never rewrites history: loading a changed price adds a version, loading the same price
//! again does nothing.

use std::collections::HashMap;

use sqlx::PgPool;
use tollgate_domain::Price;
use tollgate_domain::money::{Money, PerMillion};

use crate::StoreError;
use crate::text::pg_text;

#[derive(sqlx::FromRow)]
struct PriceRecord {
    model: String,
    version: i32,
    input_micros: i64,
    cached_input_micros: i64,
    cache_write_micros: i64,
    output_micros: i64,
    per_request_picos: i64,
}

impl PriceRecord {
    fn price(&self) -> Price {
        Price {
            input: PerMillion::from_micros(self.input_micros),
            cached_input: PerMillion::from_micros(self.cached_input_micros),
            cache_write: PerMillion::from_micros(self.cache_write_micros),
            output: PerMillion::from_micros(self.output_micros),
            per_request: Money::from_picos(self.per_request_picos),
        }
    }
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
    let current = sqlx::query_as::<_, PriceRecord>(
        "SELECT model, version, input_micros, cached_input_micros, cache_write_micros, \
                output_micros, per_request_picos \
         FROM prices WHERE model = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(model.as_ref())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(cur) = &current
        && cur.price() == *price
    {
        tx.commit().await?;
        return Ok(cur.version);
    }
    let version = current.map_or(1, |c| c.version.saturating_add(1));
    sqlx::query(
        "INSERT INTO prices (model, version, input_micros, cached_input_micros, \
                             cache_write_micros, output_micros, per_request_picos) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(model.as_ref())
    .bind(version)
    .bind(price.input.micros())
    .bind(price.cached_input.micros())
    .bind(price.cache_write.micros())
    .bind(price.output.micros())
    .bind(price.per_request.picos())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(version)
}

/// The current (latest) version and price of every model.
pub async fn current(pool: &PgPool) -> Result<HashMap<String, (i32, Price)>, StoreError> {
    let recs = sqlx::query_as::<_, PriceRecord>(
        "SELECT DISTINCT ON (model) model, version, input_micros, cached_input_micros, \
                cache_write_micros, output_micros, per_request_picos \
         FROM prices ORDER BY model, version DESC",
    )
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
    sqlx::query_as::<_, PriceRecord>(
        "SELECT model, version, input_micros, cached_input_micros, cache_write_micros, \
                output_micros, per_request_picos \
         FROM prices WHERE model = $1 AND version = $2",
    )
    .bind(pg_text(model).as_ref())
    .bind(version)
    .fetch_optional(pool)
    .await?
    .map(|r| r.price())
    .ok_or(StoreError::NotFound { what: "price" })
}

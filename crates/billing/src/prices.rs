//! The in-memory price book: every model name and alias mapped to its current price version.
//!
//! Built at start: the catalog already in Postgres (so spooled usage for a model since removed
//! from the config is still billed at its last price), then every configured model's price,
//! which adds a version only where the price changed.

use std::collections::HashMap;
use std::time::Duration;

use tollgate_config::ModelConfig;
use tollgate_domain::Price;
use tollgate_store::{PgPool, StoreError};

/// How usage of one model name is billed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Priced {
    /// The public model name (an alias resolves to its model, so spend reports group by model).
    pub model: String,
    pub version: i32,
    pub price: Price,
}

#[derive(Clone, Debug, Default)]
pub struct PriceBook {
    by_name: HashMap<String, Priced>,
}

impl PriceBook {
    /// The price for `model` (a public name or an alias).
    pub fn get(&self, model: &str) -> Option<&Priced> {
        self.by_name.get(model)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Store the configured prices (versioning changes) and build the book.
pub async fn load(pool: &PgPool, models: &[ModelConfig]) -> Result<PriceBook, StoreError> {
    let mut by_name: HashMap<String, Priced> = tollgate_store::prices::current(pool)
        .await?
        .into_iter()
        .map(|(model, (version, price))| {
            let priced = Priced {
                model: model.clone(),
                version,
                price,
            };
            (model, priced)
        })
        .collect();
    for m in models {
        let price = m.price();
        let version = tollgate_store::prices::upsert(pool, &m.name, &price).await?;
        let priced = Priced {
            model: m.name.clone(),
            version,
            price,
        };
        for name in std::iter::once(&m.name).chain(&m.aliases) {
            by_name.insert(name.clone(), priced.clone());
        }
    }
    Ok(PriceBook { by_name })
}

/// Load the book, retrying with backoff while Postgres is unreachable. Gives up (returns the
/// error) only on a non-transient error.
pub async fn load_with_retry(
    pool: &PgPool,
    models: &[ModelConfig],
) -> Result<PriceBook, StoreError> {
    let mut delay = Duration::from_millis(500);
    loop {
        match load(pool, models).await {
            Ok(book) => return Ok(book),
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, retry_in = ?delay, "cannot load prices yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

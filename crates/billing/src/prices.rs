//! The in-memory price book: every model name and alias mapped to its public model, and the
//! whole versioned catalog (model and deployment prices, current and scheduled).
//!
//! Built at start: every configured model's price is stored (a version is added only where the
//! config's price changed), then the whole catalog is read, including models since removed from
//! the config (spooled usage for them is still billed at their last price) and prices set
//! through the admin API. Reloaded on every `NOTIFY tollgate_prices`, so a price set on one
//! replica bills on all of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tollgate_config::ModelConfig;
use tollgate_domain::Price;
use tollgate_store::changes::Changes;
use tollgate_store::prices::Catalog;
use tollgate_store::{PgPool, StoreError};

use crate::State;

/// How usage of one request is billed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Priced {
    /// The public model name (an alias resolves to its model, so spend reports group by model).
    pub model: String,
    pub version: i32,
    pub price: Price,
}

#[derive(Clone, Debug, Default)]
pub struct PriceBook {
    /// Every configured alias to its model's public name.
    model_of: HashMap<String, String>,
    catalog: Catalog,
}

impl PriceBook {
    pub fn new(models: &[ModelConfig], catalog: Catalog) -> PriceBook {
        let model_of = models
            .iter()
            .flat_map(|m| m.aliases.iter().map(|a| (a.clone(), m.name.clone())))
            .collect();
        PriceBook { model_of, catalog }
    }

    fn model<'a>(&'a self, name: &'a str) -> &'a str {
        self.model_of.get(name).map_or(name, String::as_str)
    }

    /// Whether `name` (a public name or an alias) has a price at all.
    pub fn knows(&self, name: &str) -> bool {
        self.catalog.contains(self.model(name))
    }

    /// The price of a request to `name` (a public name or an alias) served by `deployment`,
    /// started `at`: the version effective then.
    pub fn price(&self, name: &str, deployment: &str, at: DateTime<Utc>) -> Option<Priced> {
        let model = self.model(name);
        self.catalog
            .effective(model, deployment, at)
            .map(|v| Priced {
                model: model.to_owned(),
                version: v.version,
                price: v.price,
            })
    }

    /// The model-level price of `name` in effect now (what a request would pay at admission).
    pub fn get(&self, name: &str) -> Option<Priced> {
        self.price(name, "", Utc::now())
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn len(&self) -> usize {
        self.catalog.models().count()
    }

    pub fn is_empty(&self) -> bool {
        self.catalog.is_empty()
    }
}

/// Store the configured prices (versioning changes) and build the book.
pub async fn load(pool: &PgPool, models: &[ModelConfig]) -> Result<PriceBook, StoreError> {
    for m in models {
        tollgate_store::prices::upsert(pool, &m.name, &m.price()).await?;
    }
    reload(pool, models).await
}

/// Read the catalog again (after a change), without storing the config's prices.
pub async fn reload(pool: &PgPool, models: &[ModelConfig]) -> Result<PriceBook, StoreError> {
    let rows = tollgate_store::prices::all(pool).await?;
    Ok(PriceBook::new(models, Catalog::new(rows)))
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

/// Reload the book whenever the catalog changes (a price set on any replica); runs until
/// aborted. Listen first, then load, so no change between the two is missed.
pub(crate) async fn keep_fresh(state: Arc<State>, models: Vec<ModelConfig>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let listener = Changes::listen(&state.pool, tollgate_store::prices::CHANNEL).await;
        let mut listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "price listener cannot connect yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        loop {
            // Only once a book is loaded: the first load also stores the config's prices.
            if state.prices.load().is_some() {
                match reload(&state.pool, &models).await {
                    Ok(book) => state.prices.store(Some(Arc::new(book))),
                    Err(e) => tracing::warn!(error = %e, "prices not reloaded"),
                }
            }
            if let Err(e) = listener.recv().await {
                tracing::warn!(error = %e, "price change listener lost; reconnecting");
                break;
            }
        }
    }
}

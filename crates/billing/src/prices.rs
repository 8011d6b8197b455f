//! The rates billing charges: the model directory (every name and alias to its public model)
//! and the whole versioned price catalog (model and deployment prices, current and scheduled).
//!
//! Built at start: every configured model's price is stored (a version is added only where the
//! config's price changed), then the whole catalog is read, including models since removed from
//! the config (spooled usage for them is still billed at their last price) and prices set
//! through the admin API. Reloaded on every `NOTIFY tollgate_prices`, so a price set on one
//! replica bills on all of them, and on every change of the config file (a model added while
//! running is priced by billing as it is by the edge).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tollgate_config::ModelDirectory;
use tollgate_domain::Price;
use tollgate_store::prices::PriceCatalog;
use tollgate_store::{PgPool, StoreError};

use crate::State;

/// How often the catalog is read again without a notification (a missed NOTIFY, a scheduled
/// price becoming effective is handled by `effective` itself).
const POLL: Duration = Duration::from_secs(30);

/// How usage of one request is billed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Priced {
    /// The public model name (an alias resolves to its model, so spend reports group by model).
    pub model: String,
    /// The catalog version; `None` when the catalog has no version in effect yet and the
    /// config's price stands in (as it does at the edge), e.g. a model added to the file a
    /// moment before its price was stored.
    pub version: Option<i32>,
    pub price: Price,
}

#[derive(Clone, Debug, Default)]
pub struct Rates {
    directory: ModelDirectory,
    catalog: PriceCatalog,
}

impl Rates {
    pub fn new(directory: ModelDirectory, catalog: PriceCatalog) -> Rates {
        Rates { directory, catalog }
    }

    fn model<'a>(&'a self, name: &'a str) -> &'a str {
        self.directory.canonical_or(name)
    }

    /// Whether `name` (a public name or an alias) is configured or has a price at all (a model
    /// removed from the config keeps its prices).
    pub fn knows(&self, name: &str) -> bool {
        self.directory.knows(name) || self.catalog.contains(self.model(name))
    }

    /// The price of a request to `name` (a public name or an alias) served by `deployment`,
    /// started `at`: the version effective then, else the configured price. The edge picks the
    /// same way, so what a caller was told a request costs is what it is billed.
    pub fn price(&self, name: &str, deployment: &str, at: DateTime<Utc>) -> Option<Priced> {
        let model = self.model(name);
        if let Some(v) = self.catalog.effective(model, deployment, at) {
            return Some(Priced {
                model: model.to_owned(),
                version: Some(v.version),
                price: v.price,
            });
        }
        self.directory.config_price(name).map(|price| Priced {
            model: model.to_owned(),
            version: None,
            price,
        })
    }

    /// The model-level price of `name` in effect now (what a request would pay at admission).
    pub fn get(&self, name: &str) -> Option<Priced> {
        self.price(name, "", Utc::now())
    }

    pub fn catalog(&self) -> &PriceCatalog {
        &self.catalog
    }

    pub fn len(&self) -> usize {
        self.catalog.models().count()
    }

    pub fn is_empty(&self) -> bool {
        self.catalog.is_empty()
    }
}

/// Store the configured prices (versioning changes) and build the rates.
pub async fn load(pool: &PgPool, directory: &ModelDirectory) -> Result<Rates, StoreError> {
    for m in directory.models() {
        tollgate_store::prices::upsert(pool, &m.name, &m.price).await?;
    }
    reload(pool, directory).await
}

/// Read the catalog again (after a change), without storing the config's prices.
pub async fn reload(pool: &PgPool, directory: &ModelDirectory) -> Result<Rates, StoreError> {
    let rows = tollgate_store::prices::all(pool).await?;
    Ok(Rates::new(directory.clone(), PriceCatalog::new(rows)))
}

/// One refresh: store the config's prices first when they have not been stored since the
/// config (re)loaded, then read the catalog. Returns whether rates are loaded.
async fn refresh(state: &State) -> bool {
    let directory = state.directory.load_full();
    let store_config = state.config_pending.swap(false, Ordering::AcqRel);
    let loaded = if store_config {
        load(&state.pool, &directory).await
    } else {
        reload(&state.pool, &directory).await
    };
    match loaded {
        Ok(rates) => {
            if store_config {
                tracing::info!(models = rates.len(), "prices loaded");
            }
            state.prices.store(Some(Arc::new(rates)));
            true
        }
        Err(e) => {
            if store_config {
                state.config_pending.store(true, Ordering::Release);
            }
            tracing::warn!(error = %e, "prices not loaded; retrying");
            false
        }
    }
}

/// Keep the rates fresh until `stop`: on every price notification (a price set on any replica,
/// or the config's prices stored by one), at least every [`POLL`], and with backoff until the
/// first load succeeds while Postgres is still coming up.
pub(crate) async fn keep_fresh(state: Arc<State>, stop: CancellationToken) {
    let pool = state.pool.clone();
    tollgate_store::changes::keep_fresh(
        pool,
        tollgate_store::prices::CHANNEL,
        "prices",
        || refresh(&state),
        || POLL,
        stop,
    )
    .await;
}

/// A new config file: its models become the directory, and their prices are stored and the
/// rates rebuilt at once (the insert's notification reaches the other replicas and the edges).
pub(crate) async fn apply_config(state: &State, directory: ModelDirectory) {
    state.directory.store(Arc::new(directory));
    state.config_pending.store(true, Ordering::Release);
    refresh(state).await;
}

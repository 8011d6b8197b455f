//! The model catalog as the edge knows it: which names exist (from config), and the versioned
//! price catalog (from Postgres, with admin-set and scheduled prices) for `x-tollgate-cost`,
//! `usage.cost`, budget reservations and settlement.
//!
//! The edge picks the version exactly as billing does ([`Catalog::effective`]: the serving
//! deployment's price effective at the request's start, else the model's), so the cost shown
//! to the caller equals the ledger row's. The catalog is reloaded on `NOTIFY tollgate_prices`
//! (and polled as a fallback); until it is first loaded, the config's prices stand in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tollgate_config::Config;
use tollgate_domain::{Money, Price, Usage};
use tollgate_store::prices::Catalog;

/// The catalog shared by every [`PriceBook`] built from successive configs.
pub type SharedCatalog = Arc<ArcSwap<Catalog>>;

#[derive(Debug, Default)]
pub struct PriceBook {
    /// The config's price of every name and alias (the base, and the fallback before the
    /// catalog is loaded).
    by_name: HashMap<String, Price>,
    /// Every alias to its model's public name (for keys' allowed models).
    model_of: HashMap<String, String>,
    catalog: SharedCatalog,
}

impl PriceBook {
    pub fn from_config(cfg: &Config, catalog: SharedCatalog) -> Self {
        let mut by_name = HashMap::new();
        let mut model_of = HashMap::new();
        for m in &cfg.models {
            let p = m.price();
            by_name.insert(m.name.clone(), p);
            for a in &m.aliases {
                by_name.insert(a.clone(), p);
                model_of.insert(a.clone(), m.name.clone());
            }
        }
        PriceBook {
            by_name,
            model_of,
            catalog,
        }
    }

    /// The catalog handle, to reload it.
    pub fn catalog(&self) -> &SharedCatalog {
        &self.catalog
    }

    /// Whether two public names or aliases name the same model.
    pub fn same_model(&self, a: &str, b: &str) -> bool {
        a == b || self.model_of(a) == self.model_of(b)
    }

    /// The public model name behind `name` (itself when it is not an alias).
    pub fn model_of<'a>(&'a self, name: &'a str) -> &'a str {
        self.model_of.get(name).map_or(name, String::as_str)
    }

    /// Whether `model` is a configured public name or alias: unknown models are refused before
    /// admission, so they neither spend the caller's limits nor reach routing.
    pub fn knows(&self, model: &str) -> bool {
        self.by_name.contains_key(model)
    }

    /// What a request may cost at most, as far as the edge can tell before it runs: the prompt
    /// estimate plus the output allowance, at the model's price in effect now.
    pub fn estimate(&self, model: &str, prompt_tokens: u64, output_tokens: u64) -> Money {
        let usage = Usage {
            input_tokens: prompt_tokens,
            output_tokens,
            ..Usage::default()
        };
        self.cost(model, "", SystemTime::now(), &usage)
    }

    /// The cost of a request to `model` served by `deployment` that started `at`, at the price
    /// billing will bill it at.
    pub fn cost(&self, model: &str, deployment: &str, at: SystemTime, usage: &Usage) -> Money {
        let at: DateTime<Utc> = at.into();
        let catalog = self.catalog.load();
        match catalog.effective(self.model_of(model), deployment, at) {
            Some(v) => usage.cost(&v.price),
            None => self
                .by_name
                .get(model)
                .map(|p| usage.cost(p))
                .unwrap_or(Money::ZERO),
        }
    }
}

async fn reload(pool: &PgPool, target: &SharedCatalog) -> bool {
    match tollgate_store::prices::all(pool).await {
        Ok(rows) => {
            target.store(Arc::new(Catalog::new(rows)));
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "price catalog not reloaded; keeping the last one");
            false
        }
    }
}

/// Keep the catalog fresh until `stop`: listen first, then load, so no change between the two
/// is missed; poll every `poll` as a fallback.
pub async fn keep_fresh(
    pool: PgPool,
    target: SharedCatalog,
    poll: Duration,
    stop: CancellationToken,
) {
    let reload_pool = pool.clone();
    crate::refresh::keep_fresh(
        pool,
        tollgate_store::prices::CHANNEL,
        "prices",
        || reload(&reload_pool, &target),
        || poll,
        stop,
    )
    .await;
}

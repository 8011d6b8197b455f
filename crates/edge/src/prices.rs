//! What the edge knows about models: which names exist and which a key may use (the config's
//! [`ModelDirectory`], the same in every service), and what they cost (the versioned price
//! catalog from Postgres, with admin-set and scheduled prices) for `x-tollgate-cost`,
//! `usage.cost`, budget reservations and settlement.
//!
//! The edge picks the price version exactly as billing does ([`PriceCatalog::effective`]: the
//! serving deployment's price effective at the request's start, else the model's), so the cost
//! shown to the caller equals the ledger row's. The catalog is reloaded on `NOTIFY
//! tollgate_prices` (and polled as a fallback); until it is first loaded, the config's prices
//! stand in.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tollgate_config::{Config, ModelDirectory};
use tollgate_domain::{Money, Units, Usage};
use tollgate_store::prices::PriceCatalog;

use crate::snapshot::KeyEntry;

/// The live price catalog, shared by every [`Pricing`] built from successive configs (a config
/// reload changes the models, not the catalog).
pub type LivePrices = Arc<ArcSwap<PriceCatalog>>;

/// Models and their prices as the edge uses them; swapped whole on a config reload.
#[derive(Debug, Default)]
pub struct Pricing {
    /// Names, aliases, allowed models, and the config's prices (the base, and the fallback
    /// before the catalog is loaded).
    directory: ModelDirectory,
    catalog: LivePrices,
}

impl Pricing {
    pub fn from_config(cfg: &Config, catalog: LivePrices) -> Self {
        Pricing {
            directory: cfg.directory(),
            catalog,
        }
    }

    /// The model directory (its fingerprint travels with each call to routing).
    pub fn directory(&self) -> &ModelDirectory {
        &self.directory
    }

    /// The catalog handle, to reload it.
    pub fn catalog(&self) -> &LivePrices {
        &self.catalog
    }

    /// The public model name behind `name` (itself when it is not a known alias).
    pub fn model_of<'a>(&'a self, name: &'a str) -> &'a str {
        self.directory.canonical_or(name)
    }

    /// Whether `model` is a configured public name or alias: unknown models are refused before
    /// admission, so they neither spend the caller's limits nor reach routing.
    pub fn knows(&self, model: &str) -> bool {
        self.directory.knows(model)
    }

    /// Whether `key` may use `model` (the directory's one allowed-model check: allowing an
    /// alias allows its model and its other aliases).
    pub fn allows(&self, key: &KeyEntry, model: &str) -> bool {
        self.directory.allows(&key.allowed_models, model)
    }

    /// What a request may cost at most, as far as the edge can tell before it runs: the prompt
    /// estimate plus the output allowance, and the units it asks for (images, characters, ...),
    /// at the model's price in effect now.
    pub fn estimate(
        &self,
        model: &str,
        prompt_tokens: u64,
        output_tokens: u64,
        units: Option<Units>,
    ) -> Money {
        let usage = Usage {
            input_tokens: prompt_tokens,
            output_tokens,
            units,
            ..Usage::default()
        };
        self.cost(model, "", SystemTime::now(), &usage)
    }

    /// The price of `model` in effect now (the catalog's, else the config's), as a client
    /// reading the catalog should see it.
    pub fn price_now(&self, model: &str) -> Option<tollgate_domain::Price> {
        let catalog = self.catalog.load();
        catalog
            .effective(self.model_of(model), "", Utc::now())
            .map(|v| v.price)
            .or_else(|| self.directory.config_price(model))
    }

    /// The cost of a request to `model` served by `deployment` that started `at`, at the price
    /// billing will bill it at.
    pub fn cost(&self, model: &str, deployment: &str, at: SystemTime, usage: &Usage) -> Money {
        let at: DateTime<Utc> = at.into();
        let catalog = self.catalog.load();
        match catalog.effective(self.model_of(model), deployment, at) {
            Some(v) => usage.cost(&v.price),
            None => self
                .directory
                .config_price(model)
                .map(|p| usage.cost(&p))
                .unwrap_or(Money::ZERO),
        }
    }
}

async fn reload(pool: &PgPool, target: &LivePrices) -> bool {
    match tollgate_store::prices::all(pool).await {
        Ok(rows) => {
            target.store(Arc::new(PriceCatalog::new(rows)));
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
pub async fn keep_fresh(pool: PgPool, target: LivePrices, poll: Duration, stop: CancellationToken) {
    let reload_pool = pool.clone();
    tollgate_store::changes::keep_fresh(
        pool,
        tollgate_store::prices::CHANNEL,
        "prices",
        || reload(&reload_pool, &target),
        || poll,
        stop,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use tollgate_config::ModelConfig;
    use tollgate_domain::Identity;

    use super::*;

    #[test]
    fn allowed_models_match_names_and_aliases() {
        let pricing = Pricing {
            directory: ModelDirectory::from_models(&[ModelConfig {
                name: "mock".into(),
                aliases: vec!["mock-fast".into(), "gpt-4o-mini".into()],
                ..ModelConfig::default()
            }]),
            catalog: LivePrices::default(),
        };
        let entry = KeyEntry {
            key_hash: String::new(),
            identity: Identity::default(),
            rpm_limit: 0,
            concurrency_limit: 0,
            log_content: false,
            expires_at: None,
            allowed_models: vec!["mock-fast".into()],
        };
        assert!(pricing.allows(&entry, "mock"));
        assert!(pricing.allows(&entry, "gpt-4o-mini"));
        assert!(!pricing.allows(&entry, "gpt-4o"));
        assert_eq!(entry.policy().allowed_models, vec!["mock-fast"]);
        let open = KeyEntry {
            allowed_models: Vec::new(),
            ..entry
        };
        assert!(pricing.allows(&open, "anything"));
    }
}

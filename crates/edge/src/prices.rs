//! Model prices as the edge knows them (from config), for the estimated cost in request logs.
//! Billing computes the authoritative cost with the versioned catalog.

use std::collections::HashMap;

use tollgate_config::Config;
use tollgate_domain::{Money, Price, Usage};

#[derive(Debug, Default)]
pub struct PriceBook {
    by_name: HashMap<String, Price>,
}

impl PriceBook {
    pub fn from_config(cfg: &Config) -> Self {
        let mut by_name = HashMap::new();
        for m in &cfg.models {
            let p = m.price();
            by_name.insert(m.name.clone(), p);
            for a in &m.aliases {
                by_name.insert(a.clone(), p);
            }
        }
        PriceBook { by_name }
    }

    pub fn cost(&self, model: &str, usage: &Usage) -> Money {
        self.by_name
            .get(model)
            .map(|p| usage.cost(p))
            .unwrap_or(Money::ZERO)
    }
}

//! The model catalog as the edge knows it (from config): which names exist, and their prices for
//! the estimated cost in request logs.
//! Billing computes the authoritative cost with the versioned catalog.

use std::collections::HashMap;

use tollgate_config::Config;
use tollgate_domain::{Money, Price, Usage};

#[derive(Debug, Default)]
pub struct PriceBook {
    by_name: HashMap<String, Price>,
    /// Every alias to its model's public name (for keys' allowed models).
    model_of: HashMap<String, String>,
}

impl PriceBook {
    pub fn from_config(cfg: &Config) -> Self {
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
        PriceBook { by_name, model_of }
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
    /// estimate plus the output allowance, at the model's price.
    pub fn estimate(&self, model: &str, prompt_tokens: u64, output_tokens: u64) -> Money {
        let usage = Usage {
            input_tokens: prompt_tokens,
            output_tokens,
            ..Usage::default()
        };
        self.cost(model, &usage)
    }

    pub fn cost(&self, model: &str, usage: &Usage) -> Money {
        self.by_name
            .get(model)
            .map(|p| usage.cost(p))
            .unwrap_or(Money::ZERO)
    }
}

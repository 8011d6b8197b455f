//! The model directory: which public models exist, their aliases, and whether a caller limited
//! to some models may use one. Built from the configuration's `[[models]]`, the same way in every
//! service, so the edge (admission, `/v1/models`), routing (resolution, fallbacks) and billing
//! (spend grouped by model) never disagree about a name.
//!
//! Its [`fingerprint`](ModelDirectory::fingerprint) names the set of models and aliases: two
//! processes that loaded the same file have the same fingerprint, which is how the edge and
//! routing agree on the catalog across a hot reload.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use tollgate_domain::Price;

use crate::{Capability, ModelConfig};

/// Every capability, for a deployment that does not list its own.
const ALL_CAPABILITIES: [Capability; 3] = [
    Capability::Tools,
    Capability::Vision,
    Capability::JsonSchema,
];

/// One public model as the directory knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub name: String,
    pub aliases: Vec<String>,
    /// The configured price: the base of the versioned price catalog, and what stands in before
    /// that catalog is loaded.
    pub price: Price,
    pub context_window: Option<u64>,
    /// This model's caps on one request's `max_tokens` and `n` (none: the edge-wide caps only).
    pub max_output_tokens: Option<u64>,
    pub max_n: Option<u64>,
    pub owned_by: Option<String>,
    /// What at least one deployment supports (a deployment that lists none supports all):
    /// routing picks a deployment with what a request needs, so the model offers the union.
    pub capabilities: Vec<Capability>,
}

#[derive(Clone, Debug, Default)]
pub struct ModelDirectory {
    entries: Vec<DirectoryEntry>,
    /// Every public name and alias → its entry.
    index: HashMap<String, usize>,
    fingerprint: u64,
}

impl ModelDirectory {
    /// The directory of `models` (validated config: names and aliases are unique; a duplicate
    /// here keeps its first meaning).
    pub fn from_models(models: &[ModelConfig]) -> Self {
        let mut index = HashMap::new();
        let mut entries = Vec::with_capacity(models.len());
        for m in models {
            let i = entries.len();
            index.entry(m.name.clone()).or_insert(i);
            for a in &m.aliases {
                index.entry(a.clone()).or_insert(i);
            }
            entries.push(DirectoryEntry {
                name: m.name.clone(),
                aliases: m.aliases.clone(),
                price: m.price(),
                context_window: m.context_window,
                max_output_tokens: m.max_output_tokens,
                max_n: m.max_n,
                owned_by: m.owned_by.clone(),
                capabilities: capabilities(m),
            });
        }
        let fingerprint = fingerprint(&entries);
        ModelDirectory {
            entries,
            index,
            fingerprint,
        }
    }

    /// Whether `name` is a public model name or an alias.
    pub fn knows(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The entry `name` (a public name or an alias) names.
    pub fn get(&self, name: &str) -> Option<&DirectoryEntry> {
        self.index.get(name).and_then(|&i| self.entries.get(i))
    }

    /// The public model name behind `name`, which may be an alias.
    pub fn canonical(&self, name: &str) -> Option<&str> {
        self.get(name).map(|e| e.name.as_str())
    }

    /// The public model name behind `name`, or `name` itself when the directory does not know
    /// it (a model since removed from the config keeps its own name in reports).
    pub fn canonical_or<'a>(&'a self, name: &'a str) -> &'a str {
        self.canonical(name).unwrap_or(name)
    }

    /// Whether two names (public names or aliases) name the same model.
    pub fn same_model(&self, a: &str, b: &str) -> bool {
        a == b || matches!((self.index.get(a), self.index.get(b)), (Some(x), Some(y)) if x == y)
    }

    /// The one allowed-model check: may a caller limited to `allowed` (empty: every model) use
    /// `name`? An entry allows its model under every name: allowing an alias allows the model
    /// and its other aliases.
    pub fn allows(&self, allowed: &[String], name: &str) -> bool {
        allowed.is_empty() || allowed.iter().any(|a| self.same_model(a, name))
    }

    /// The configured price of `name` (a public name or an alias).
    pub fn config_price(&self, name: &str) -> Option<Price> {
        self.get(name).map(|e| e.price)
    }

    /// Every model once, in configuration order.
    pub fn models(&self) -> impl Iterator<Item = &DirectoryEntry> {
        self.entries.iter()
    }

    /// A name for this set of models and aliases, equal in every process that loaded the same
    /// models (SHA-256 of the sorted names, truncated; prices do not take part, since they
    /// change through the catalog without changing which models exist).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

/// The union of `m`'s deployments' capabilities, in [`ALL_CAPABILITIES`] order.
fn capabilities(m: &ModelConfig) -> Vec<Capability> {
    ALL_CAPABILITIES
        .into_iter()
        .filter(|c| {
            m.deployments
                .iter()
                .any(|d| d.capabilities.as_ref().is_none_or(|cs| cs.contains(c)))
        })
        .collect()
}

fn fingerprint(entries: &[DirectoryEntry]) -> u64 {
    let mut names: Vec<String> = entries
        .iter()
        .map(|e| {
            let mut aliases = e.aliases.clone();
            aliases.sort();
            format!("{}={}", e.name, aliases.join(","))
        })
        .collect();
    names.sort();
    let digest = Sha256::digest(names.join("\n").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str, aliases: &[&str]) -> ModelConfig {
        ModelConfig {
            name: name.into(),
            aliases: aliases.iter().map(|a| (*a).into()).collect(),
            ..ModelConfig::default()
        }
    }

    fn dir() -> ModelDirectory {
        ModelDirectory::from_models(&[
            model("mock", &["mock-fast", "gpt-4o-mini"]),
            model("large", &["big"]),
        ])
    }

    #[test]
    fn names_and_aliases_resolve_to_their_model() {
        let d = dir();
        assert!(d.knows("mock") && d.knows("gpt-4o-mini") && d.knows("big"));
        assert!(!d.knows("gpt-9"));
        assert_eq!(d.canonical("mock-fast"), Some("mock"));
        assert_eq!(d.canonical("large"), Some("large"));
        assert_eq!(d.canonical("gpt-9"), None);
        assert_eq!(d.canonical_or("gpt-9"), "gpt-9");
        assert!(d.same_model("mock-fast", "gpt-4o-mini"));
        assert!(!d.same_model("mock", "big"));
        assert!(d.same_model("unknown", "unknown"));
        assert!(!d.same_model("unknown", "other"));
        assert_eq!(d.models().count(), 2);
    }

    #[test]
    fn allowing_any_name_of_a_model_allows_all_its_names() {
        let d = dir();
        assert!(d.allows(&[], "large"));
        assert!(d.allows(&["big".into()], "large"));
        assert!(d.allows(&["large".into()], "big"));
        assert!(d.allows(&["gpt-4o-mini".into()], "mock"));
        assert!(!d.allows(&["small".into()], "large"));
        assert!(!d.allows(&["mock".into()], "big"));
        // An entry naming a model the directory does not know allows only that exact name.
        assert!(d.allows(&["later".into()], "later"));
    }

    #[test]
    fn the_fingerprint_follows_the_set_of_names_only() {
        let a = dir();
        let reordered = ModelDirectory::from_models(&[
            model("large", &["big"]),
            model("mock", &["gpt-4o-mini", "mock-fast"]),
        ]);
        assert_eq!(a.fingerprint(), reordered.fingerprint());
        let added = ModelDirectory::from_models(&[
            model("mock", &["mock-fast", "gpt-4o-mini"]),
            model("large", &["big"]),
            model("new", &[]),
        ]);
        assert_ne!(a.fingerprint(), added.fingerprint());
        let moved_alias = ModelDirectory::from_models(&[
            model("mock", &["mock-fast"]),
            model("large", &["big", "gpt-4o-mini"]),
        ]);
        assert_ne!(a.fingerprint(), moved_alias.fingerprint());
    }
}

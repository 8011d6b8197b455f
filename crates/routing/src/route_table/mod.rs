//! The route table routing serves: public names and aliases → model → deployments, each
//! deployment bound to its provider, keys, timeouts and health. Names are resolved, and the
//! allowed-model check answered, by the config's `ModelDirectory` (the one every service uses, so
//! edge, routing and billing agree on what a name means); the table keeps the deployments behind
//! each public name. Built from the config (again on every reload, carrying health over by
//! deployment id); read without locks per request.
//!
//! `model.rs` holds the shapes, `build.rs` makes them from the config, `keys.rs` rotates a
//! deployment's provider keys, `clients.rs` pools the HTTP clients.

mod build;
mod clients;
mod keys;
mod model;

use std::collections::HashMap;
use std::sync::Arc;

use tollgate_config::ModelDirectory;
use tollgate_proto::routing::v1::ModelInfo;

pub(crate) use clients::Clients;
pub use model::{Deployment, Fallback, Key, Model, Provider};
pub(crate) use model::{JSON_SCHEMA, Policy, TOOLS, VISION};

pub struct RouteTable {
    /// Which names exist and what each means (public names and aliases).
    directory: ModelDirectory,
    /// Public name → model (aliases resolve through the directory first).
    by_name: HashMap<String, Arc<Model>>,
    listed: Vec<ModelInfo>,
    pub(crate) policy: Policy,
    /// Some decision depends on the prompt's size (context windows, the cost strategy), so
    /// requests must be measured before routing.
    pub(crate) needs_tokens: bool,
    /// Some deployment declares capabilities, so requests must be read for the features they use.
    pub(crate) needs_features: bool,
}

impl RouteTable {
    /// The model a client's name (public or alias) refers to.
    pub fn get(&self, name: &str) -> Option<&Arc<Model>> {
        let public = self.directory.canonical(name)?;
        self.by_name.get(public)
    }

    /// Whether a caller limited to `allowed` (empty = everything) may use `model`: the
    /// directory's check, so an entry matches the model by its public name or any alias.
    pub fn allows(&self, allowed: &[String], model: &Model) -> bool {
        self.directory.allows(allowed, &model.name)
    }

    /// The names this table serves, as every service reads them.
    pub fn directory(&self) -> &ModelDirectory {
        &self.directory
    }

    /// Every model once (aliases share their model).
    pub fn models(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.by_name.values()
    }

    /// Every public name and alias, sorted, for `GET /v1/models`.
    pub fn list(&self) -> &[ModelInfo] {
        &self.listed
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use tollgate_config::Config;

    use super::*;

    /// A route table config the modules' tests share.
    pub(crate) fn cfg() -> Config {
        Config::from_toml(
            r#"
[[providers]]
name = "p"
kind = "openai"
base_url = "http://127.0.0.1:1/v1/"
api_key = "sk-test"

[[models]]
name = "big"
aliases = ["large"]
owned_by = "acme"
deployments = [{ provider = "p", model = "big-2024" }, { name = "b2", provider = "p", model = "big-2025", weight = 3, api_keys = ["k1", "k2"], capabilities = ["tools"], price = { input = "0.5", output = "1" } }]
price = { input = "1", output = "2" }

[[models]]
name = "small"
deployments = [{ provider = "p", model = "small-1" }]
price = { input = "1", output = "2" }
"#,
        )
        .unwrap()
    }

    #[test]
    fn names_and_aliases_resolve_to_one_model_with_its_deployments() {
        let c = RouteTable::from_config(&cfg()).unwrap();
        let m = c.get("large").unwrap();
        assert_eq!(m.name, "big");
        assert_eq!(m.deployments.len(), 2);
        let (d0, d1) = (&m.deployments[0], &m.deployments[1]);
        assert_eq!(d0.id, "p/big-2024");
        assert_eq!(d1.id, "b2");
        assert_eq!(d1.weight, 3);
        assert_eq!(d0.urls.chat, "http://127.0.0.1:1/v1/chat/completions");
        assert_eq!(d0.provider.auth_header, "authorization");
        assert_eq!(d0.keys[0].auth, "Bearer sk-test");
        assert_eq!(d0.keys.len(), 1);
        assert!(d0.keys[0].auth.is_sensitive());
        assert_eq!(d1.keys.len(), 2, "deployment keys replace the provider's");
        assert_eq!(d1.capabilities, TOOLS);
        assert_eq!(d0.capabilities, u8::MAX);
        assert_eq!(d1.price.input.micros(), 500_000);
        assert_eq!(d0.price.input.micros(), 1_000_000);
        assert!(c.get("nope").is_none());
    }

    #[test]
    fn health_survives_a_rebuild_by_deployment_id() {
        let clients = Clients::default();
        let a = RouteTable::build(&cfg(), None, &clients).unwrap();
        let b = RouteTable::build(&cfg(), Some(&a), &clients).unwrap();
        let h = |c: &RouteTable| c.get("big").unwrap().deployments[1].health.clone();
        assert!(Arc::ptr_eq(&h(&a), &h(&b)));
    }

    #[test]
    fn listing_has_every_name_sorted_with_owner() {
        let c = RouteTable::from_config(&cfg()).unwrap();
        let ids: Vec<_> = c
            .list()
            .iter()
            .map(|m| (m.id.as_str(), m.owned_by.as_str()))
            .collect();
        assert_eq!(
            ids,
            vec![("big", "acme"), ("large", "acme"), ("small", "tollgate")]
        );
    }

    #[test]
    fn policy_entries_match_by_name_or_alias() {
        let c = RouteTable::from_config(&cfg()).unwrap();
        let big = c.get("big").unwrap();
        assert!(c.allows(&[], big));
        assert!(c.allows(&["large".into()], big));
        assert!(c.allows(&["big".into()], c.get("large").unwrap()));
        assert!(!c.allows(&["small".into()], big));
    }
}

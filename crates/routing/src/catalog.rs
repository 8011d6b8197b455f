//! The model catalog routing serves: public names and aliases → model → deployments, each
//! deployment bound to its provider. Built once from the config; read without locks per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use tollgate_config::{Config, ProviderKind, SecretRef};
use tollgate_proto::routing::v1::ModelInfo;

use crate::RoutingError;

/// A provider endpoint, with what is needed to call it precomputed.
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    /// `{base_url}/chat/completions`.
    pub chat_url: String,
    /// `Bearer <key>`, marked sensitive so it never shows in debug output.
    pub auth: Option<HeaderValue>,
    /// Accepts `stream_options.include_usage`.
    pub stream_usage: bool,
    /// Kept only to scrub it from provider messages should a provider ever echo it.
    pub api_key: Option<SecretRef>,
}

impl Provider {
    pub fn secret(&self) -> Option<&str> {
        self.api_key.as_ref().map(SecretRef::expose)
    }
}

pub struct Deployment {
    pub id: String,
    pub provider: Arc<Provider>,
    /// The model name the provider knows.
    pub upstream_model: String,
    pub weight: u32,
}

pub struct Model {
    /// Public name clients see (also for aliases).
    pub name: String,
    pub owned_by: String,
    pub deployments: Vec<Deployment>,
}

pub struct Catalog {
    by_name: HashMap<String, Arc<Model>>,
    listed: Vec<ModelInfo>,
}

impl Catalog {
    pub fn from_config(cfg: &Config) -> Result<Catalog, RoutingError> {
        let mut providers = HashMap::new();
        for (i, p) in cfg.providers.iter().enumerate() {
            let auth = match &p.api_key {
                Some(key) if !key.is_empty() => {
                    let mut v = HeaderValue::try_from(format!("Bearer {}", key.expose())).map_err(
                        |_| RoutingError::Config {
                            field: format!("providers[{i}].api_key"),
                            message: "contains characters not allowed in an HTTP header".into(),
                        },
                    )?;
                    v.set_sensitive(true);
                    Some(v)
                }
                _ => None,
            };
            let provider = Provider {
                name: p.name.clone(),
                kind: p.kind,
                chat_url: format!("{}/chat/completions", p.base_url.trim_end_matches('/')),
                auth,
                stream_usage: p.stream_usage,
                api_key: p.api_key.clone(),
            };
            providers.insert(p.name.as_str(), Arc::new(provider));
        }

        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let mut by_name = HashMap::new();
        let mut listed = Vec::new();
        for (i, m) in cfg.models.iter().enumerate() {
            let mut deployments = Vec::with_capacity(m.deployments.len());
            for (j, d) in m.deployments.iter().enumerate() {
                let provider = providers.get(d.provider.as_str()).cloned().ok_or_else(|| {
                    RoutingError::Config {
                        field: format!("models[{i}].deployments[{j}].provider"),
                        message: format!("no provider named `{}`", d.provider),
                    }
                })?;
                deployments.push(Deployment {
                    id: d.id(),
                    provider,
                    upstream_model: d.model.clone(),
                    weight: d.weight,
                });
            }
            let model = Arc::new(Model {
                name: m.name.clone(),
                owned_by: m.owned_by.clone().unwrap_or_else(|| "tollgate".into()),
                deployments,
            });
            for name in std::iter::once(&m.name).chain(&m.aliases) {
                by_name.insert(name.clone(), model.clone());
                listed.push(ModelInfo {
                    id: name.clone(),
                    owned_by: model.owned_by.clone(),
                    created,
                });
            }
        }
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Catalog { by_name, listed })
    }

    /// The model a client's name (public or alias) refers to.
    pub fn get(&self, name: &str) -> Option<&Arc<Model>> {
        self.by_name.get(name)
    }

    /// Whether a caller limited to `allowed` (empty = everything) may use `model`. An entry
    /// matches the model by its public name or any alias.
    pub fn allows(&self, allowed: &[String], model: &Model) -> bool {
        allowed.is_empty()
            || allowed
                .iter()
                .any(|a| self.get(a).is_some_and(|m| m.name == model.name))
    }

    /// Every public name and alias, sorted, for `GET /v1/models`.
    pub fn list(&self) -> &[ModelInfo] {
        &self.listed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
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
deployments = [{ provider = "p", model = "big-2024" }, { name = "b2", provider = "p", model = "big-2025", weight = 3 }]
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
        let c = Catalog::from_config(&cfg()).unwrap();
        let m = c.get("large").unwrap();
        assert_eq!(m.name, "big");
        assert_eq!(m.deployments.len(), 2);
        assert_eq!(m.deployments[0].id, "p/big-2024");
        assert_eq!(m.deployments[1].id, "b2");
        assert_eq!(m.deployments[1].weight, 3);
        assert_eq!(
            m.deployments[0].provider.chat_url,
            "http://127.0.0.1:1/v1/chat/completions"
        );
        assert!(
            m.deployments[0]
                .provider
                .auth
                .as_ref()
                .unwrap()
                .is_sensitive()
        );
        assert!(c.get("nope").is_none());
    }

    #[test]
    fn listing_has_every_name_sorted_with_owner() {
        let c = Catalog::from_config(&cfg()).unwrap();
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
        let c = Catalog::from_config(&cfg()).unwrap();
        let big = c.get("big").unwrap();
        assert!(c.allows(&[], big));
        assert!(c.allows(&["large".into()], big));
        assert!(c.allows(&["big".into()], c.get("large").unwrap()));
        assert!(!c.allows(&["small".into()], big));
    }
}

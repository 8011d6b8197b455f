//! The model catalog routing serves: public names and aliases → model → deployments, each
//! deployment bound to its provider, keys, timeouts and health. Built from the config (again on
//! every reload, carrying health over by deployment id); read without locks per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use tollgate_config::{
    Capability, Config, DataCollection, FallbackOn, ProviderConfig, ProviderKind, RoutingConfig,
    RoutingStrategy, SecretRef,
};
use tollgate_domain::money::Price;
use tollgate_proto::routing::v1::ModelInfo;

use crate::RoutingError;
use crate::health::{CircuitPolicy, Health};
pub use crate::keys::Key;
use crate::sigv4::{self, AwsCredentials};
use crate::upstream;

/// A provider endpoint, with what is needed to call it precomputed.
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    /// The config table, presets applied (paths, query, auth scheme), for per-deployment URLs.
    pub(crate) config: ProviderConfig,
    /// `{base_url}{models_path}`, for active health checks.
    pub models_url: String,
    /// Accepts `stream_options.include_usage`.
    pub stream_usage: bool,
    /// The header carrying the key (`authorization`, `api-key`, `x-api-key`, ...).
    pub auth_header: HeaderName,
    /// Sent on every call: the preset's/table's static headers, `anthropic-version`.
    pub headers: HeaderMap,
    /// Bedrock: every call is signed with these (SigV4) instead of carrying a key.
    pub(crate) aws: Option<Aws>,
}

pub(crate) struct Aws {
    pub creds: AwsCredentials,
    pub region: String,
}

/// Where one deployment's calls go.
pub struct Urls {
    pub chat: String,
    /// Streamed chat, when the provider uses another endpoint (Gemini, Bedrock).
    pub stream: String,
    pub embeddings: String,
}

/// Capability bits, so a decision compares integers.
pub(crate) const TOOLS: u8 = 1;
pub(crate) const VISION: u8 = 2;
pub(crate) const JSON_SCHEMA: u8 = 4;

pub struct Deployment {
    pub id: String,
    pub provider: Arc<Provider>,
    pub urls: Urls,
    /// The model name the provider knows.
    pub upstream_model: String,
    pub weight: u32,
    pub priority: u32,
    pub region: Option<String>,
    /// What the deployment costs us (the model's price unless set).
    pub price: Price,
    pub context_window: Option<u64>,
    /// Capability bits; all set when the config declares none.
    pub(crate) capabilities: u8,
    pub data_collection: DataCollection,
    /// Empty: the provider takes no key.
    pub keys: Vec<Key>,
    pub(crate) next_key: AtomicUsize,
    /// Rate limited until this time (ms) when the deployment has no key to rest instead.
    pub(crate) cooldown_until: AtomicU64,
    pub(crate) client: reqwest::Client,
    pub first_token_timeout: Duration,
    pub stream_idle_timeout: Duration,
    pub timeout: Option<Duration>,
    pub health: Arc<Health>,
}

impl Deployment {
    /// Whether `name` (from a client's provider preferences) designates this deployment.
    pub fn is_named(&self, name: &str) -> bool {
        self.provider.name == name || self.id == name
    }
}

/// A fallback model, by public name, with the error classes that lead to it.
pub struct Fallback {
    pub model: String,
    pub on: Vec<FallbackOn>,
}

pub struct Model {
    /// Public name clients see (also for aliases).
    pub name: String,
    pub owned_by: String,
    pub deployments: Vec<Deployment>,
    pub strategy: RoutingStrategy,
    pub fallbacks: Vec<Fallback>,
    pub context_window: Option<u64>,
}

/// Retry, circuit and timeout settings in force for this catalog.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    pub max_attempts: u32,
    pub backoff: Duration,
    pub backoff_max: Duration,
    pub budget_ratio: f64,
    pub budget_min: u32,
    pub circuit: CircuitPolicy,
    pub request_timeout: Duration,
}

/// HTTP clients by connect timeout (reqwest sets it per client), kept across reloads so their
/// connection pools survive.
#[derive(Default)]
pub(crate) struct Clients(Mutex<HashMap<Duration, reqwest::Client>>);

impl Clients {
    fn get(&self, cfg: &RoutingConfig, connect: Duration) -> Result<reqwest::Client, RoutingError> {
        // Only taken while building a catalog, never on a request.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&connect) {
            return Ok(c.clone());
        }
        let c = upstream::client(cfg, connect)?;
        map.insert(connect, c.clone());
        Ok(c)
    }
}

pub struct Catalog {
    by_name: HashMap<String, Arc<Model>>,
    listed: Vec<ModelInfo>,
    pub(crate) policy: Policy,
    /// Some decision depends on the prompt's size (context windows, the cost strategy), so
    /// requests must be measured before routing.
    pub(crate) needs_tokens: bool,
    /// Some deployment declares capabilities, so requests must be read for the features they use.
    pub(crate) needs_features: bool,
}

fn config_error(field: String, message: &str) -> RoutingError {
    RoutingError::Config {
        field,
        message: message.into(),
    }
}

/// One provider key, as the provider wants it in its auth header.
fn provider_key(
    p: &ProviderConfig,
    key: &SecretRef,
    field: impl Fn() -> String,
) -> Result<Key, RoutingError> {
    let mut auth = HeaderValue::try_from(p.auth_value(key.expose()))
        .map_err(|_| config_error(field(), "contains characters not allowed in an HTTP header"))?;
    auth.set_sensitive(true);
    Ok(Key {
        auth,
        secret: key.clone(),
        cooldown_until: AtomicU64::new(0),
    })
}

/// The provider's fixed headers: its auth header's name and the static ones.
fn provider_headers(i: usize, p: &ProviderConfig) -> Result<(HeaderName, HeaderMap), RoutingError> {
    let auth_header = HeaderName::try_from(p.auth_header_name().to_ascii_lowercase())
        .map_err(|_| config_error(format!("providers[{i}].auth_header"), "not a header name"))?;
    let mut headers = HeaderMap::new();
    for (k, v) in &p.headers {
        let bad = || config_error(format!("providers[{i}].headers.{k}"), "not a valid header");
        headers.insert(
            HeaderName::try_from(k.to_ascii_lowercase()).map_err(|_| bad())?,
            HeaderValue::try_from(v.as_str()).map_err(|_| bad())?,
        );
    }
    if p.kind() == ProviderKind::Anthropic {
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(tollgate_formats::anthropic::API_VERSION),
        );
    }
    Ok((auth_header, headers))
}

/// The deployment's URLs. Bedrock model ids (`anthropic.claude-…-v1:0`) go in the path with
/// `:` escaped, as AWS's SDKs send them.
fn urls(p: &ProviderConfig, model: &str) -> Urls {
    let chat = p.url(p.chat_path(), model);
    let stream = match p.kind() {
        ProviderKind::Gemini => {
            let path = p
                .chat_path()
                .replace(":generateContent", ":streamGenerateContent");
            let url = p.url(&path, model);
            format!("{url}{}alt=sse", if url.contains('?') { '&' } else { '?' })
        }
        ProviderKind::Bedrock => {
            return Urls {
                chat: sigv4::model_url(&p.base_url, model, false),
                stream: sigv4::model_url(&p.base_url, model, true),
                // Bedrock embeddings (InvokeModel) are not served: dialect refuses them.
                embeddings: String::new(),
            };
        }
        _ => chat.clone(),
    };
    Urls {
        chat,
        stream,
        embeddings: p.url(p.embeddings_path(), model),
    }
}

impl Catalog {
    /// A catalog with fresh health and its own HTTP clients (tools, benchmarks).
    pub fn from_config(cfg: &Config) -> Result<Catalog, RoutingError> {
        Self::build(cfg, None, &Clients::default())
    }

    /// Build from `cfg`, keeping the health of deployments `previous` already knew.
    pub(crate) fn build(
        cfg: &Config,
        previous: Option<&Catalog>,
        clients: &Clients,
    ) -> Result<Catalog, RoutingError> {
        let r = &cfg.routing;
        let mut old_health: HashMap<&str, &Arc<Health>> = HashMap::new();
        if let Some(prev) = previous {
            for m in prev.by_name.values() {
                for d in &m.deployments {
                    old_health.insert(d.id.as_str(), &d.health);
                }
            }
        }
        let mut providers = HashMap::new();
        let mut provider_keys = HashMap::new();
        for (i, p) in cfg.providers.iter().enumerate() {
            let key = match &p.api_key {
                Some(key) if !key.is_empty() => {
                    Some(provider_key(p, key, || format!("providers[{i}].api_key"))?)
                }
                _ => None,
            };
            provider_keys.insert(p.name.as_str(), (key, p.api_key.clone()));
            let (auth_header, headers) = provider_headers(i, p)?;
            let aws = match (&p.aws_access_key_id, &p.aws_secret_access_key, &p.region) {
                (Some(id), Some(secret), Some(region)) if p.kind() == ProviderKind::Bedrock => {
                    Some(Aws {
                        creds: AwsCredentials {
                            access_key_id: id.expose().to_owned(),
                            secret_access_key: secret.expose().to_owned(),
                            session_token: p
                                .aws_session_token
                                .as_ref()
                                .map(|t| t.expose().to_owned()),
                        },
                        region: region.clone(),
                    })
                }
                _ => None,
            };
            let provider = Provider {
                name: p.name.clone(),
                kind: p.kind(),
                models_url: p.url(p.models_path(), ""),
                stream_usage: p.stream_usage(),
                auth_header,
                headers,
                aws,
                config: p.clone(),
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
                let field = |f: &str| format!("models[{i}].deployments[{j}].{f}");
                let provider = providers
                    .get(d.provider.as_str())
                    .cloned()
                    .ok_or_else(|| config_error(field("provider"), "no such provider"))?;
                let keys = if d.api_keys.is_empty() {
                    match provider_keys.get(d.provider.as_str()) {
                        Some((Some(_), Some(secret))) => {
                            vec![provider_key(&provider.config, secret, || {
                                format!("providers.{}.api_key", d.provider)
                            })?]
                        }
                        _ => Vec::new(),
                    }
                } else {
                    let mut keys = Vec::with_capacity(d.api_keys.len());
                    for (k, key) in d.api_keys.iter().enumerate() {
                        keys.push(provider_key(&provider.config, key, || {
                            field(&format!("api_keys[{k}]"))
                        })?);
                    }
                    keys
                };
                let price = match &d.price {
                    Some(p) => p
                        .parse()
                        .map_err(|(f, msg)| config_error(field(&format!("price.{f}")), &msg))?,
                    None => m.price(),
                };
                let capabilities = d.capabilities.as_ref().map_or(u8::MAX, |caps| {
                    caps.iter().fold(0, |bits, c| {
                        bits | match c {
                            Capability::Tools => TOOLS,
                            Capability::Vision => VISION,
                            Capability::JsonSchema => JSON_SCHEMA,
                        }
                    })
                });
                let id = d.id();
                let health = old_health
                    .get(id.as_str())
                    .map_or_else(|| Arc::new(Health::new(&id)), |h| Arc::clone(h));
                deployments.push(Deployment {
                    urls: urls(&provider.config, &d.model),
                    provider,
                    upstream_model: d.model.clone(),
                    weight: d.weight,
                    priority: d.priority,
                    region: d.region.clone(),
                    price,
                    context_window: d.context_window.or(m.context_window),
                    capabilities,
                    data_collection: d.data_collection,
                    keys,
                    next_key: AtomicUsize::new(0),
                    cooldown_until: AtomicU64::new(0),
                    client: clients.get(r, d.connect_timeout.unwrap_or(r.connect_timeout))?,
                    first_token_timeout: d.first_token_timeout.unwrap_or(r.first_token_timeout),
                    stream_idle_timeout: d.stream_idle_timeout.unwrap_or(r.stream_idle_timeout),
                    timeout: d.timeout,
                    health,
                    id,
                });
            }
            let model = Arc::new(Model {
                name: m.name.clone(),
                owned_by: m.owned_by.clone().unwrap_or_else(|| "tollgate".into()),
                deployments,
                strategy: m.strategy.unwrap_or(r.default_strategy),
                fallbacks: m
                    .fallbacks
                    .iter()
                    .map(|f| Fallback {
                        model: f.model.clone(),
                        on: f.on.clone(),
                    })
                    .collect(),
                context_window: m.context_window,
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
        let models = || by_name.values();
        let needs_tokens = models().any(|m: &Arc<Model>| {
            m.strategy == RoutingStrategy::Cost
                || m.context_window.is_some()
                || m.deployments.iter().any(|d| d.context_window.is_some())
        });
        let needs_features =
            models().any(|m: &Arc<Model>| m.deployments.iter().any(|d| d.capabilities != u8::MAX));
        let policy = Policy {
            max_attempts: r.max_attempts.max(1),
            backoff: r.retry_backoff,
            backoff_max: r.retry_backoff_max,
            budget_ratio: r.retry_budget_ratio,
            budget_min: r.retry_budget_min,
            circuit: CircuitPolicy {
                failures: r.circuit_failures.max(1),
                ejection: r.circuit_ejection,
                ejection_max: r.circuit_ejection_max,
            },
            request_timeout: r.request_timeout,
        };
        Ok(Catalog {
            by_name,
            listed,
            policy,
            needs_tokens,
            needs_features,
        })
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

    /// Every model once (aliases share their model).
    pub fn models(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.by_name
            .iter()
            .filter(|(n, m)| **n == m.name)
            .map(|(_, m)| m)
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
        let c = Catalog::from_config(&cfg()).unwrap();
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
        let a = Catalog::build(&cfg(), None, &clients).unwrap();
        let b = Catalog::build(&cfg(), Some(&a), &clients).unwrap();
        let h = |c: &Catalog| c.get("big").unwrap().deployments[1].health.clone();
        assert!(Arc::ptr_eq(&h(&a), &h(&b)));
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

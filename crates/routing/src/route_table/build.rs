//! Building the route table from the config: providers with their headers, keys and AWS
//! credentials resolved; each model's deployments bound to their provider, pooled client and
//! health (carried over by deployment id from the table being replaced); the retry policy; the
//! model directory that names them. Runs at start and on reload, never on a request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use tollgate_config::{
    Capability, Config, DeploymentConfig, Endpoint, ModelConfig, ProviderConfig, ProviderKind,
    RoutingConfig, RoutingStrategy, SecretRef,
};
use tollgate_proto::routing::v1::ModelInfo;

use super::RouteTable;
use super::clients::Clients;
use super::model::{
    Aws, Deployment, Fallback, JSON_SCHEMA, Key, Model, Policy, Provider, TOOLS, Urls, VISION,
};
use crate::RoutingError;
use crate::health::{CircuitPolicy, Health};
use crate::sigv4::{self, AwsCredentials};

impl RouteTable {
    /// A route table with fresh health and its own HTTP clients (tools, benchmarks).
    pub fn from_config(cfg: &Config) -> Result<RouteTable, RoutingError> {
        Self::build(cfg, None, &Clients::default())
    }

    /// Build from `cfg`, keeping the health of deployments `previous` already knew.
    pub(crate) fn build(
        cfg: &Config,
        previous: Option<&RouteTable>,
        clients: &Clients,
    ) -> Result<RouteTable, RoutingError> {
        let builder = Builder {
            routing: &cfg.routing,
            providers: providers(cfg)?,
            old_health: previous.map(health_by_id).unwrap_or_default(),
            clients,
        };
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let mut by_name = HashMap::new();
        let mut listed = Vec::new();
        for (i, m) in cfg.models.iter().enumerate() {
            let model = Arc::new(builder.model(i, m)?);
            for name in std::iter::once(&m.name).chain(&m.aliases) {
                listed.push(ModelInfo {
                    id: name.clone(),
                    owned_by: model.owned_by.clone(),
                    created,
                });
            }
            by_name.insert(m.name.clone(), model);
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
        Ok(RouteTable {
            directory: cfg.directory(),
            by_name,
            listed,
            policy: policy(&cfg.routing),
            needs_tokens,
            needs_features,
        })
    }
}

/// Every provider by name, with its own key for deployments that name none.
type Providers<'a> = HashMap<&'a str, (Arc<Provider>, Option<&'a SecretRef>)>;

/// What building each model's deployments needs.
struct Builder<'a> {
    routing: &'a RoutingConfig,
    providers: Providers<'a>,
    old_health: HashMap<String, Arc<Health>>,
    clients: &'a Clients,
}

impl Builder<'_> {
    fn model(&self, i: usize, m: &ModelConfig) -> Result<Model, RoutingError> {
        let mut deployments = Vec::with_capacity(m.deployments.len());
        for (j, d) in m.deployments.iter().enumerate() {
            deployments.push(self.deployment(i, j, m, d)?);
        }
        Ok(Model {
            name: m.name.clone(),
            owned_by: m.owned_by.clone().unwrap_or_else(|| "tollgate".into()),
            deployments,
            strategy: m.strategy.unwrap_or(self.routing.default_strategy),
            fallbacks: m
                .fallbacks
                .iter()
                .map(|f| Fallback {
                    model: f.model.clone(),
                    on: f.on.clone(),
                })
                .collect(),
            context_window: m.context_window,
        })
    }

    fn deployment(
        &self,
        i: usize,
        j: usize,
        m: &ModelConfig,
        d: &DeploymentConfig,
    ) -> Result<Deployment, RoutingError> {
        let r = self.routing;
        let field = |f: &str| format!("models[{i}].deployments[{j}].{f}");
        let (provider, provider_key) = self
            .providers
            .get(d.provider.as_str())
            .cloned()
            .ok_or_else(|| config_error(field("provider"), "no such provider"))?;
        let keys = self.keys(d, &provider, provider_key, field)?;
        let price = match &d.price {
            Some(p) => p
                .parse()
                .map_err(|(f, msg)| config_error(field(&format!("price.{f}")), &msg))?,
            None => m.price(),
        };
        let id = d.id();
        let health = self
            .old_health
            .get(id.as_str())
            .map_or_else(|| Arc::new(Health::new(&id)), Arc::clone);
        Ok(Deployment {
            urls: urls(&provider.config, &d.model),
            provider,
            upstream_model: d.model.clone(),
            weight: d.weight,
            priority: d.priority,
            region: d.region.clone(),
            price,
            context_window: d.context_window.or(m.context_window),
            capabilities: capabilities(d.capabilities.as_deref()),
            data_collection: d.data_collection,
            keys,
            next_key: AtomicUsize::new(0),
            cooldown_until: AtomicU64::new(0),
            client: self
                .clients
                .get(r, d.connect_timeout.unwrap_or(r.connect_timeout))?,
            first_token_timeout: d.first_token_timeout.unwrap_or(r.first_token_timeout),
            stream_idle_timeout: d.stream_idle_timeout.unwrap_or(r.stream_idle_timeout),
            timeout: d.timeout,
            health,
            id,
        })
    }

    /// The deployment's own keys, else its provider's key, else none.
    fn keys(
        &self,
        d: &DeploymentConfig,
        provider: &Provider,
        provider_key: Option<&SecretRef>,
        field: impl Fn(&str) -> String,
    ) -> Result<Vec<Key>, RoutingError> {
        if d.api_keys.is_empty() {
            return match provider_key {
                Some(secret) => Ok(vec![key(&provider.config, secret, || {
                    format!("providers.{}.api_key", d.provider)
                })?]),
                None => Ok(Vec::new()),
            };
        }
        let mut keys = Vec::with_capacity(d.api_keys.len());
        for (k, secret) in d.api_keys.iter().enumerate() {
            keys.push(key(&provider.config, secret, || {
                field(&format!("api_keys[{k}]"))
            })?);
        }
        Ok(keys)
    }
}

/// The health of every deployment `previous` knew, by id.
fn health_by_id(previous: &RouteTable) -> HashMap<String, Arc<Health>> {
    let mut health = HashMap::new();
    for m in previous.by_name.values() {
        for d in &m.deployments {
            health.insert(d.id.clone(), Arc::clone(&d.health));
        }
    }
    health
}

/// Every provider by name, its key checked (the field named when it is unusable).
fn providers(cfg: &Config) -> Result<Providers<'_>, RoutingError> {
    let mut providers = HashMap::new();
    for (i, p) in cfg.providers.iter().enumerate() {
        let own_key = match &p.api_key {
            Some(secret) if !secret.is_empty() => {
                key(p, secret, || format!("providers[{i}].api_key"))?;
                Some(secret)
            }
            _ => None,
        };
        let (auth_header, headers) = provider_headers(i, p)?;
        let provider = Provider {
            name: p.name.clone(),
            kind: p.kind(),
            models_url: p.url(p.models_path(), ""),
            stream_usage: p.stream_usage(),
            responses: p.responses(),
            auth_header,
            headers,
            forward: forward_headers(p),
            aws: aws(p),
            config: p.clone(),
        };
        providers.insert(p.name.as_str(), (Arc::new(provider), own_key));
    }
    Ok(providers)
}

/// The client headers this provider takes: its own list, else its kind's (validated names).
fn forward_headers(p: &ProviderConfig) -> Vec<HeaderName> {
    match &p.forward_headers {
        Some(list) => list
            .iter()
            .filter_map(|h| HeaderName::try_from(h.as_str()).ok())
            .collect(),
        None => tollgate_config::default_forward_headers(p.kind())
            .iter()
            .map(|h| HeaderName::from_static(h))
            .collect(),
    }
}

/// A Bedrock provider's signing credentials, when it has all three parts.
fn aws(p: &ProviderConfig) -> Option<Aws> {
    match (&p.aws_access_key_id, &p.aws_secret_access_key, &p.region) {
        (Some(id), Some(secret), Some(region)) if p.kind() == ProviderKind::Bedrock => Some(Aws {
            creds: AwsCredentials {
                access_key_id: id.expose().to_owned(),
                secret_access_key: secret.expose().to_owned(),
                session_token: p.aws_session_token.as_ref().map(|t| t.expose().to_owned()),
            },
            region: region.clone(),
        }),
        _ => None,
    }
}

fn config_error(field: String, message: &str) -> RoutingError {
    RoutingError::Config {
        field,
        message: message.into(),
    }
}

/// One provider key, as the provider wants it in its auth header.
fn key(
    p: &ProviderConfig,
    secret: &SecretRef,
    field: impl Fn() -> String,
) -> Result<Key, RoutingError> {
    let mut auth = HeaderValue::try_from(p.auth_value(secret.expose()))
        .map_err(|_| config_error(field(), "contains characters not allowed in an HTTP header"))?;
    auth.set_sensitive(true);
    Ok(Key {
        auth,
        secret: secret.clone(),
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

/// Capability bits of what the deployment declares; all set when it declares nothing.
fn capabilities(declared: Option<&[Capability]>) -> u8 {
    declared.map_or(u8::MAX, |caps| {
        caps.iter().fold(0, |bits, c| {
            bits | match c {
                Capability::Tools => TOOLS,
                Capability::Vision => VISION,
                Capability::JsonSchema => JSON_SCHEMA,
            }
        })
    })
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
                responses: String::new(),
                other: HashMap::new(),
            };
        }
        _ => chat.clone(),
    };
    Urls {
        chat,
        stream,
        embeddings: p.url(p.embeddings_path(), model),
        // Only called when the provider serves Responses natively (`responses = true`).
        responses: if p.responses() {
            p.url("/responses", model)
        } else {
            String::new()
        },
        other: Endpoint::ALL
            .into_iter()
            .filter_map(|e| p.endpoint_path(e).map(|path| (e, p.url(path, model))))
            .collect(),
    }
}

fn policy(r: &RoutingConfig) -> Policy {
    Policy {
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
    }
}

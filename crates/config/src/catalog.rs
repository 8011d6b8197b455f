//! Providers, models and their deployments, with prices.

use serde::{Deserialize, Serialize};
use tollgate_domain::money::{Money, PerMillion, Price};

use crate::secret::SecretRef;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Any OpenAI-compatible Chat Completions API (OpenAI, vLLM, the built-in mock, ...).
    Openai,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Base URL up to and including `/v1`. Only ever from admin config.
    pub base_url: String,
    #[serde(default)]
    pub api_key: Option<SecretRef>,
    /// Whether the provider accepts `stream_options.include_usage` (most do).
    #[serde(default = "yes")]
    pub stream_usage: bool,
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Unique name of the deployment; defaults to `<provider>/<model>`.
    #[serde(default)]
    pub name: Option<String>,
    pub provider: String,
    /// Model name the provider knows.
    pub model: String,
    #[serde(default = "one")]
    pub weight: u32,
}

impl DeploymentConfig {
    pub fn id(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}/{}", self.provider, self.model))
    }
}

/// Prices in USD per million tokens, as decimal strings (`"0.15"`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    pub input: String,
    pub output: String,
    /// Defaults to the input price.
    #[serde(default)]
    pub cached_input: Option<String>,
    /// Defaults to the input price.
    #[serde(default)]
    pub cache_write: Option<String>,
    /// Flat USD per request.
    #[serde(default)]
    pub per_request: Option<String>,
}

impl PriceConfig {
    /// The typed price, or `(field, message)` naming what is wrong.
    pub fn parse(&self) -> Result<Price, (&'static str, String)> {
        let input = PerMillion::parse_usd(&self.input).map_err(|e| ("input", e.to_string()))?;
        let output = PerMillion::parse_usd(&self.output).map_err(|e| ("output", e.to_string()))?;
        let cached_input = match &self.cached_input {
            Some(s) => PerMillion::parse_usd(s).map_err(|e| ("cached_input", e.to_string()))?,
            None => input,
        };
        let cache_write = match &self.cache_write {
            Some(s) => PerMillion::parse_usd(s).map_err(|e| ("cache_write", e.to_string()))?,
            None => input,
        };
        let per_request = match &self.per_request {
            Some(s) => Money::parse_usd(s).map_err(|e| ("per_request", e.to_string()))?,
            None => Money::ZERO,
        };
        Ok(Price {
            input,
            cached_input,
            cache_write,
            output,
            per_request,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Public model name clients send.
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub deployments: Vec<DeploymentConfig>,
    /// Required: an unknown price is an error at load, never a silent $0.
    pub price: PriceConfig,
    #[serde(default)]
    pub owned_by: Option<String>,
}

impl ModelConfig {
    /// The validated price. `validate()` already checked it, so this only fails on a config that
    /// skipped validation.
    pub fn price(&self) -> Price {
        self.price.parse().unwrap_or_default()
    }
}

//! Providers, models and their deployments, with prices.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tollgate_domain::money::{Money, PerMillion, Price};

use crate::secret::SecretRef;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Any OpenAI-compatible Chat Completions API (OpenAI, Azure OpenAI, Groq, vLLM, the
    /// built-in mock, ...; see the presets).
    Openai,
    /// Anthropic's Messages API (`{base_url}/messages`, `x-api-key`, `anthropic-version`).
    Anthropic,
    /// Google Gemini `generateContent` / `streamGenerateContent` (`x-goog-api-key`).
    Gemini,
    /// AWS Bedrock Converse / ConverseStream, signed with SigV4.
    Bedrock,
}

/// One upstream provider. With `preset`, every unset field comes from the preset's table in
/// `presets.toml` (see [`crate::presets`]); the result is what the rest of the system reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    /// `openai`, `azure`, `groq`, `mistral`, `deepseek`, `together`, `fireworks`,
    /// `openrouter`, `xai`, `vllm`, `ollama`, `lmstudio`, `anthropic`, `gemini`, `bedrock`.
    #[serde(default)]
    pub preset: Option<String>,
    /// Required unless the preset gives it.
    #[serde(default)]
    pub kind: Option<ProviderKind>,
    /// Base URL up to and including the API version (`…/v1`). Only ever from admin config.
    /// Required unless the preset gives it (Bedrock: derived from `region`).
    #[serde(default)]
    pub base_url: String,
    #[serde(default)]
    pub api_key: Option<SecretRef>,
    /// Header that carries the key (`authorization` unless the preset says otherwise).
    #[serde(default)]
    pub auth_header: Option<String>,
    /// `"Bearer"` sends `Bearer <key>`; `""` sends the key alone.
    #[serde(default)]
    pub auth_scheme: Option<String>,
    /// Appended to `base_url`; `{model}` is replaced by the deployment's upstream model.
    #[serde(default)]
    pub chat_path: Option<String>,
    #[serde(default)]
    pub embeddings_path: Option<String>,
    #[serde(default)]
    pub models_path: Option<String>,
    /// `kind = "openai"` only, like the other endpoints below: OpenAI's image generation
    /// (default `/images/generations`).
    #[serde(default)]
    pub images_path: Option<String>,
    /// Text to speech (default `/audio/speech`).
    #[serde(default)]
    pub speech_path: Option<String>,
    /// Speech to text, multipart (default `/audio/transcriptions`).
    #[serde(default)]
    pub transcriptions_path: Option<String>,
    /// Default `/moderations`.
    #[serde(default)]
    pub moderations_path: Option<String>,
    /// Rerank in Cohere's and Jina's shape (default `/rerank`: Cohere's `…/v2`, Jina's,
    /// vLLM's and Together's `…/v1` base URLs all serve it there).
    #[serde(default)]
    pub rerank_path: Option<String>,
    /// Query parameters added to every call (Azure's `api-version`).
    #[serde(default)]
    pub query: std::collections::BTreeMap<String, String>,
    /// Extra static headers sent on every call (e.g. OpenRouter's `HTTP-Referer`, `X-Title`).
    /// Not secret: keys belong in `api_key`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Whether the provider accepts `stream_options.include_usage` (default true; ignored for
    /// native providers, whose streams always report usage).
    #[serde(default)]
    pub stream_usage: Option<bool>,
    /// `kind = "openai"` only: the deployment also speaks OpenAI's Responses API at
    /// `{base_url}/responses`, so a Responses client's body goes through with only `model`
    /// swapped (stored responses, built-in tools and encrypted reasoning keep working). Without
    /// it (the default; the `openai` preset sets it), Responses calls are translated to Chat
    /// Completions.
    #[serde(default)]
    pub responses: Option<bool>,
    /// Client request headers passed on to this provider when the edge hands them over (see
    /// `edge.forward_headers`). Unset: the kind's own beta headers
    /// ([`crate::default_forward_headers`]); `[]`: none.
    #[serde(default)]
    pub forward_headers: Option<Vec<String>>,
    /// Bedrock: the AWS region (`us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
    /// Bedrock: SigV4 credentials (references: `env:AWS_ACCESS_KEY_ID`, ...).
    #[serde(default)]
    pub aws_access_key_id: Option<SecretRef>,
    #[serde(default)]
    pub aws_secret_access_key: Option<SecretRef>,
    #[serde(default)]
    pub aws_session_token: Option<SecretRef>,
}

impl ProviderConfig {
    /// The wire format (set by the preset or the table; validation rejects a provider with none).
    pub fn kind(&self) -> ProviderKind {
        self.kind.unwrap_or(ProviderKind::Openai)
    }

    pub fn stream_usage(&self) -> bool {
        self.stream_usage.unwrap_or(true)
    }

    /// Whether Responses API calls pass through to `{base_url}/responses` (see `responses`).
    pub fn responses(&self) -> bool {
        self.kind() == ProviderKind::Openai && self.responses.unwrap_or(false)
    }

    /// The key as the provider wants it in `auth_header`.
    pub fn auth_value(&self, key: &str) -> String {
        let scheme = self.auth_scheme.as_deref().unwrap_or(match self.kind() {
            ProviderKind::Openai => "Bearer",
            _ => "",
        });
        if scheme.is_empty() {
            key.to_owned()
        } else {
            format!("{scheme} {key}")
        }
    }

    pub fn auth_header_name(&self) -> &str {
        self.auth_header.as_deref().unwrap_or(match self.kind() {
            ProviderKind::Anthropic => "x-api-key",
            ProviderKind::Gemini => "x-goog-api-key",
            ProviderKind::Openai | ProviderKind::Bedrock => "authorization",
        })
    }

    /// `base_url` + `path` (with `{model}` filled in) + `query`.
    pub fn url(&self, path: &str, model: &str) -> String {
        let mut url = format!(
            "{}{}",
            self.base_url.trim_end_matches('/'),
            path.replace("{model}", model)
        );
        for (i, (k, v)) in self.query.iter().enumerate() {
            url.push(if i == 0 && !url.contains('?') {
                '?'
            } else {
                '&'
            });
            url.push_str(k);
            url.push('=');
            url.push_str(v);
        }
        url
    }

    /// The chat path: the configured one, or the kind's default.
    pub fn chat_path(&self) -> &str {
        self.chat_path.as_deref().unwrap_or(match self.kind() {
            ProviderKind::Openai => "/chat/completions",
            ProviderKind::Anthropic => "/messages",
            ProviderKind::Gemini => "/models/{model}:generateContent",
            ProviderKind::Bedrock => "/model/{model}/converse",
        })
    }

    pub fn embeddings_path(&self) -> &str {
        self.embeddings_path
            .as_deref()
            .unwrap_or(match self.kind() {
                ProviderKind::Gemini => "/models/{model}:batchEmbedContents",
                _ => "/embeddings",
            })
    }

    pub fn models_path(&self) -> &str {
        self.models_path.as_deref().unwrap_or("/models")
    }

    /// The path of one of the endpoints only OpenAI-compatible providers serve (`None` for
    /// other kinds: the call is refused before it is sent).
    pub fn endpoint_path(&self, endpoint: Endpoint) -> Option<&str> {
        if self.kind() != ProviderKind::Openai {
            return None;
        }
        let (set, default) = match endpoint {
            Endpoint::Images => (&self.images_path, "/images/generations"),
            Endpoint::Speech => (&self.speech_path, "/audio/speech"),
            Endpoint::Transcriptions => (&self.transcriptions_path, "/audio/transcriptions"),
            Endpoint::Moderations => (&self.moderations_path, "/moderations"),
            Endpoint::Rerank => (&self.rerank_path, "/rerank"),
        };
        Some(set.as_deref().unwrap_or(default))
    }
}

/// The endpoints besides chat and embeddings a gateway routes: served by OpenAI-compatible
/// providers only, passed through with only `model` swapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Images,
    Speech,
    Transcriptions,
    Moderations,
    Rerank,
}

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [
        Endpoint::Images,
        Endpoint::Speech,
        Endpoint::Transcriptions,
        Endpoint::Moderations,
        Endpoint::Rerank,
    ];

    /// The route, as error messages name it.
    pub fn route(self) -> &'static str {
        match self {
            Endpoint::Images => "/v1/images/generations",
            Endpoint::Speech => "/v1/audio/speech",
            Endpoint::Transcriptions => "/v1/audio/transcriptions",
            Endpoint::Moderations => "/v1/moderations",
            Endpoint::Rerank => "/v1/rerank",
        }
    }
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
    /// Provider keys for this deployment (references), used in turn: the next one takes over
    /// when the provider answers 401, 403 or 429. Empty: the provider's `api_key`.
    #[serde(default)]
    pub api_keys: Vec<SecretRef>,
    /// `priority` strategy: lower is tried first; equal priorities share by weight.
    #[serde(default)]
    pub priority: u32,
    /// Informational (traces, preferences by region later).
    #[serde(default)]
    pub region: Option<String>,
    /// What this deployment costs us, for the `cost` strategy and `max_price` preferences.
    /// Defaults to the model's price. Clients are always billed at the model's price.
    #[serde(default)]
    pub price: Option<PriceConfig>,
    /// Prompt tokens this deployment accepts; defaults to the model's `context_window`.
    #[serde(default)]
    pub context_window: Option<u64>,
    /// What the deployment supports; unset means "assume everything".
    #[serde(default)]
    pub capabilities: Option<Vec<Capability>>,
    /// Whether the provider may keep prompts (`provider.data_collection = "deny"` skips `allow`).
    #[serde(default)]
    pub data_collection: DataCollection,
    /// Overrides `routing.connect_timeout`.
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// Overrides `routing.first_token_timeout`.
    #[serde(default, with = "humantime_serde")]
    pub first_token_timeout: Option<Duration>,
    /// Overrides `routing.stream_idle_timeout`.
    #[serde(default, with = "humantime_serde")]
    pub stream_idle_timeout: Option<Duration>,
    /// Total time for one call to this deployment (also bounded by the request's deadline).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

impl Default for DeploymentConfig {
    fn default() -> Self {
        DeploymentConfig {
            name: None,
            provider: String::new(),
            model: String::new(),
            weight: 1,
            api_keys: Vec::new(),
            priority: 0,
            region: None,
            price: None,
            context_window: None,
            capabilities: None,
            data_collection: DataCollection::Allow,
            connect_timeout: None,
            first_token_timeout: None,
            stream_idle_timeout: None,
            timeout: None,
        }
    }
}

/// A request feature a deployment may lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Tools,
    Vision,
    JsonSchema,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataCollection {
    #[default]
    Allow,
    Deny,
}

/// How a model's deployment is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingStrategy {
    /// Random in proportion to `weight`.
    #[default]
    Weighted,
    /// Lowest `priority` first (failover), weighted within a priority.
    Priority,
    /// Fewest calls in flight.
    LeastBusy,
    /// Peak-EWMA of time to first token, power of two choices.
    Latency,
    /// Cheapest deployment with the capabilities the request needs.
    Cost,
}

/// An error class that can send a request to a fallback model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackOn {
    RateLimit,
    Timeout,
    ServerError,
    ContextLength,
    ContentPolicy,
}

fn every_class() -> Vec<FallbackOn> {
    vec![
        FallbackOn::RateLimit,
        FallbackOn::Timeout,
        FallbackOn::ServerError,
        FallbackOn::ContextLength,
        FallbackOn::ContentPolicy,
    ]
}

/// `fallbacks = [{ model = "big", on = ["context_length"] }]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    /// Public name (or alias) of the model to try next.
    pub model: String,
    /// Error classes that lead here; all of them by default.
    #[serde(default = "every_class")]
    pub on: Vec<FallbackOn>,
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
    /// Reasoning tokens (part of output); defaults to the output price.
    #[serde(default)]
    pub reasoning: Option<String>,
    /// Flat USD per request (moderations are billed by this alone).
    #[serde(default)]
    pub per_request: Option<String>,
    /// USD per image returned (`/v1/images/generations`).
    #[serde(default)]
    pub per_image: Option<String>,
    /// USD per million characters of text to speak (`/v1/audio/speech`; OpenAI's TTS prices).
    #[serde(default)]
    pub per_million_characters: Option<String>,
    /// USD per second of transcribed audio (`/v1/audio/transcriptions`; $0.006 a minute is
    /// `"0.0001"`). Exact to the pico-dollar: a per-hour price that does not divide is refused.
    #[serde(default)]
    pub per_audio_second: Option<String>,
    /// USD per rerank search unit (`/v1/rerank`; $2 per 1,000 searches is `"0.002"`).
    #[serde(default)]
    pub per_search_unit: Option<String>,
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
        let reasoning = match &self.reasoning {
            Some(s) => PerMillion::parse_usd(s).map_err(|e| ("reasoning", e.to_string()))?,
            None => output,
        };
        let money = |field: &'static str, v: &Option<String>| match v {
            Some(s) => Money::parse_usd(s).map_err(|e| (field, e.to_string())),
            None => Ok(Money::ZERO),
        };
        let per_million_characters = match &self.per_million_characters {
            Some(s) => {
                PerMillion::parse_usd(s).map_err(|e| ("per_million_characters", e.to_string()))?
            }
            None => PerMillion::default(),
        };
        Ok(Price {
            input,
            cached_input,
            cache_write,
            output,
            reasoning,
            per_request: money("per_request", &self.per_request)?,
            per_image: money("per_image", &self.per_image)?,
            per_million_characters,
            per_audio_second: money("per_audio_second", &self.per_audio_second)?,
            per_search_unit: money("per_search_unit", &self.per_search_unit)?,
        })
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
    /// Defaults to `routing.default_strategy`.
    #[serde(default)]
    pub strategy: Option<RoutingStrategy>,
    /// Models to try, in order, when every deployment of this one failed with a listed class.
    #[serde(default)]
    pub fallbacks: Vec<FallbackConfig>,
    /// Prompt tokens the model accepts (a request estimated above it goes to a fallback).
    #[serde(default)]
    pub context_window: Option<u64>,
    /// The most output one request may ask of this model (`max_tokens`, `max_completion_tokens`,
    /// Messages' `max_tokens`); under `edge.hardening.max_output_tokens`, which caps every model.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// The most choices (`n`) one request may ask of this model; under `edge.hardening.max_n`.
    #[serde(default)]
    pub max_n: Option<u64>,
}

impl ModelConfig {
    /// The validated price. `validate()` already checked it, so this only fails on a config that
    /// skipped validation.
    pub fn price(&self) -> Price {
        self.price.parse().unwrap_or_default()
    }
}

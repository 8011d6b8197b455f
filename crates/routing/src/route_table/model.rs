//! The shapes the route table is made of: providers, their deployments (with keys, timeouts and
//! health) and the models those deployments serve. Plain data, built once per config by
//! `build.rs` and read without locks on every request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use tollgate_config::{
    DataCollection, Endpoint, FallbackOn, ProviderConfig, ProviderKind, RoutingStrategy, SecretRef,
};
use tollgate_domain::money::Price;

use crate::health::{CircuitPolicy, Health};
use crate::sigv4::AwsCredentials;

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
    /// Serves OpenAI's Responses API (`urls.responses`): Responses calls pass through.
    pub responses: bool,
    /// The header carrying the key (`authorization`, `api-key`, `x-api-key`, ...).
    pub auth_header: HeaderName,
    /// Sent on every call: the preset's/table's static headers, `anthropic-version`.
    pub headers: HeaderMap,
    /// Client headers passed on when the edge hands them over (`forward_headers`).
    pub forward: Vec<HeaderName>,
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
    /// `{base_url}/responses`, for providers that serve the Responses API (else empty).
    pub responses: String,
    /// The other endpoints (images, speech, transcriptions, moderations, rerank): present only
    /// for OpenAI-compatible deployments, the only kind that serves them.
    pub other: HashMap<Endpoint, String>,
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
    /// Whether the deployment serves `endpoint` at all (its provider's kind offers it).
    pub fn serves(&self, endpoint: Endpoint) -> bool {
        self.urls.other.contains_key(&endpoint)
    }

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

/// Retry, circuit and timeout settings in force for this route table.
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

/// One provider key of a deployment.
pub struct Key {
    /// The value of the provider's auth header (`Bearer <key>`, or the bare key for `api-key`,
    /// `x-api-key`, `x-goog-api-key`), marked sensitive so it never shows in debug output.
    pub auth: HeaderValue,
    /// Kept only to scrub it from provider messages should a provider ever echo it.
    pub secret: SecretRef,
    /// Rate limited or refused until this time (ms, `health::now_ms`); 0 = usable.
    pub(crate) cooldown_until: AtomicU64,
}

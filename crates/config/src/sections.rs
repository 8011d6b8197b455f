//! Per-service sections. Defaults are the local single-machine setup the quickstart runs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::SecretRef;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// What clients may send on to providers by default: the beta and version headers the
/// Anthropic and OpenAI SDKs (and Claude Code) use to turn features on.
pub const DEFAULT_FORWARD_HEADERS: [&str; 3] =
    ["anthropic-beta", "anthropic-version", "openai-beta"];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    pub listen: SocketAddr,
    /// A listener of its own for the admin API (`/admin/v1`, plus the probes and `/metrics`):
    /// when set, `listen` no longer serves `/admin`, so the admin API can stay on an internal
    /// network while clients reach `listen`.
    pub admin_listen: Option<SocketAddr>,
    /// Client request headers the edge hands to routing, which passes each on only to
    /// providers whose own `forward_headers` list it (credentials never: `authorization`,
    /// `x-api-key`, `cookie` and hop-by-hop headers are refused at load).
    pub forward_headers: Vec<String>,
    /// Bearer token for `/admin/v1`. Admin API is off when unset.
    pub admin_token: Option<SecretRef>,
    /// Server pepper for API-key HMACs. Must be the same on every edge and billing replica.
    /// Defaults to a development value that only local mode accepts (`standin.rs`).
    pub key_pepper: SecretRef,
    pub routing_url: String,
    pub billing_url: String,
    pub logging_url: String,
    pub max_body_bytes: usize,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Fallback poll of the key snapshot, in case a change notification was missed.
    #[serde(with = "humantime_serde")]
    pub snapshot_refresh: Duration,
    /// How long shutdown waits for open streams before cutting them.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    pub limits: LimitsConfig,
    pub usage: UsageSpoolConfig,
    pub logs: LogQueueConfig,
    /// Budget soft-limit webhooks (off without a URL).
    pub budget_alerts: BudgetAlertsConfig,
    /// Connection and request limits that protect the edge itself.
    pub hardening: HardeningConfig,
    /// Networks (CIDR) an admin-set URL may reach although private, loopback, link-local or a
    /// metadata address: everything else of that kind is refused at use (no SSRF).
    pub outbound_allow: Vec<String>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            listen: addr("127.0.0.1:8080"),
            admin_listen: None,
            forward_headers: DEFAULT_FORWARD_HEADERS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            admin_token: None,
            key_pepper: SecretRef::literal(crate::LOCAL_DEV_PEPPER),
            routing_url: "http://127.0.0.1:50051".into(),
            billing_url: "http://127.0.0.1:50052".into(),
            logging_url: "http://127.0.0.1:50053".into(),
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(600),
            snapshot_refresh: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            limits: LimitsConfig::default(),
            usage: UsageSpoolConfig::default(),
            logs: LogQueueConfig::default(),
            budget_alerts: BudgetAlertsConfig::default(),
            hardening: HardeningConfig::default(),
            outbound_allow: Vec::new(),
        }
    }
}

/// What one client may cost the edge before a request reaches any handler, and the caps on
/// what a model call may ask for.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HardeningConfig {
    /// A connection that has not sent a whole request head by then is closed (slowloris).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Most header lines in one request.
    pub max_headers: usize,
    /// Most bytes of one request head (request line and headers).
    pub max_header_bytes: usize,
    /// Open connections; beyond it new connections wait in the listen backlog.
    pub max_connections: usize,
    /// Model requests in flight on this edge; beyond it 503 with Retry-After before any work.
    pub max_in_flight: usize,
    /// Deepest JSON nesting a model-call body may have.
    pub max_json_depth: usize,
    /// Largest `max_tokens` (or `max_completion_tokens`) a model call may ask for.
    pub max_output_tokens: u64,
    /// Largest `n` (choices) a chat call may ask for.
    pub max_n: u64,
    /// Failed authentications per minute from one address before it gets 429 for the rest of
    /// the minute.
    pub auth_failures_per_minute: u32,
    /// Peers (CIDR) the failed-authentication throttle leaves alone: a proxy or load balancer
    /// in front of the edge carries everyone's traffic from one address, and throttling it
    /// would lock every client out. Loopback by default (a local proxy, the tests).
    pub auth_throttle_exempt: Vec<String>,
    /// Proxies (CIDR) whose `X-Forwarded-For` is believed: for a request from one of them, the
    /// client is the right-most address in that header that is not itself a trusted proxy (what
    /// the failed-authentication throttle keys on). Empty: the header is never read, since any
    /// client can write it.
    pub trusted_proxies: Vec<String>,
    /// How long startup waits for the key snapshot and routing before accepting anyway (so the
    /// admin API and probes stay reachable when routing is down).
    #[serde(with = "humantime_serde")]
    pub ready_wait: Duration,
}

impl Default for HardeningConfig {
    fn default() -> Self {
        HardeningConfig {
            header_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            max_connections: 10_000,
            max_in_flight: 4096,
            max_json_depth: 64,
            max_output_tokens: 1_000_000,
            max_n: 128,
            auth_failures_per_minute: 30,
            auth_throttle_exempt: vec!["127.0.0.0/8".into(), "::1/128".into()],
            trusted_proxies: Vec::new(),
            ready_wait: Duration::from_secs(30),
        }
    }
}

/// Where budget soft-limit alerts go: one JSON POST per budget, period and threshold the first
/// time settled spend reaches `threshold × limit` (thresholds are set on each budget).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetAlertsConfig {
    /// Webhook URL; alerts are off when unset.
    pub webhook_url: Option<String>,
    /// Signs each body: `x-tollgate-signature: sha256=<hex HMAC-SHA256 of the body>`.
    pub signing_secret: Option<SecretRef>,
    /// Per delivery attempt.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts per alert (exponential backoff from 1 s) before it is dropped and counted.
    pub max_attempts: u32,
    /// How often each edge looks for budgets whose settled spend reached a threshold.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for BudgetAlertsConfig {
    fn default() -> Self {
        BudgetAlertsConfig {
            webhook_url: None,
            signing_secret: None,
            timeout: Duration::from_secs(5),
            max_attempts: 8,
            poll_interval: Duration::from_secs(10),
        }
    }
}

/// What happens to a stream whose cost outruns its budget reservation when the budget has no
/// room left to extend it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamOverrun {
    /// End it with an explicit `budget_exceeded` error event; bill what was delivered.
    #[default]
    End,
    /// Let it finish (the budget is overspent by at most that one stream).
    Allow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisFailure {
    /// Keep admitting with a per-replica local limiter (limit / replicas, see
    /// `LimitsConfig::replicas`).
    Open,
    /// Refuse with 503 and Retry-After.
    Closed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests per minute for a key that sets none. 0 = unlimited.
    pub default_rpm: u32,
    /// Concurrent requests for a key that sets none. 0 = unlimited.
    pub default_concurrency: u32,
    /// A concurrency slot whose holder vanished (crashed replica) is freed after this long.
    #[serde(with = "humantime_serde")]
    pub slot_lease: Duration,
    pub on_redis_failure: RedisFailure,
    /// Edge replicas sharing Redis; the local fallback limiter allows limit / replicas, where
    /// replicas is the larger of this and the edges alive in Redis (each registers itself). An
    /// edge that starts while Redis is away divides by this alone, so beside an autoscaler set
    /// it to the most edges that can run (the HPA's maxReplicas).
    pub replicas: u32,
    /// How long an admission without budgets waits for Redis before the local fallback limiter
    /// decides it, as if Redis were down (capped by `redis.timeout`). A healthy local Redis
    /// answers in well under 1 ms; admissions with budgets wait the full `redis.timeout`.
    #[serde(with = "humantime_serde")]
    pub admit_timeout: Duration,
    /// Output tokens assumed when reserving budget for a request that sets no `max_tokens`.
    pub budget_output_tokens: u32,
    /// Tokens per minute for every key (prompt estimate + `max_tokens` reserved at admission,
    /// settled to the actual total). 0 = unlimited.
    pub default_tpm: u32,
    /// Limits shared by all keys of one user and by JWT callers matched to it (callers
    /// without a user are not limited here); a user's limits row overrides them. 0 = unlimited.
    pub user_rpm: u32,
    pub user_tpm: u32,
    pub user_concurrency: u32,
    /// Limits shared by all keys of one team (keys without a team are not limited here).
    /// 0 = unlimited.
    pub team_rpm: u32,
    pub team_tpm: u32,
    pub team_concurrency: u32,
    /// Limits shared by all keys of one tenant. 0 = unlimited.
    pub tenant_rpm: u32,
    pub tenant_tpm: u32,
    pub tenant_concurrency: u32,
    /// Per-model limits applied within each key: `per_model = { "gpt-4o" = { rpm = 60 } }`
    /// limits every key to that many requests (tokens) per minute of that model.
    pub per_model: BTreeMap<String, ModelLimits>,
    /// A stream whose running cost passes its budget reservation, with no room left in the
    /// budget to extend it: `end` (default) or `allow`.
    pub stream_overrun: StreamOverrun,
}

/// Limits of one model within one key. 0 = unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelLimits {
    pub rpm: u32,
    pub tpm: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            default_rpm: 600,
            default_concurrency: 50,
            slot_lease: Duration::from_secs(900),
            on_redis_failure: RedisFailure::Open,
            replicas: 1,
            admit_timeout: Duration::from_millis(50),
            budget_output_tokens: 4096,
            default_tpm: 0,
            user_rpm: 0,
            user_tpm: 0,
            user_concurrency: 0,
            team_rpm: 0,
            team_tpm: 0,
            team_concurrency: 0,
            tenant_rpm: 0,
            tenant_tpm: 0,
            tenant_concurrency: 0,
            per_model: BTreeMap::new(),
            stream_overrun: StreamOverrun::End,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageSpoolConfig {
    /// Durable spool for usage events billing has not acknowledged yet.
    pub spool_dir: PathBuf,
    /// High-water mark: past this many unacknowledged events the edge answers 503.
    pub spool_max_events: usize,
    pub batch_size: usize,
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Deadline of one `RecordUsage` call: a billing that takes connections but never answers
    /// must not stall the sender (the batch stays spooled and is sent again).
    #[serde(with = "humantime_serde")]
    pub send_timeout: Duration,
}

impl Default for UsageSpoolConfig {
    fn default() -> Self {
        UsageSpoolConfig {
            spool_dir: PathBuf::from(".tollgate/spool"),
            spool_max_events: 1_000_000,
            batch_size: 500,
            flush_interval: Duration::from_millis(200),
            send_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogQueueConfig {
    /// Bounded in-memory queue; records beyond it are dropped and counted.
    pub queue_size: usize,
    pub batch_size: usize,
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
}

impl Default for LogQueueConfig {
    fn default() -> Self {
        LogQueueConfig {
            queue_size: 50_000,
            batch_size: 500,
            flush_interval: Duration::from_millis(250),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    pub listen: SocketAddr,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Default total time for one upstream call when the edge sends no deadline.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Upstream connections kept idle per provider host.
    pub pool_max_idle_per_host: usize,
    /// Strategy for models that name none.
    pub default_strategy: crate::RoutingStrategy,
    /// Upstream calls per model per request (first try included), before its fallbacks.
    pub max_attempts: u32,
    /// First retry backoff (full jitter, doubling per retry on the same deployment).
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_backoff_max: Duration,
    /// Retries allowed as a fraction of first calls (0.2 = at most 20% extra upstream calls).
    pub retry_budget_ratio: f64,
    /// Retries always allowed on top of the ratio, so a quiet replica can still retry.
    pub retry_budget_min: u32,
    /// Consecutive failures that eject a deployment.
    pub circuit_failures: u32,
    /// First ejection; doubles on each repeat, up to `circuit_ejection_max`.
    #[serde(with = "humantime_serde")]
    pub circuit_ejection: Duration,
    #[serde(with = "humantime_serde")]
    pub circuit_ejection_max: Duration,
    /// Streams: from sending the request to the first body byte.
    #[serde(with = "humantime_serde")]
    pub first_token_timeout: Duration,
    /// Streams: longest silence between two reads once the stream started.
    #[serde(with = "humantime_serde")]
    pub stream_idle_timeout: Duration,
    /// How often `tollgate-routing` checks its config file for changes (hot reload).
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
    /// Active health checks (`GET {base_url}/models` per deployment) this often; off when unset.
    #[serde(with = "humantime_serde")]
    pub health_check_interval: Option<Duration>,
    /// Billing, for the usage of calls whose edge vanished before it could send it; unset means
    /// `edge.billing_url` (one config file serves every service).
    pub billing_url: Option<String>,
    /// How long routing keeps the usage of a finished call in case its edge dies before that
    /// edge's own event is safely spooled; longer than an edge ever holds an event unspooled
    /// (one `RecordUsage` call plus a flush interval), which validation checks.
    #[serde(with = "humantime_serde")]
    pub backstop_window: Duration,
    /// How long routing waits, after an edge's connection closed, before sending that edge's
    /// calls to billing: a living edge (a network cut, a clean shutdown) records its own first.
    #[serde(with = "humantime_serde")]
    pub backstop_grace: Duration,
    /// How routing sends that usage: the same spooled, batched sender the edge uses, with a
    /// spool directory of its own.
    pub usage: UsageSpoolConfig,
}

/// Routing's usage sender: the edge's defaults in a directory of its own, so an edge and routing
/// on one host never share a spool file.
fn routing_usage() -> UsageSpoolConfig {
    UsageSpoolConfig {
        spool_dir: PathBuf::from(".tollgate/routing-spool"),
        ..UsageSpoolConfig::default()
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            listen: addr("127.0.0.1:50051"),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(600),
            pool_max_idle_per_host: 256,
            default_strategy: crate::RoutingStrategy::Weighted,
            max_attempts: 3,
            retry_backoff: Duration::from_millis(25),
            retry_backoff_max: Duration::from_secs(1),
            retry_budget_ratio: 0.2,
            retry_budget_min: 10,
            circuit_failures: 5,
            circuit_ejection: Duration::from_secs(30),
            circuit_ejection_max: Duration::from_secs(300),
            first_token_timeout: Duration::from_secs(60),
            stream_idle_timeout: Duration::from_secs(60),
            reload_interval: Duration::from_secs(1),
            health_check_interval: None,
            billing_url: None,
            backstop_window: Duration::from_secs(10),
            backstop_grace: Duration::from_secs(5),
            usage: routing_usage(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    pub listen: SocketAddr,
    /// Must equal `edge.key_pepper`: billing hashes the keys it creates.
    pub key_pepper: SecretRef,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            listen: addr("127.0.0.1:50052"),
            key_pepper: SecretRef::literal(crate::LOCAL_DEV_PEPPER),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    pub listen: SocketAddr,
    /// Days of request logs to keep; older daily partitions are dropped.
    pub retention_days: u32,
    /// How long stored Responses API answers are kept (OpenAI keeps them 30 days).
    #[serde(with = "humantime_serde")]
    pub responses_retention: Duration,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            listen: addr("127.0.0.1:50053"),
            retention_days: 30,
            responses_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: SecretRef,
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: SecretRef::literal("postgres://tollgate:tollgate@127.0.0.1:5432/tollgate"),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    pub url: SecretRef,
    /// Prefix for every key, so several deployments (or tests) can share one Redis.
    pub key_prefix: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: SecretRef::literal("redis://127.0.0.1:6379"),
            key_prefix: "tg".into(),
            timeout: Duration::from_millis(250),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC endpoint (e.g. `http://127.0.0.1:4317`); tracing export is off when unset.
    pub otlp_endpoint: Option<String>,
    /// `RUST_LOG`-style filter.
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Fraction of traces sampled (parent-based).
    pub sample_ratio: f64,
    /// Prometheus `/metrics` listener of the gRPC services (the edge serves `/metrics` on its
    /// own port). Off when unset; set it per process, e.g. `TOLLGATE_TELEMETRY__METRICS_LISTEN`.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            log_filter: "info".into(),
            log_format: LogFormat::Json,
            sample_ratio: 1.0,
            metrics_listen: None,
        }
    }
}

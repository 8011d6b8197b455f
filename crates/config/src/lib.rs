//! Tollgate's configuration: one file (TOML or YAML) for every service, each reading its section.
//!
//! Layers, later wins: built-in defaults → the file → `TOLLGATE_…` environment variables, with
//! `__` for nesting (`TOLLGATE_EDGE__LISTEN=0.0.0.0:8080`). Unknown fields are errors; every error
//! names the field. Secrets are references (`env:NAME`, `file:/path`) resolved here, held as
//! `SecretString`, and never printed. Each service loads with [`Config::load_for`], which resolves
//! only the secrets of the sections that process uses (`process.rs`) and, outside local mode
//! (a listener off loopback), refuses stand-in secrets (`standin.rs`).
//!
//! This is the only crate that reads the process environment.

mod catalog;
mod directory;
mod headers;
mod internal;
mod jwt;
pub mod presets;
mod process;
mod secret;
mod sections;
mod standin;
mod validate;
pub mod watch;

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml, Yaml};
use serde::{Deserialize, Serialize};

pub use catalog::{
    Capability, DataCollection, DeploymentConfig, Endpoint, FallbackConfig, FallbackOn,
    ModelConfig, PriceConfig, ProviderConfig, ProviderKind, RoutingStrategy,
};
pub use directory::{DirectoryEntry, ModelDirectory};
pub use headers::{NEVER_FORWARDED, default_forward_headers};
pub use internal::{InternalConfig, MIN_INTERNAL_SECRET_BYTES};
pub use jwt::{JwtConfig, JwtIssuerConfig, StaticKeyConfig, is_uuid};
pub use process::Process;
pub use secret::SecretRef;
pub use sections::{
    BillingConfig, DatabaseConfig, EdgeConfig, LimitsConfig, LogFormat, LogQueueConfig,
    LoggingConfig, ModelLimits, RedisConfig, RedisFailure, RoutingConfig, TelemetryConfig,
    UsageSpoolConfig,
};
pub use sections::{BudgetAlertsConfig, StreamOverrun};
pub use standin::LOCAL_DEV_PEPPER;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(Box<figment::Error>),
    #[error("configuration: `{field}`: {message}")]
    Invalid { field: String, message: String },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        ConfigError::Parse(Box::new(e))
    }
}

const SECTIONS: [&str; 8] = [
    "edge",
    "routing",
    "billing",
    "logging",
    "database",
    "redis",
    "telemetry",
    "internal",
];

/// The whole configuration. Each service reads the sections it needs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub edge: EdgeConfig,
    pub routing: RoutingConfig,
    pub billing: BillingConfig,
    pub logging: LoggingConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub telemetry: TelemetryConfig,
    /// Identity providers whose JWTs the edge accepts (`[[jwt.issuers]]`).
    pub jwt: JwtConfig,
    /// The secret Tollgate's services authenticate each other's gRPC calls with (`[internal]`).
    pub internal: InternalConfig,
    pub providers: Vec<ProviderConfig>,
    pub models: Vec<ModelConfig>,
}

impl Config {
    /// Load from `path` (TOML or YAML by extension; `None` for defaults only) and the environment,
    /// resolving every secret reference, then validate. For tools that need the whole file
    /// (`tollgatectl`); a service loads with [`Config::load_for`].
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::from_figment(Self::figment(path), None)
    }

    /// [`Config::load`] for one process: only the secrets of the sections `process` uses are
    /// resolved (the others need not be in its environment, and read as empty), and a process
    /// with a listener off loopback refuses a missing or stand-in pepper or internal secret.
    pub fn load_for(path: Option<&Path>, process: Process) -> Result<Config, ConfigError> {
        Self::from_figment(Self::figment(path), Some(process))
    }

    fn figment(path: Option<&Path>) -> Figment {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(p) = path {
            let is_yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
            fig = if is_yaml {
                fig.merge(Yaml::file_exact(p))
            } else {
                fig.merge(Toml::file_exact(p))
            };
        }
        // Only variables that name a section (TOLLGATE_EDGE__LISTEN): the client-side variables a
        // user may have sourced (TOLLGATE_URL, TOLLGATE_API_KEY) are not configuration.
        let env = Env::prefixed("TOLLGATE_")
            .filter(|k| {
                let k = k.as_str().to_ascii_lowercase();
                SECTIONS
                    .iter()
                    .any(|s| k.strip_prefix(s).is_some_and(|rest| rest.starts_with("__")))
            })
            .split("__");
        fig.merge(env)
    }

    /// Parse from a TOML string over the defaults, resolving every secret reference (tests).
    pub fn from_toml(s: &str) -> Result<Config, ConfigError> {
        Self::from_figment(Self::toml_figment(s), None)
    }

    /// [`Config::from_toml`] as [`Config::load_for`] would load it for `process` (tests).
    pub fn from_toml_for(s: &str, process: Process) -> Result<Config, ConfigError> {
        Self::from_figment(Self::toml_figment(s), Some(process))
    }

    fn toml_figment(s: &str) -> Figment {
        Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(s))
    }

    fn from_figment(fig: Figment, process: Option<Process>) -> Result<Config, ConfigError> {
        let mut cfg: Config = fig.extract()?;
        presets::apply(&mut cfg.providers)?;
        process::resolve(&mut cfg, process)?;
        cfg.validate()?;
        if let Some(p) = process {
            standin::check(&cfg, p)?;
        }
        Ok(cfg)
    }

    /// Check cross-field rules; the error names the offending field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::check(self)?;
        headers::check_forward_list("edge.forward_headers", &self.edge.forward_headers)?;
        for (i, p) in self.providers.iter().enumerate() {
            if let Some(list) = &p.forward_headers {
                headers::check_forward_list(&format!("providers[{i}].forward_headers"), list)?;
            }
        }
        internal::check(&self.internal)
    }

    /// The model directory of this configuration: names, aliases and the allowed-model check
    /// every service shares.
    pub fn directory(&self) -> ModelDirectory {
        ModelDirectory::from_models(&self.models)
    }

    /// The model (by public name or alias).
    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models
            .iter()
            .find(|m| m.name == name || m.aliases.iter().any(|a| a == name))
    }

    /// The path named by `TOLLGATE_CONFIG`, if set (used by the binaries' `--config` default).
    pub fn path_from_env() -> Option<std::path::PathBuf> {
        #[allow(clippy::disallowed_methods)]
        std::env::var_os("TOLLGATE_CONFIG").map(Into::into)
    }
}

#[cfg(test)]
mod tests;

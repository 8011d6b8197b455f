//! The process a configuration is loaded for, and so whose secrets it reads.
//!
//! One file configures every service, but each process resolves only the `env:`/`file:`
//! references of the sections it uses: routing's provider keys need not be in billing's or
//! logging's environment, nor the admin token in routing's. A reference of another section stays
//! unresolved (see `secret.rs`).

use std::fmt;
use std::str::FromStr;

use crate::{Config, ConfigError, SecretRef};

/// A process that loads the configuration (`Config::load_for`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Process {
    Edge,
    Routing,
    Billing,
    Logging,
    /// `tollgatectl migrate`: only `[database]`.
    Migrate,
}

/// The groups of secret-bearing fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Secrets {
    /// `edge.admin_token`, `edge.key_pepper`, `edge.budget_alerts.signing_secret`.
    Edge,
    /// `billing.key_pepper`.
    Billing,
    /// `database.url`.
    Database,
    /// `redis.url`.
    Redis,
    /// `internal.secret`.
    Internal,
    /// `jwt.issuers[*].shared_secret`, `.static_keys[*].key`.
    Jwt,
    /// `providers[*]` keys and AWS credentials, `models[*].deployments[*].api_keys`.
    Providers,
}

const ALL: [Secrets; 7] = [
    Secrets::Edge,
    Secrets::Billing,
    Secrets::Database,
    Secrets::Redis,
    Secrets::Internal,
    Secrets::Jwt,
    Secrets::Providers,
];

impl Process {
    pub const ALL: [Process; 5] = [
        Process::Edge,
        Process::Routing,
        Process::Billing,
        Process::Logging,
        Process::Migrate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Process::Edge => "edge",
            Process::Routing => "routing",
            Process::Billing => "billing",
            Process::Logging => "logging",
            Process::Migrate => "migrate",
        }
    }

    /// The secrets this process reads: what its code uses, nothing more.
    fn secrets(self) -> &'static [Secrets] {
        match self {
            Process::Edge => &[
                Secrets::Edge,
                Secrets::Database,
                Secrets::Redis,
                Secrets::Internal,
                Secrets::Jwt,
            ],
            Process::Routing => &[Secrets::Internal, Secrets::Providers],
            Process::Billing => &[Secrets::Billing, Secrets::Database, Secrets::Internal],
            Process::Logging => &[Secrets::Database, Secrets::Internal],
            Process::Migrate => &[Secrets::Database],
        }
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Process {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Process::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("`{s}` is not one of edge, routing, billing, logging, migrate"))
    }
}

/// Resolve the references of `process`'s sections (every section for `None`: tools and tests).
pub(crate) fn resolve(cfg: &mut Config, process: Option<Process>) -> Result<(), ConfigError> {
    let groups = process.map_or(&ALL[..], Process::secrets);
    for group in groups {
        resolve_group(cfg, *group)?;
    }
    Ok(())
}

fn one(field: impl Into<String>, secret: &mut SecretRef) -> Result<(), ConfigError> {
    secret
        .resolve_now()
        .map_err(|message| ConfigError::Invalid {
            field: field.into(),
            message,
        })
}

fn optional(field: &str, secret: &mut Option<SecretRef>) -> Result<(), ConfigError> {
    secret.as_mut().map_or(Ok(()), |s| one(field, s))
}

fn resolve_group(cfg: &mut Config, group: Secrets) -> Result<(), ConfigError> {
    match group {
        Secrets::Edge => {
            optional("edge.admin_token", &mut cfg.edge.admin_token)?;
            one("edge.key_pepper", &mut cfg.edge.key_pepper)?;
            optional(
                "edge.budget_alerts.signing_secret",
                &mut cfg.edge.budget_alerts.signing_secret,
            )?;
        }
        Secrets::Billing => one("billing.key_pepper", &mut cfg.billing.key_pepper)?,
        Secrets::Database => one("database.url", &mut cfg.database.url)?,
        Secrets::Redis => one("redis.url", &mut cfg.redis.url)?,
        Secrets::Internal => optional("internal.secret", &mut cfg.internal.secret)?,
        Secrets::Jwt => {
            for (i, iss) in cfg.jwt.issuers.iter_mut().enumerate() {
                optional(
                    &format!("jwt.issuers[{i}].shared_secret"),
                    &mut iss.shared_secret,
                )?;
                for (j, k) in iss.static_keys.iter_mut().enumerate() {
                    one(format!("jwt.issuers[{i}].static_keys[{j}].key"), &mut k.key)?;
                }
            }
        }
        Secrets::Providers => {
            for (i, p) in cfg.providers.iter_mut().enumerate() {
                optional(&format!("providers[{i}].api_key"), &mut p.api_key)?;
                optional(
                    &format!("providers[{i}].aws_access_key_id"),
                    &mut p.aws_access_key_id,
                )?;
                optional(
                    &format!("providers[{i}].aws_secret_access_key"),
                    &mut p.aws_secret_access_key,
                )?;
                optional(
                    &format!("providers[{i}].aws_session_token"),
                    &mut p.aws_session_token,
                )?;
            }
            for (i, m) in cfg.models.iter_mut().enumerate() {
                for (j, d) in m.deployments.iter_mut().enumerate() {
                    for (k, key) in d.api_keys.iter_mut().enumerate() {
                        one(format!("models[{i}].deployments[{j}].api_keys[{k}]"), key)?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// References to variables no test sets: each process may load the file only if it does
    /// not need them.
    const FILE: &str = r#"
[edge]
admin_token = "env:TOLLGATE_TEST_UNSET_ADMIN"

[billing]
key_pepper = "env:TOLLGATE_TEST_UNSET_PEPPER"

[[providers]]
name = "p"
kind = "openai"
base_url = "https://api.example.com/v1"
api_key = "env:TOLLGATE_TEST_UNSET_PROVIDER_KEY"

[[models]]
name = "m"
deployments = [{ provider = "p", model = "x", api_keys = ["file:/nonexistent/tollgate-test-key"] }]
price = { input = "1", output = "1" }
"#;

    fn refusal(p: Process) -> String {
        match Config::from_toml_for(FILE, p) {
            Ok(_) => panic!("{p} loaded although a secret it reads is missing"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn each_process_resolves_only_its_own_sections_secrets() {
        // Logging and migrate read none of the missing secrets.
        for p in [Process::Logging, Process::Migrate] {
            let cfg = Config::from_toml_for(FILE, p).unwrap();
            let key = cfg.providers[0].api_key.as_ref().unwrap();
            assert!(!key.is_resolved(), "{p} resolved a provider key");
            assert_eq!(key.expose(), "", "an unresolved secret exposes nothing");
            assert!(cfg.database.url.is_resolved(), "{p} reads database.url");
        }
        // Each of the others stops at the first missing secret of its own, named.
        let e = refusal(Process::Edge);
        assert!(
            e.contains("edge.admin_token") && e.contains("TOLLGATE_TEST_UNSET_ADMIN"),
            "{e}"
        );
        let e = refusal(Process::Billing);
        assert!(
            e.contains("billing.key_pepper") && e.contains("TOLLGATE_TEST_UNSET_PEPPER"),
            "{e}"
        );
        let e = refusal(Process::Routing);
        assert!(e.contains("providers[0].api_key"), "{e}");
        // Without the provider-level key, routing still needs the deployment's own.
        let e = match Config::from_toml_for(
            &FILE.replace("api_key = \"env:TOLLGATE_TEST_UNSET_PROVIDER_KEY\"", ""),
            Process::Routing,
        ) {
            Ok(_) => panic!("routing loaded without its deployment key"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("models[0].deployments[0].api_keys[0]"), "{e}");
        // Tools resolve everything.
        assert!(Config::from_toml(FILE).is_err());
    }

    #[test]
    fn a_process_is_named_as_on_the_command_line() {
        for p in Process::ALL {
            assert_eq!(p.name().parse::<Process>(), Ok(p));
        }
        assert!("gateway".parse::<Process>().is_err());
    }
}

//! Cross-field rules, each error naming the field a person must fix.

use std::collections::HashSet;

use crate::{Config, ConfigError};

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

pub(crate) fn check(cfg: &Config) -> Result<(), ConfigError> {
    let mut providers = HashSet::new();
    for (i, p) in cfg.providers.iter().enumerate() {
        if p.name.is_empty() {
            return Err(invalid(format!("providers[{i}].name"), "must not be empty"));
        }
        if !providers.insert(p.name.as_str()) {
            return Err(invalid(
                format!("providers[{i}].name"),
                format!("provider `{}` is defined twice", p.name),
            ));
        }
        if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
            return Err(invalid(
                format!("providers[{i}].base_url"),
                "must be an http:// or https:// URL",
            ));
        }
    }

    let mut names = HashSet::new();
    for (i, m) in cfg.models.iter().enumerate() {
        if m.name.is_empty() {
            return Err(invalid(format!("models[{i}].name"), "must not be empty"));
        }
        for (field, n) in std::iter::once(("name".to_string(), &m.name)).chain(
            m.aliases
                .iter()
                .enumerate()
                .map(|(j, a)| (format!("aliases[{j}]"), a)),
        ) {
            if !names.insert(n.as_str()) {
                return Err(invalid(
                    format!("models[{i}].{field}"),
                    format!("model name `{n}` is used twice"),
                ));
            }
        }
        if m.deployments.is_empty() {
            return Err(invalid(
                format!("models[{i}].deployments"),
                "a model needs at least one deployment",
            ));
        }
        for (j, d) in m.deployments.iter().enumerate() {
            if !providers.contains(d.provider.as_str()) {
                return Err(invalid(
                    format!("models[{i}].deployments[{j}].provider"),
                    format!("no provider named `{}`", d.provider),
                ));
            }
        }
        if m.deployments.iter().all(|d| d.weight == 0) {
            return Err(invalid(
                format!("models[{i}].deployments"),
                "at least one deployment needs a weight above 0",
            ));
        }
        if let Err((field, msg)) = m.price.parse() {
            return Err(invalid(format!("models[{i}].price.{field}"), msg));
        }
    }

    if cfg.edge.key_pepper.is_empty() {
        return Err(invalid("edge.key_pepper", "must not be empty"));
    }
    if cfg.edge.limits.replicas == 0 {
        return Err(invalid("edge.limits.replicas", "must be at least 1"));
    }
    if !(0.0..=1.0).contains(&cfg.telemetry.sample_ratio) {
        return Err(invalid("telemetry.sample_ratio", "must be between 0 and 1"));
    }
    Ok(())
}

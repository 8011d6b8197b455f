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
        if p.kind.is_none() {
            return Err(invalid(
                format!("providers[{i}].kind"),
                "set `kind` (openai, anthropic, gemini, bedrock) or a `preset`",
            ));
        }
        if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
            return Err(invalid(
                format!("providers[{i}].base_url"),
                "must be an http:// or https:// URL (Bedrock: or set `region`)",
            ));
        }
        if p.kind() == crate::ProviderKind::Bedrock
            && (p.region.is_none()
                || p.aws_access_key_id.is_none()
                || p.aws_secret_access_key.is_none())
        {
            return Err(invalid(
                format!("providers[{i}].region"),
                "a bedrock provider needs `region`, `aws_access_key_id` and `aws_secret_access_key`",
            ));
        }
        if p.responses == Some(true) && p.kind() != crate::ProviderKind::Openai {
            return Err(invalid(
                format!("providers[{i}].responses"),
                "only an `openai` provider can serve the Responses API natively",
            ));
        }
        for (k, v) in &p.query {
            let safe = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
            };
            if !safe(k) || !safe(v) {
                return Err(invalid(
                    format!("providers[{i}].query.{k}"),
                    "query names and values may only use letters, digits and -._~",
                ));
            }
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
        for (j, d) in m.deployments.iter().enumerate() {
            if let Some(Err((field, msg))) = d.price.as_ref().map(|p| p.parse()) {
                return Err(invalid(
                    format!("models[{i}].deployments[{j}].price.{field}"),
                    msg,
                ));
            }
            if d.api_keys.iter().any(|k| k.is_empty()) {
                return Err(invalid(
                    format!("models[{i}].deployments[{j}].api_keys"),
                    "a key must not be empty",
                ));
            }
        }
    }
    for (i, m) in cfg.models.iter().enumerate() {
        for (field, cap) in [
            ("max_output_tokens", m.max_output_tokens),
            ("max_n", m.max_n),
        ] {
            if cap == Some(0) {
                return Err(invalid(
                    format!("models[{i}].{field}"),
                    "must be at least 1",
                ));
            }
        }
    }
    check_routing(cfg)?;
    check_durations(cfg)?;

    if cfg.edge.key_pepper.is_empty() {
        return Err(invalid("edge.key_pepper", "must not be empty"));
    }
    if cfg.edge.limits.replicas == 0 {
        return Err(invalid("edge.limits.replicas", "must be at least 1"));
    }
    check_hardening(&cfg.edge)?;
    if !(0.0..=1.0).contains(&cfg.telemetry.sample_ratio) {
        return Err(invalid("telemetry.sample_ratio", "must be between 0 and 1"));
    }
    crate::jwt::check(&cfg.jwt)?;
    Ok(())
}

/// The edge's own limits are all positive, and the outbound allow-list is CIDRs.
fn check_hardening(edge: &crate::EdgeConfig) -> Result<(), ConfigError> {
    let h = &edge.hardening;
    let positive: [(&str, u64); 8] = [
        ("edge.hardening.max_headers", h.max_headers as u64),
        ("edge.hardening.max_header_bytes", h.max_header_bytes as u64),
        ("edge.hardening.max_connections", h.max_connections as u64),
        ("edge.hardening.max_in_flight", h.max_in_flight as u64),
        ("edge.hardening.max_json_depth", h.max_json_depth as u64),
        ("edge.hardening.max_output_tokens", h.max_output_tokens),
        ("edge.hardening.max_n", h.max_n),
        (
            "edge.hardening.auth_failures_per_minute",
            u64::from(h.auth_failures_per_minute),
        ),
    ];
    if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
        return Err(invalid(*field, "must be at least 1"));
    }
    // hyper refuses a read buffer under 8 KiB: say so here rather than panic at startup.
    if h.max_header_bytes < 8192 {
        return Err(invalid(
            "edge.hardening.max_header_bytes",
            "must be at least 8192",
        ));
    }
    if h.header_read_timeout.is_zero() {
        return Err(invalid(
            "edge.hardening.header_read_timeout",
            "must be positive",
        ));
    }
    let lists = [
        ("edge.outbound_allow", &edge.outbound_allow),
        (
            "edge.hardening.auth_throttle_exempt",
            &h.auth_throttle_exempt,
        ),
        ("edge.hardening.trusted_proxies", &h.trusted_proxies),
    ];
    for (i, (list, net)) in lists
        .iter()
        .flat_map(|(list, nets)| nets.iter().enumerate().map(move |(i, n)| (i, (list, n))))
    {
        if !is_cidr(net) {
            return Err(invalid(
                format!("{list}[{i}]"),
                format!("`{net}` is not a CIDR such as 127.0.0.1/32 or fd00::/8"),
            ));
        }
    }
    Ok(())
}

/// `addr/prefix`, the prefix within the address family's width.
fn is_cidr(s: &str) -> bool {
    s.trim().parse::<ipnet::IpNet>().is_ok()
}

/// Timeouts and intervals a zero would break: a zero deadline fails every call, a zero interval
/// spins. Said at load, naming the field, rather than found in production.
fn check_durations(cfg: &Config) -> Result<(), ConfigError> {
    let (e, r) = (&cfg.edge, &cfg.routing);
    let positive = [
        ("edge.request_timeout", e.request_timeout),
        ("edge.snapshot_refresh", e.snapshot_refresh),
        ("edge.limits.slot_lease", e.limits.slot_lease),
        ("edge.limits.admit_timeout", e.limits.admit_timeout),
        ("edge.usage.flush_interval", e.usage.flush_interval),
        ("edge.usage.send_timeout", e.usage.send_timeout),
        ("edge.logs.flush_interval", e.logs.flush_interval),
        ("edge.budget_alerts.timeout", e.budget_alerts.timeout),
        (
            "edge.budget_alerts.poll_interval",
            e.budget_alerts.poll_interval,
        ),
        ("routing.connect_timeout", r.connect_timeout),
        ("routing.request_timeout", r.request_timeout),
        ("routing.first_token_timeout", r.first_token_timeout),
        ("routing.stream_idle_timeout", r.stream_idle_timeout),
        ("routing.backstop_window", r.backstop_window),
        ("routing.usage.flush_interval", r.usage.flush_interval),
        ("routing.usage.send_timeout", r.usage.send_timeout),
        (
            "logging.responses_retention",
            cfg.logging.responses_retention,
        ),
        ("database.acquire_timeout", cfg.database.acquire_timeout),
        ("redis.timeout", cfg.redis.timeout),
    ];
    if let Some((field, _)) = positive.iter().find(|(_, d)| d.is_zero()) {
        return Err(invalid(*field, "must be above 0"));
    }
    // An edge holds an event unspooled for at most one flush interval plus one RecordUsage
    // call: routing must remember a finished call at least that long, or an edge killed then
    // loses it.
    if r.backstop_window <= e.usage.send_timeout + e.usage.flush_interval {
        return Err(invalid(
            "routing.backstop_window",
            "must be longer than edge.usage.send_timeout + edge.usage.flush_interval",
        ));
    }
    // One spool file per process: an edge and routing on one host must not share one.
    if e.usage.spool_dir == r.usage.spool_dir {
        return Err(invalid(
            "routing.usage.spool_dir",
            "must differ from edge.usage.spool_dir",
        ));
    }
    Ok(())
}

/// Fallback chains name real models, and the retry/circuit numbers make sense.
fn check_routing(cfg: &Config) -> Result<(), ConfigError> {
    for (i, m) in cfg.models.iter().enumerate() {
        for (j, f) in m.fallbacks.iter().enumerate() {
            let field = format!("models[{i}].fallbacks[{j}].model");
            match cfg.model(&f.model) {
                None => return Err(invalid(field, format!("no model named `{}`", f.model))),
                Some(t) if t.name == m.name => {
                    return Err(invalid(field, "a model cannot fall back to itself"));
                }
                Some(_) => {}
            }
        }
    }
    let r = &cfg.routing;
    if !(0.0..=1.0).contains(&r.retry_budget_ratio) {
        return Err(invalid(
            "routing.retry_budget_ratio",
            "must be between 0 and 1",
        ));
    }
    if r.max_attempts == 0 {
        return Err(invalid("routing.max_attempts", "must be at least 1"));
    }
    if r.circuit_failures == 0 {
        return Err(invalid("routing.circuit_failures", "must be at least 1"));
    }
    if r.reload_interval.is_zero() {
        return Err(invalid("routing.reload_interval", "must be above 0"));
    }
    Ok(())
}

#[cfg(test)]
mod routing_tests {
    use crate::{Config, FallbackOn, RoutingStrategy};

    const BASE: &str = r#"
[[providers]]
name = "p"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
name = "small"
strategy = "latency"
context_window = 8000
fallbacks = [{ model = "large-alias" }, { model = "other", on = ["rate_limit"] }]
price = { input = "1", output = "2" }
[[models.deployments]]
provider = "p"
model = "s1"
priority = 2
api_keys = ["k1", "k2"]
capabilities = ["tools", "json_schema"]
data_collection = "deny"
first_token_timeout = "2s"
price = { input = "0.5", output = "1" }

[[models]]
name = "large"
aliases = ["large-alias"]
deployments = [{ provider = "p", model = "l1" }]
price = { input = "1", output = "2" }

[[models]]
name = "other"
deployments = [{ provider = "p", model = "o1" }]
price = { input = "1", output = "2" }
"#;

    #[test]
    fn routing_fields_load_with_defaults_for_the_rest() {
        let cfg = Config::from_toml(BASE).unwrap();
        let m = &cfg.models[0];
        assert_eq!(m.strategy, Some(RoutingStrategy::Latency));
        assert_eq!(m.fallbacks[0].on.len(), 5);
        assert_eq!(m.fallbacks[1].on, vec![FallbackOn::RateLimit]);
        let d = &m.deployments[0];
        assert_eq!((d.priority, d.api_keys.len()), (2, 2));
        assert_eq!(
            d.first_token_timeout,
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(cfg.models[1].deployments[0].weight, 1);
        assert_eq!(cfg.routing.circuit_failures, 5);
        assert_eq!(cfg.routing.default_strategy, RoutingStrategy::Weighted);
    }

    #[test]
    fn bad_routing_fields_are_named() {
        let err = |s: &str| Config::from_toml(s).unwrap_err().to_string();
        let e = err(&BASE.replace("large-alias\" }", "nope\" }"));
        assert!(e.contains("models[0].fallbacks[0].model"), "{e}");
        let e = err(&BASE.replace("input = \"0.5\"", "input = \"x\""));
        assert!(e.contains("models[0].deployments[0].price.input"), "{e}");
        let e = err(&format!("{BASE}\n[routing]\nretry_budget_ratio = 2.0\n"));
        assert!(e.contains("routing.retry_budget_ratio"), "{e}");
        let e = err(&BASE.replace("\"tools\"", "\"telepathy\""));
        assert!(e.contains("telepathy"), "{e}");
    }
}

//! Outside local mode, a process refuses stand-in secrets.
//!
//! Local mode is how the quickstart, the tests and the built-in defaults run: every listener of
//! the process on a loopback address, so nothing off this machine can reach it. There, a
//! missing `[internal] secret` and the built-in development pepper are fine. A process
//! listening anywhere else (a container on 0.0.0.0, a pod) must have real secrets: a key
//! pepper other than the development value, an internal secret, and no `change-me` or
//! `PLACEHOLDER` value copied from an example file. Otherwise it stops at start with an error
//! naming the field and the listener; the secret itself is never echoed.

use std::net::SocketAddr;

use crate::{Config, ConfigError, Process, SecretRef};

/// The key pepper of the built-in defaults: for local mode only.
pub const LOCAL_DEV_PEPPER: &str = "tollgate-local-dev-pepper";

/// Marks of the example files' placeholder values (env.example, secret.example.yaml).
const PLACEHOLDER_MARKS: [&str; 2] = ["change-me", "placeholder"];

fn is_standin(secret: &SecretRef) -> bool {
    let v = secret.expose().to_ascii_lowercase();
    v == LOCAL_DEV_PEPPER || PLACEHOLDER_MARKS.iter().any(|m| v.contains(m))
}

/// The listeners `process` binds, by field.
fn listeners(cfg: &Config, process: Process) -> Vec<(&'static str, SocketAddr)> {
    match process {
        Process::Edge => std::iter::once(("edge.listen", cfg.edge.listen))
            .chain(cfg.edge.admin_listen.map(|a| ("edge.admin_listen", a)))
            .collect(),
        Process::Routing => vec![("routing.listen", cfg.routing.listen)],
        Process::Billing => vec![("billing.listen", cfg.billing.listen)],
        Process::Logging => vec![("logging.listen", cfg.logging.listen)],
        Process::Migrate => Vec::new(),
    }
}

pub(crate) fn check(cfg: &Config, process: Process) -> Result<(), ConfigError> {
    let Some((listener, addr)) = listeners(cfg, process)
        .into_iter()
        .find(|(_, a)| !a.ip().is_loopback())
    else {
        return Ok(());
    };
    let exposed = format!("{listener} is {addr}, not loopback");
    let refuse = |field: &str, message: String| ConfigError::Invalid {
        field: field.into(),
        message,
    };
    let pepper = match process {
        Process::Edge => Some(("edge.key_pepper", &cfg.edge.key_pepper)),
        Process::Billing => Some(("billing.key_pepper", &cfg.billing.key_pepper)),
        _ => None,
    };
    let mut present: Vec<(&str, &SecretRef)> = pepper.into_iter().collect();
    if process == Process::Edge
        && let Some(t) = &cfg.edge.admin_token
    {
        present.push(("edge.admin_token", t));
    }
    match &cfg.internal.secret {
        Some(s) => present.push(("internal.secret", s)),
        None => {
            return Err(refuse(
                "internal.secret",
                format!(
                    "must be set ({exposed}): without it anything that reaches this port can call \
                     the service (generate one with `openssl rand -hex 32`, give it as env:NAME)"
                ),
            ));
        }
    }
    for (field, secret) in present {
        if is_standin(secret) {
            return Err(refuse(
                field,
                format!(
                    "is the built-in development value or an example placeholder, allowed only \
                     while every listener is on loopback ({exposed}): set a secret of your own \
                     (e.g. `openssl rand -hex 32`)"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Config, Process};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn load(toml: &str, p: Process) -> Result<Config, String> {
        Config::from_toml_for(toml, p).map_err(|e| e.to_string())
    }

    #[test]
    fn loopback_listeners_may_use_the_development_secrets() {
        for p in Process::ALL {
            assert!(load("", p).is_ok(), "{p}: the defaults are local mode");
        }
    }

    #[test]
    fn an_exposed_edge_refuses_the_development_pepper_by_name() {
        let toml =
            format!("[edge]\nlisten = \"0.0.0.0:8080\"\n[internal]\nsecret = \"{SECRET}\"\n");
        let e = load(&toml, Process::Edge).unwrap_err();
        assert!(
            e.contains("edge.key_pepper") && e.contains("0.0.0.0:8080"),
            "{e}"
        );
        assert!(
            !e.contains(super::LOCAL_DEV_PEPPER),
            "the value is not echoed: {e}"
        );
        // The same file is fine for routing, which listens on loopback and has no pepper.
        assert!(load(&toml, Process::Routing).is_ok());
    }

    #[test]
    fn an_exposed_service_needs_an_internal_secret() {
        let e = load("[logging]\nlisten = \"0.0.0.0:50053\"\n", Process::Logging).unwrap_err();
        assert!(
            e.contains("internal.secret") && e.contains("logging.listen"),
            "{e}"
        );
        let ok =
            format!("[logging]\nlisten = \"0.0.0.0:50053\"\n[internal]\nsecret = \"{SECRET}\"\n");
        assert!(load(&ok, Process::Logging).is_ok());
    }

    #[test]
    fn example_placeholders_are_refused_outside_local_mode() {
        let toml = format!(
            "[billing]\nlisten = \"[::]:50052\"\nkey_pepper = \"Change-Me-pepper\"\n\
             [internal]\nsecret = \"{SECRET}\"\n"
        );
        let e = load(&toml, Process::Billing).unwrap_err();
        assert!(e.contains("billing.key_pepper"), "{e}");
        assert!(!e.contains("Change-Me-pepper"), "{e}");
        let toml = format!(
            "[edge]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"0.0.0.0:8081\"\n\
             key_pepper = \"{SECRET}\"\nadmin_token = \"PLACEHOLDER-admin-token-CHANGE-ME\"\n\
             [internal]\nsecret = \"{SECRET}\"\n"
        );
        let e = load(&toml, Process::Edge).unwrap_err();
        assert!(
            e.contains("edge.admin_token") && e.contains("edge.admin_listen"),
            "{e}"
        );
        let real = toml.replace("PLACEHOLDER-admin-token-CHANGE-ME", "tga-9f8e7d6c5b4a");
        assert!(load(&real, Process::Edge).is_ok());
    }
}

//! `[internal]`: how Tollgate's own services prove to each other that a gRPC call comes from
//! Tollgate. One shared HMAC secret; every service signs the short-lived credentials it sends
//! and checks the ones it receives (the chassis in `tollgate-server` does both). This module
//! only holds and checks the secret's shape; it knows nothing of tokens.

use serde::{Deserialize, Serialize};

use crate::{ConfigError, SecretRef};

/// The least length of `internal.secret`, in bytes: HMAC-SHA256 keys shorter than the hash
/// output weaken it, and a short secret is a guessable one.
pub const MIN_INTERNAL_SECRET_BYTES: usize = 32;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InternalConfig {
    /// The secret every service signs and checks service credentials with
    /// (`env:TOLLGATE_INTERNAL_SECRET`). Unset: the gRPC services accept any caller, and say so
    /// loudly at start; only allowed in local mode (every listener on loopback, `standin.rs`).
    pub secret: Option<SecretRef>,
}

pub(crate) fn check(cfg: &InternalConfig) -> Result<(), ConfigError> {
    match &cfg.secret {
        Some(s) if s.is_resolved() && s.expose().len() < MIN_INTERNAL_SECRET_BYTES => {
            Err(ConfigError::Invalid {
                field: "internal.secret".into(),
                message: format!(
                    "must be at least {MIN_INTERNAL_SECRET_BYTES} bytes (try `openssl rand -hex 32`)"
                ),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn unset_is_allowed_and_a_short_secret_is_refused_by_name() {
        assert!(Config::from_toml("").unwrap().internal.secret.is_none());
        let err = Config::from_toml("[internal]\nsecret = \"short\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("internal.secret"), "{err}");
        assert!(!err.contains("short"), "the secret is not echoed: {err}");
        let ok = Config::from_toml(&format!("[internal]\nsecret = \"{}\"", "k".repeat(32)));
        assert_eq!(ok.unwrap().internal.secret.unwrap().expose().len(), 32);
    }
}

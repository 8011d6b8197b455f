//! `tollgatectl internal-token`: mint a service credential for calling Tollgate's gRPC services
//! directly, typically a `reader` token for finance tooling that queries billing's spend.
//!
//! The token is signed here with `[internal] secret`, exactly as the services sign their own
//! (`tollgate_server::auth`); nothing is sent anywhere. The secret is never printed; the token
//! is printed once, on stdout, so it can be captured (`TOKEN=$(tollgatectl internal-token …)`).

use std::path::PathBuf;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tollgate_server::{InternalKey, Role};

use crate::commands::{Output, json};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct InternalTokenArgs {
    /// `reader`: only billing's read-only queries (GetSpend, ListUsage, GetGeneration);
    /// `service`: every RPC of every service, as a Tollgate service itself.
    #[arg(long, default_value = "reader")]
    pub role: Role,
    /// How long the token is valid: `30m`, `12h`, `30d`, `2w`.
    #[arg(long, default_value = "1h")]
    pub ttl: String,
    /// The caller the token names (`sub`), as the services log it.
    #[arg(long, default_value = "tollgatectl")]
    pub subject: String,
    /// The `[internal] secret` itself. Never printed.
    #[arg(long, env = "TOLLGATE_INTERNAL_SECRET", hide_env_values = true, value_parser = crate::args::secret)]
    pub secret: Option<SecretString>,
    /// Or the config file to read `[internal] secret` from.
    #[arg(long, env = "TOLLGATE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Serialize)]
struct Minted<'a> {
    token: &'a str,
    role: Role,
    subject: &'a str,
    expires_at: String,
}

pub fn mint(args: &InternalTokenArgs, as_json: bool) -> Result<Output, CliError> {
    let ttl = crate::window::parse_span("--ttl", &args.ttl)?;
    let ttl_std =
        ttl.to_std()
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| CliError::BadArgument {
                flag: "--ttl",
                value: args.ttl.clone(),
                reason: "must be positive".into(),
            })?;
    let refused = |e: tollgate_server::auth::AuthError| CliError::InternalToken(e.to_string());
    let key = match (&args.secret, &args.config) {
        (Some(secret), _) => {
            InternalKey::new(secret.expose_secret().as_bytes()).map_err(refused)?
        }
        (None, Some(path)) => {
            let cfg = tollgate_config::Config::load(Some(path))?;
            InternalKey::from_config(&cfg.internal)
                .map_err(refused)?
                .ok_or(CliError::NoInternalSecret)?
        }
        (None, None) => return Err(CliError::NoInternalSecret),
    };
    let token = key
        .mint(&args.subject, args.role, ttl_std)
        .map_err(refused)?;
    let expires_at = (chrono::Utc::now() + ttl).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if as_json {
        return Ok(Output::out(json(&Minted {
            token: &token,
            role: args.role,
            subject: &args.subject,
            expires_at,
        })));
    }
    Ok(Output {
        stdout: format!("{token}\n"),
        stderr: format!(
            "{} token for `{}`, valid until {expires_at}; send it as `authorization: Bearer <token>`\n",
            args.role.as_str(),
            args.subject
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(secret: &str, role: Role, ttl: &str) -> InternalTokenArgs {
        InternalTokenArgs {
            role,
            ttl: ttl.into(),
            subject: "finance".into(),
            secret: Some(SecretString::from(secret.to_owned())),
            config: None,
        }
    }

    #[test]
    fn a_minted_reader_token_verifies_with_the_secret_and_the_secret_is_not_printed() {
        let secret = "s".repeat(32);
        let out = mint(&args(&secret, Role::Reader, "30d"), false).unwrap();
        let claims = InternalKey::new(secret.as_bytes())
            .unwrap()
            .verify(out.stdout.trim())
            .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role),
            ("finance", Role::Reader)
        );
        assert!(claims.exp - claims.iat == 30 * 86_400);
        assert!(!out.stdout.contains(&secret) && !out.stderr.contains(&secret));
    }

    #[test]
    fn a_short_secret_or_a_bad_ttl_is_refused() {
        assert!(matches!(
            mint(&args("short", Role::Service, "1h"), false),
            Err(CliError::InternalToken(_))
        ));
        assert!(matches!(
            mint(&args(&"s".repeat(32), Role::Service, "0m"), false),
            Err(CliError::BadArgument { .. })
        ));
    }
}

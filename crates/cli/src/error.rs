//! Everything that can go wrong in a `tollgatectl` command, named by cause.
//!
//! No variant carries the admin token: the client never puts it anywhere but the
//! `Authorization` header, and server messages are scrubbed of it before they land here.

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("invalid --url `{url}`: {reason}")]
    BadUrl { url: String, reason: String },

    #[error("no admin token: pass --admin-token or set TOLLGATE_ADMIN_TOKEN")]
    NoAdminToken,

    #[error("cannot reach the edge at {url}: {reason}")]
    Unreachable { url: String, reason: String },

    /// The server answered with an error body (or at least an error status).
    #[error("{method} {path} failed with HTTP {status}: {message}{}", code.as_deref().map(|c| format!(" (code: {c})")).unwrap_or_default())]
    Api {
        method: &'static str,
        path: String,
        status: u16,
        code: Option<String>,
        message: String,
    },

    #[error("unexpected answer to {method} {path}: {reason}")]
    BadResponse {
        method: &'static str,
        path: String,
        reason: String,
    },

    #[error("invalid {flag} `{value}`: {reason}")]
    BadArgument {
        flag: &'static str,
        value: String,
        reason: String,
    },

    #[error(transparent)]
    Config(#[from] tollgate_config::ConfigError),

    #[error("{target} is not healthy: {reason}")]
    Unhealthy { target: String, reason: String },

    #[error(
        "no internal secret: set TOLLGATE_INTERNAL_SECRET, or pass --config with `[internal] secret`"
    )]
    NoInternalSecret,

    /// Minting a service credential failed (the message never holds the secret).
    #[error("internal token: {0}")]
    InternalToken(String),

    /// Connecting to Postgres or applying migrations (the store's message names which).
    #[error("database: {0}")]
    Database(String),
}

//! The command line. Environment defaults come through clap's `env` (never `std::env::var`), and
//! secret-bearing flags hide their environment values from `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::api::GroupBy;

pub(crate) fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s.to_owned()))
}

/// Administer a Tollgate deployment: tenants, teams, keys, spend, request logs, config, migrations.
#[derive(Debug, Parser)]
#[command(name = "tollgatectl", version, about)]
pub struct Cli {
    /// The edge's base URL.
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,

    /// Bearer token for the admin API (`edge.admin_token`). Never printed.
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_ADMIN_TOKEN",
        hide_env_values = true,
        value_parser = secret
    )]
    pub admin_token: Option<SecretString>,

    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Admin(AdminCmd),
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Apply the database migrations, then exit.
    Migrate(MigrateArgs),
    /// Probe a service (for container healthchecks): exit 0 when it answers healthy.
    Health(HealthArgs),
    /// Mint a token for calling Tollgate's gRPC services directly (`--role reader` for
    /// finance tooling querying billing). Needs `[internal] secret`.
    InternalToken(crate::internal_token::InternalTokenArgs),
}

/// The commands that talk to the edge's admin API (they need `--admin-token`).
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Tenants: the unit of isolation and billing.
    #[command(subcommand)]
    Tenants(TenantsCmd),
    /// Teams inside a tenant.
    #[command(subcommand)]
    Teams(TeamsCmd),
    /// API keys (`tg-...`).
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Users of a tenant (keys may be issued to a user; JWT callers match one).
    #[command(subcommand)]
    Users(crate::accounts::UsersCmd),
    /// Rate limits per key, user, team or tenant, optionally per model.
    #[command(subcommand)]
    Limits(crate::accounts::LimitsCmd),
    /// Spending limits per tenant, team or key over calendar periods.
    #[command(subcommand)]
    Budgets(BudgetsCmd),
    /// The global price catalog: per model or deployment, now or scheduled.
    #[command(subcommand)]
    Prices(crate::prices::PricesCmd),
    /// What a tenant spent, grouped and filtered.
    Spend(SpendArgs),
    /// A tenant's recent request logs.
    Logs(LogsArgs),
}

#[derive(Debug, Subcommand)]
pub enum TenantsCmd {
    /// Create a tenant.
    Create {
        name: String,
        /// Store prompt and completion content in request logs (metadata is always kept).
        #[arg(long)]
        log_content: bool,
    },
    /// List tenants.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TeamsCmd {
    /// Create a team in a tenant.
    Create {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BudgetsCmd {
    /// Set a budget: requests that would exceed it get 429 `budget_exceeded` until it resets.
    Create {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// What it covers: the whole tenant, one team or one key.
        #[arg(long, value_parser = ["tenant", "team", "key"])]
        scope: String,
        /// The team id or key id (not needed for a tenant budget).
        #[arg(long)]
        scope_id: Option<String>,
        /// Calendar period: day, week (from Monday) or month.
        #[arg(long, value_parser = ["day", "week", "month"])]
        period: String,
        /// IANA time zone the period follows, e.g. Europe/Berlin (default UTC).
        #[arg(long)]
        timezone: Option<String>,
        /// The limit in USD, e.g. 25.00.
        #[arg(long)]
        limit_usd: String,
        /// Soft-limit webhook thresholds as fractions of the limit, e.g. 0.5,0.8,1
        /// (needs `edge.budget_alerts.webhook_url`).
        #[arg(long, value_delimiter = ',')]
        alert_thresholds: Vec<f64>,
    },
    /// List a tenant's budgets.
    List {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
    },
    /// Remove a budget.
    Delete {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        budget_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Create a key; its secret is printed once.
    Create {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Team id the key belongs to (its spend counts toward the team).
        #[arg(long)]
        team: Option<String>,
        /// User id the key is issued to (limited and billed as the user).
        #[arg(long)]
        user: Option<String>,
        /// A label for people; defaults to "default".
        #[arg(long, default_value = "default")]
        name: String,
        /// Requests per minute for this key (server default when unset).
        #[arg(long)]
        rpm: Option<u32>,
        /// Concurrent requests for this key (server default when unset).
        #[arg(long)]
        concurrency: Option<u32>,
        /// The key stops working this long from now (`90m`, `12h`, `30d`, `2w`); never when unset.
        #[arg(long)]
        expires_in: Option<String>,
        /// A model (public name or alias) the key may use; repeat for several. All when unset.
        #[arg(long = "allow-model")]
        allow_model: Vec<String>,
        /// A `key=value` label shown in list/get (never used for auth); repeat, at most 16.
        #[arg(long = "meta")]
        meta: Vec<String>,
    },
    /// Show one key (never its secret).
    Get {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// The key's id.
        key_id: String,
    },
    /// Replace a key: a new key with the same team, limits, models and metadata (its secret is
    /// printed once); the old key keeps working for the overlap, then expires.
    Rotate {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// The key's id.
        key_id: String,
        /// How long the old key keeps working (`0` = stop now); server default 1h.
        #[arg(long)]
        overlap: Option<String>,
    },
    /// List a tenant's keys (never their secrets).
    List {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key: refused everywhere within a second.
    Revoke {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// The key's id (the part after `tg-`, as `keys list` shows it).
        key_id: String,
    },
}

#[derive(Debug, Args)]
pub struct SpendArgs {
    /// Tenant id.
    #[arg(long)]
    pub tenant: String,
    /// Start of the window, RFC 3339 (`2026-11-01T00:00:00Z`).
    #[arg(long, conflicts_with = "since")]
    pub from: Option<String>,
    /// Start of the window relative to now: `30m`, `12h`, `7d`, `2w`.
    #[arg(long)]
    pub since: Option<String>,
    /// End of the window, RFC 3339 (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// One row per model, key, user, team, day or tenant (server default: model).
    #[arg(long, value_enum)]
    pub group_by: Option<GroupBy>,
    /// Only this team's spend (team id).
    #[arg(long)]
    pub team: Option<String>,
    /// Only this key's spend (key id).
    #[arg(long)]
    pub key: Option<String>,
    /// Only this user's spend (user id).
    #[arg(long)]
    pub user: Option<String>,
    /// Only this model's spend (public model name).
    #[arg(long)]
    pub model: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Tenant id.
    #[arg(long)]
    pub tenant: String,
    /// Most recent N records (server default 50, at most 1000).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only this key's requests (key id).
    #[arg(long)]
    pub key: Option<String>,
    /// One request, by the id returned in `x-request-id`.
    #[arg(long)]
    pub request_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Load and validate a config file (TOML or YAML) exactly as the services would, including
    /// `TOLLGATE_…` overrides and secret references.
    Check {
        file: PathBuf,
        /// Load it as this process does (edge, routing, billing, logging, migrate): only that
        /// process's secrets must be set, and stand-in secrets are refused off loopback. Without
        /// it every secret reference is resolved.
        #[arg(long)]
        service: Option<tollgate_config::Process>,
    },
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Postgres URL; when unset, `[database]` of the config file (or the built-in default).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = secret)]
    pub database_url: Option<SecretString>,
    /// Config file to read `[database]` from when no URL is given.
    #[arg(long, env = "TOLLGATE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// `http://host:port/path` (healthy on a 2xx) or `grpc://host:port` (grpc.health.v1 SERVING).
    pub target: String,
    /// gRPC service name to ask about; empty means the whole server.
    #[arg(long, default_value = "")]
    pub service: String,
    /// Seconds before giving up.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}
